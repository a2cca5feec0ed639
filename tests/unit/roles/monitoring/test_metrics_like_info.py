# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The exporter gives georep.mars.info's answers, on every tree info is tested on.

For each recorded tree of the real module (tests/unit/plugins/fixtures/trees, vm1 and vm2) and
each patched tree of the info module's cases (split brain, emergency hole, kernel messages, no
designated primary, ...), the info module runs on the rebuilt /mars, then the exporter reads the
same directory; every answer both give must be equal: role, designated and actual primary,
membership, size, sync/fetch/replay rest, consistency, split brain, emergency, need of a full
sync, kernel errors, device, disk attached, cluster, emergency level, space and peer liveness.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

import pytest
import yaml

from ansible_collections.georep.mars.plugins.modules import info
from ansible_collections.georep.mars.tests.unit.plugins.modules.mars_harness import ExitJson, patch_module_args
from ansible_collections.georep.mars.tests.unit.roles.role_scripts import READER_DIR, REPO, TREES_DIR, recorded_trees

INFO_CASES = os.path.join(REPO, 'tests', 'unit', 'plugins', 'modules', 'test_info.yaml')

# States where the exporter had rules of its own before it used the modules' reader; they now
# follow info (the kernel's split-brain message is an error message, not view-is-split-brain;
# actual-HOST/is-emergency alone is not view-is-emergency).
EXTRA_CASES = [
    {'id': 'kernel_split_brain_message_only', 'host': 'vm2', 'tree': 'A07-replayed.vm2', 'tree_patch': [
        {'link': 'resource-r1/actual-vm2/msg-err-splitbrain-detected',
         'value': '1795628860.0 1795628860.0 split brain detected'}]},
    {'id': 'is_emergency_without_has_emergency', 'host': 'vm2', 'tree': 'A07-replayed.vm2', 'tree_patch': [
        {'link': 'resource-r1/actual-vm2/is-emergency', 'value': '1'}]},
    {'id': 'primary_with_kernel_gap_message', 'host': 'vm1', 'tree': 'A11-after.vm1', 'tree_patch': [
        {'link': 'resource-r1/actual-vm1/msg-wrn-log-consecutive',
         'value': '1795629000.1 1795629000.1 transaction logs are not consecutive'},
        {'link': 'actual-vm1/emergency', 'value': '2'}]},
]


def cases():
    params = []
    for name in recorded_trees():
        params.append(pytest.param({'host': name.rsplit('.', 1)[1], 'tree': name}, id='tree-' + name))
    with open(INFO_CASES) as handle:
        for case in yaml.safe_load(handle):
            # the same trees as the info cases; cases that filter or fail report no facts to compare
            if case.get('input') or case['expect'].get('failed'):
                continue
            params.append(pytest.param(case, id='info-' + case['id']))
    for case in EXTRA_CASES:
        params.append(pytest.param(case, id='extra-' + case['id']))
    return params


def run_info(lab_factory, case):
    lab = lab_factory(case)
    with patch_module_args({}):
        with pytest.raises(ExitJson) as caught:
            info.main()
    return lab, caught.value.args[0]


def exported(exporter, lab):
    """{(metric, frozenset(labels without host)): value} of one exporter run on the lab's /mars."""
    samples = {}
    for name, labels, value in exporter.collect(os.path.join(lab.root, 'mars'), lab.host, lab.now_value):
        assert labels.pop('host') == lab.host
        samples[(name, frozenset(labels.items()))] = value
    return samples


