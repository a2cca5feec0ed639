# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A marsadm size string in bytes."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: size_bytes
short_description: A size as marsadm reads it, in bytes
version_added: 1.0.0
description:
  - A number with at most one suffix, as C(marsadm create-resource) and C(resize) read it - C(k), C(m),
    C(g), C(t), C(p) are powers of 1000, C(K), C(M), C(G), C(T), C(P) powers of 1024, a decimal fraction
    such as V(1.5G) is allowed; the result must be a multiple of 4096 bytes.
  - Returns V(None) for anything else, for example V(64MB), V(64MiB), V(-1) or V(1001).
  - The same rule as the modules' O(georep.mars.resource#module:size).
author:
  - georep.mars developers (@georep)
options:
  _input:
    description: The size, for example V(64M) or V(4096).
    type: raw
    required: true
'''

EXAMPLES = r'''
- name: Compare a disk with the resource size
  ansible.builtin.assert:
    that: disk_bytes | int >= ('64M' | georep.mars.size_bytes)
'''

RETURN = r'''
_value:
  description: The size in bytes, or V(None) when marsadm would refuse the input.
  type: int
'''

from ansible_collections.georep.mars.plugins.module_utils.validate import ValidationError, parse_size


def size_bytes(value):
    """A marsadm size (``64M``, ``10g``, ``4096``) in bytes, or None when marsadm would refuse it."""
    try:
        return parse_size(value)
    except ValidationError:
        return None


class FilterModule(object):
    def filters(self):
        return {'size_bytes': size_bytes}
