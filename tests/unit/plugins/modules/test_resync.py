# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.georep.mars.plugins.modules import resync

from ansible_collections.georep.mars.tests.unit.plugins.modules.mars_harness import load_cases


@load_cases('test_resync.yaml')
def test_resync(case, run_case):
    run_case(resync, case)
