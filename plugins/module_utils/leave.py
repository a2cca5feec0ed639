# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The marsadm commands that make a host leave a resource, shared by
resource (state=absent), decommission and split_brain (rejoin).

``marsadm leave-resource`` refuses while any ``todo-HOST/*`` switch is not off
(``emergency-limit`` included) or the host is still attached or primary
(mars-reference 3.8): ``down`` turns the switches off and detaches, and a
non-zero emergency limit needs its own ``set-emergency-limit RES 0``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.georep.mars.plugins.module_utils.state import to_int


def leave_resource_plan(res, host):
    """The marsadm argument lists, in order, that make HOST leave RES."""
    name = res.name
    plan = []
    blocking = [key for key in res.switches_on(host) if key != 'emergency-limit']
    if blocking or res.is_attached(host) or res.is_primary(host):
        plan.append(['down', name])
    if to_int(res.switches(host).get('emergency-limit')):
        plan.append(['set-emergency-limit', name, '0'])
    plan.append(['leave-resource', name])
    return plan
