# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A marsadm size string in bytes."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: size_bytes
short_description: A size as marsadm reads it, in bytes
version_added: 0.1.0
description:
  - C(k), C(m), C(g), C(t), C(p) are powers of 1000, C(K), C(M), C(G), C(T), C(P) powers of 1024, as in
    C(marsadm create-resource) and C(resize). Returns V(None) for anything else.
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
  description: The size in bytes, or V(None) when the input is not a size.
  type: int
'''

import re

SIZE = re.compile(r'^[0-9]+[kmgtpKMGTP]?$')
SIZE_FACTORS = {'': 1, 'k': 1000, 'm': 1000 ** 2, 'g': 1000 ** 3, 't': 1000 ** 4, 'p': 1000 ** 5,
                'K': 1024, 'M': 1024 ** 2, 'G': 1024 ** 3, 'T': 1024 ** 4, 'P': 1024 ** 5}


def size_bytes(text):
    """A marsadm size (``64M``, ``10g``, ``4096``) in bytes, or None when it is malformed."""
    text = str(text).strip()
    if not SIZE.match(text):
        return None
    suffix = text[-1] if text[-1].isalpha() else ''
    return int(text[:len(text) - len(suffix)]) * SIZE_FACTORS[suffix]


class FilterModule(object):
    def filters(self):
        return {'size_bytes': size_bytes}
