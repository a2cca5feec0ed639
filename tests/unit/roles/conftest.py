# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.georep.mars.tests.unit.plugins.modules.mars_harness import lab_factory, run_case  # noqa: F401 pylint: disable=unused-import
from ansible_collections.georep.mars.tests.unit.roles.role_scripts import METRICS, SPACE_CHECK, load_script


@pytest.fixture(scope='session')
def exporter():
    """The monitoring role's exporter, imported from the work tree as the timer runs it."""
    return load_script(METRICS, 'georep_mars_metrics')


@pytest.fixture(scope='session')
def space_check():
    """The housekeeping role's /mars fill check."""
    return load_script(SPACE_CHECK, 'georep_mars_space_check')
