# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The MARS sources to build for a kernel."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: kmod_source
short_description: The MARS sources to build for a kernel
version_added: 1.0.0
description:
  - Picks one entry of the kmod role's list C(mars_kmod_source_choices), the one named
    O(wanted), or for V(auto) the first whose C(kernel_min)..C(kernel_max) holds O(kernel)
    (see the P(georep.mars.kernel_in_range#test) test).
  - With V(auto) and no entry for the kernel, the first entry (MARS master); the kmod role's
    range check then refuses the kernel with that entry's range. An unknown name gives V({}).
author:
  - georep.mars developers (@georep)
options:
  _input:
    description: The choices, each with C(name), C(git_ref), C(version), C(kernel_min), C(kernel_max), C(dkms_flavour).
    type: list
    elements: dict
    required: true
  wanted:
    description: A choice's name, or V(auto).
    type: str
    required: true
  kernel:
    description: The kernel release to build for.
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Show which sources the kmod role builds for this host
  ansible.builtin.debug:
    msg: "{{ (mars_kmod_source_choices | georep.mars.kmod_source('auto', ansible_facts['kernel'])).git_ref }}"
'''

RETURN = r'''
_value:
  description: The chosen entry.
  type: dict
'''

from ansible_collections.georep.mars.plugins.module_utils.kernel import source_choice


class FilterModule(object):
    def filters(self):
        return {'kmod_source': source_choice}
