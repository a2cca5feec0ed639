# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which resources a survivor must take over when hosts are lost."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: failover_targets
short_description: The resources one surviving host must take over when other hosts are lost
version_added: 1.0.0
description:
  - For each resource of the fleet description whose designated primary (as the survivor's C(info) sees it)
    is one of O(lost_hosts), chooses exactly one new primary among the surviving replicas, the same on every
    survivor, so that no two survivors promote the same resource. The choice is the first of its
    C(preferred_primaries) that survived, else the first surviving replica in C(replicas) order.
  - Returns the names of the resources for which the chosen host is O(host).
author:
  - georep.mars developers (@georep)
options:
  _input:
    description: The fleet description (C(mars_resources)).
    type: list
    elements: dict
    required: true
  state:
    description: The C(resources) dictionary returned by M(georep.mars.info) on O(host).
    type: dict
    required: true
  lost_hosts:
    description: The hosts that are gone.
    type: list
    elements: str
    required: true
  host:
    description: The surviving host asking.
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Promote what this survivor must take over
  georep.mars.failover:
    name: "{{ mars_resources | georep.mars.failover_targets(info.resources, lost, inventory_hostname) }}"
    force: true
'''

RETURN = r'''
_value:
  description: Resource names to promote on O(host).
  type: list
  elements: str
'''


def new_primary(resource, lost_hosts):
    """The survivor that takes over a resource, or None when no replica survived."""
    alive = [h for h in resource.get('replicas') or [] if h not in lost_hosts]
    preferred = [h for h in resource.get('preferred_primaries') or [] if h in alive]
    return (preferred + alive or [None])[0]


def failover_targets(resources, state, lost_hosts, host):
    names = []
    for resource in resources or []:
        name = resource.get('name')
        current = (state or {}).get(name) or {}
        if current.get('designated_primary') not in lost_hosts:
            continue
        if new_primary(resource, lost_hosts) == host:
            names.append(name)
    return names


class FilterModule(object):
    def filters(self):
        return {'failover_targets': failover_targets}
