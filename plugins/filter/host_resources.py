# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The resources one host holds, from the fleet description in the inventory."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: host_resources
short_description: The MARS resources one host replicates, with its own disk and role
version_added: 1.0.0
description:
  - From the fleet description (C(mars_resources)), the entries whose C(replicas) include O(host), each with
    C(disk) resolved for that host (C(disks.HOST) or C(disk)), C(primary) set (C(primary), else the first of
    C(preferred_primaries), else the first replica) and C(is_primary) telling whether O(host) is it.
author:
  - georep.mars developers (@georep)
options:
  _input:
    description: The list of resource definitions (C(mars_resources)).
    type: list
    elements: dict
    required: true
  host:
    description: The inventory host name.
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Create or join each resource of this host
  georep.mars.resource:
    name: "{{ item.name }}"
    disk: "{{ item.disk }}"
    primary: "{{ item.primary }}"
  loop: "{{ mars_resources | georep.mars.host_resources(inventory_hostname) }}"
'''

RETURN = r'''
_value:
  description: The resource entries of this host.
  type: list
  elements: dict
'''


def host_resources(resources, host):
    """What this host holds: one entry per resource it replicates, with its own disk and role."""
    mine = []
    for resource in resources or []:
        if host not in (resource.get('replicas') or []):
            continue
        entry = dict(resource)
        entry['disk'] = (resource.get('disks') or {}).get(host, resource.get('disk'))
        entry['primary'] = resource.get('primary') or (resource.get('preferred_primaries') or resource['replicas'])[0]
        entry['is_primary'] = entry['primary'] == host
        entry.pop('disks', None)
        mine.append(entry)
    return mine


class FilterModule(object):
    def filters(self):
        return {'host_resources': host_resources}
