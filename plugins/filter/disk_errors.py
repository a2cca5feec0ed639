# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check one host's backing disks against its resources, from one measurement of all of them."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: disk_errors
short_description: Check the backing disks of one host's MARS resources
version_added: 1.0.0
description:
  - Returns one message per resource whose backing disk is missing, is no block device, or is smaller than the
    resource's C(size), with the same rule and words as the R(georep.mars.resource module,ansible_collections.georep.mars.resource_module).
  - The resources role measures every disk of a host in one task and checks them with this filter, so that the
    check costs the same for 50 resources as for one.
author:
  - georep.mars developers (@georep)
options:
  _input:
    description: This host's resources (C(name), C(disk), C(size)), for example from the filter C(georep.mars.host_resources).
    type: list
    elements: dict
    required: true
  measured:
    description: By disk path, V(None) for a missing path, V(-1) for a path that is no block device, else its size in bytes.
    type: dict
    required: true
  host:
    description: The host, for the messages.
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Refuse disks that cannot hold their resources
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: "{{ mars_resources | georep.mars.host_resources(inventory_hostname) | georep.mars.disk_errors(measured, inventory_hostname) }}"
'''

RETURN = r'''
_value:
  description: One message per disk problem, each naming host and resource; empty when every disk fits.
  type: list
  elements: str
'''

from ansible_collections.georep.mars.plugins.module_utils.validate import ValidationError, backing_disk_error, parse_size


def disk_errors(resources, measured, host):
    """Messages for the disks in MEASURED that cannot back their RESOURCES on HOST."""
    problems = []
    for resource in resources:
        try:
            needed = parse_size(resource['size']) if resource.get('size') is not None else None
        except ValidationError:
            needed = None  # fleet_errors reports a bad size
        reason = backing_disk_error(resource['disk'], host, measured.get(resource['disk']), needed, resource['name'])
        if reason:
            problems.append("host '%s', resource '%s': %s" % (host, resource['name'], reason))
    return problems


class FilterModule(object):
    def filters(self):
        return {'disk_errors': disk_errors}
