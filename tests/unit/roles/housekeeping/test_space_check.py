# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The housekeeping role's /mars fill check reads the emergency level as georep.mars.info does.

The check imports the modules' reader (plugins/module_utils/tree.py and state.py, installed beside
it by the role). For every recorded tree of the real module and for patched emergency levels, its
level is info's ``cluster.emergency_level`` of the same rebuilt /mars.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

import pytest

from ansible_collections.georep.mars.plugins.modules import info
from ansible_collections.georep.mars.tests.unit.plugins.modules.mars_harness import ExitJson, patch_module_args
from ansible_collections.georep.mars.tests.unit.roles.role_scripts import READER_DIR, TREES_DIR, recorded_trees


def cases():
    params = [pytest.param({'host': name.rsplit('.', 1)[1], 'tree': name}, id=name) for name in recorded_trees()]
    for level in ('1', '4', 'garbage', '.deleted'):
        params.append(pytest.param({'host': 'vm2', 'tree': 'A07-replayed.vm2',
                                    'tree_patch': [{'link': 'actual-vm2/emergency', 'value': level}]},
                                   id='A07-replayed.vm2-emergency-' + level))
    return params


def test_the_recorded_trees_are_here():
    assert len(recorded_trees()) >= 34, 'the recorded trees are missing in %s' % TREES_DIR


def test_the_check_imports_the_modules_reader(space_check):
    for cls, name in ((space_check.ClusterState, 'state.py'), (space_check.MarsTree, 'tree.py')):
        assert os.path.samefile(sys.modules[cls.__module__].__file__, os.path.join(READER_DIR, name))


@pytest.mark.parametrize('case', cases())
def test_emergency_level_is_infos(case, lab_factory, space_check):
    lab = lab_factory(case)
    with patch_module_args({}):
        with pytest.raises(ExitJson) as caught:
            info.main()
    expected = caught.value.args[0]['cluster']['emergency_level']
    assert space_check.kernel_emergency(os.path.join(lab.root, 'mars'), lab.host) == expected


def test_an_emergency_is_critical(lab_factory, space_check, monkeypatch):
    lab = lab_factory({'host': 'vm2', 'tree': 'A07-replayed.vm2',
                       'tree_patch': [{'link': 'actual-vm2/emergency', 'value': '3'}]})
    monkeypatch.setattr(space_check.os.path, 'ismount', lambda path: True)
    level, message, fields = space_check.check(os.path.join(lab.root, 'mars'), 'vm2', 100.0, 100.0)
    assert level == 'critical' and fields['emergency'] == 3
    assert 'emergency level 3' in message and 'invalidate the secondaries' in message