def exporter_answers(samples, resource, host):
    """The exporter's answers for one resource, in the words of info's facts."""
    mine = dict((name, value) for (name, labels), value in samples.items() if dict(labels).get('resource') == resource)
    labels = [dict(labels) for (name, labels), value in samples.items()
              if name == 'mars_resource_info' and dict(labels).get('resource') == resource]
    assert len(labels) == 1 and mine['mars_resource_info'] == 1
    answers = {
        'role': labels[0]['role'],
        'designated_primary': labels[0]['designated_primary'],
        'designated_primary_is_me': bool(mine['mars_resource_designated_primary']),
        'member': bool(mine['mars_resource_member']),
        'is_primary': bool(mine['mars_resource_primary']),
        'size': mine['mars_resource_size_bytes'],
        'sync_rest': mine['mars_resource_size_bytes'] - mine['mars_resource_sync_done_bytes'],
        'device_present': bool(mine['mars_resource_device_up']),
        'consistent': bool(mine['mars_resource_consistent']),
        'split_brain': bool(mine['mars_resource_split_brain']),
        'emergency': bool(mine['mars_resource_emergency']),
        'needs_full_sync': bool(mine['mars_resource_log_gap']),
        'errors': mine['mars_resource_error_messages'],
        'fetch_rest': mine.get('mars_resource_fetch_lag_bytes'),
        'replay_rest': mine.get('mars_resource_replay_lag_bytes'),
        'lag': mine.get('mars_resource_lag_bytes'),
    }
    if answers['member']:
        answers['attached'] = bool(mine['mars_resource_attached'])
    return answers, mine['mars_resource_sync_progress_ratio']


def info_answers(facts, host):
    member = facts['member']
    answers = {
        'role': facts['role'],
        'designated_primary': facts['designated_primary'] or '(none)',
        'designated_primary_is_me': facts['designated_primary'] == host,
        'member': member,
        'is_primary': facts['is_primary'],
        'size': facts['size'],
        'sync_rest': facts['sync_rest'],
        'device_present': facts['device_present'],
        'consistent': facts['consistent'],
        'split_brain': facts['split_brain'],
        'emergency': facts['emergency'],
        'needs_full_sync': facts['needs_full_sync'],
        'errors': len(facts['errors']),
        # the lag metrics exist for members only
        'fetch_rest': facts['fetch_rest'] if member else None,
        'replay_rest': facts['replay_rest'] if member else None,
        'lag': facts['fetch_rest'] + facts['replay_rest'] if member else None,
    }
    if member:
        answers['attached'] = facts['hosts'][host]['attached']
    return answers


def test_every_recorded_tree_is_compared():
    """No comparison may pass because its input is missing."""
    names = recorded_trees()
    assert len(names) >= 34, 'expected the 34 recorded trees of the real module in %s, found %d' % (TREES_DIR, len(names))
    assert set(name.rsplit('.', 1)[1] for name in names) == set(['vm1', 'vm2'])
    assert len(cases()) > len(names)


def test_the_exporter_imports_the_modules_reader(exporter):
    """One copy of every rule: the exporter runs plugins/module_utils/{tree,state}.py themselves."""
    for cls, name in ((exporter.ClusterState, 'state.py'), (exporter.MarsTree, 'tree.py')):
        assert os.path.samefile(sys.modules[cls.__module__].__file__, os.path.join(READER_DIR, name))


@pytest.mark.parametrize('case', cases())
def test_exporter_answers_like_info(case, lab_factory, exporter):
    lab, result = run_info(lab_factory, case)
    samples = exported(exporter, lab)
    host = lab.host
    cluster = result['cluster']

    top = dict((name, value) for (name, labels), value in samples.items() if not labels)
    assert top['mars_up'] == (1 if cluster['uuid'] is not None else 0)
    if 'mars_emergency_level' in top:
        assert top['mars_emergency_level'] == cluster['emergency_level']
    else:
        assert cluster['emergency_level'] == 0  # info's value while the kernel has not published one
    if host in cluster['hosts']:
        assert top.get('mars_rest_space_gib') == cluster['hosts'][host]['rest_space_gb']
        assert top.get('mars_total_space_gib') == cluster['hosts'][host]['total_space_gb']
    ages = dict((dict(labels)['peer'], value) for (name, labels), value in samples.items()
                if name == 'mars_peer_alive_age_seconds')
    for peer, facts in cluster['hosts'].items():
        if peer in ages:
            assert (ages[peer] <= 60) == facts['alive'], peer

    resources = set(dict(labels)['resource'] for (name, labels), value in samples.items() if 'resource' in dict(labels))
    assert resources == set(result['resources'])
    for name, facts in result['resources'].items():
        answers, ratio = exporter_answers(samples, name, host)
        assert answers == info_answers(facts, host), name
        assert ratio == pytest.approx((facts['sync_percent'] or 0) / 100.0, abs=1e-4)
