# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.georep.mars.tests.unit.plugins.modules.mars_harness import lab_factory, run_case  # noqa: F401 pylint: disable=unused-import
