# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The options every marsadm-running module shares, documented once in the
``georep.mars.marsadm`` doc fragment."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def marsadm_argument_spec(**options):
    """``marsadm_path``, ``timeout`` and ``window``, plus the module's own OPTIONS."""
    spec = dict(
        marsadm_path=dict(type='str'),
        timeout=dict(type='int', default=600),
        window=dict(type='int', default=60),
    )
    spec.update(options)
    return spec
