# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a kernel release within the range a MARS source supports?"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: kernel_in_range
short_description: Is a kernel release within a range of kernels
version_added: 1.0.0
description:
  - Compares a kernel release (C(uname -r)) with a lowest and a highest version, each on as many
    parts as the bound has. Debian's ABI number counts as a fourth part, so V(5.10.0-30-amd64)
    is V(5.10.0.30).
  - V(5.4.0-150-generic) is within V(3.2)..V(5.4); V(5.10.0-32-amd64) is not within
    V(5.10)..V(5.10.0-30).
author:
  - georep.mars developers (@georep)
options:
  _input:
    description: The kernel release.
    type: str
    required: true
  lowest:
    description: The lowest kernel, for example V(5.10).
    type: str
    required: true
  highest:
    description: The highest kernel, for example V(5.10.0-30).
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Refuse a kernel the sources do not build for
  ansible.builtin.assert:
    that: ansible_facts['kernel'] is georep.mars.kernel_in_range('5.10', '5.10.0-30')
'''

RETURN = r'''
_value:
  description: Whether the kernel is within the range.
  type: bool
'''

from ansible_collections.georep.mars.plugins.module_utils.kernel import kernel_in_range


class TestModule(object):
    def tests(self):
        return {'kernel_in_range': kernel_in_range}
