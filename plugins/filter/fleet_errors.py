# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that check and shape the MARS fleet described in the inventory."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: fleet_errors
short_description: Check a MARS fleet description from the inventory
version_added: 0.1.0
description:
  - Returns one message per problem in the cluster and resource definitions, each naming the host or
    resource and the field, so that a play can fail before it changes anything.
  - Checks that every cluster host has a valid replication IP address, that resource names are valid and
    unique, that every replica host is in the cluster, that the initial primary is a replica, that there is
    at most one preferred primary per site, and that sizes are well-formed.
author:
  - georep.mars developers (@georep)
options:
  _input:
    description: The list of resource definitions (C(mars_resources)).
    type: list
    elements: dict
    required: true
  hostvars:
    description: C(hostvars), to read C(mars_replication_ip) and C(mars_site) of each host.
    type: dict
    required: true
  cluster_hosts:
    description: The hosts of the MARS cluster, usually C(groups['mars']).
    type: list
    elements: str
    required: true
'''

EXAMPLES = r'''
- name: Refuse a bad inventory before any change
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: "{{ mars_resources | georep.mars.fleet_errors(hostvars, groups['mars']) }}"
'''

RETURN = r'''
_value:
  description: One message per problem; empty when the description is sound.
  type: list
  elements: str
'''

import re

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:
    HAS_NETADDR = False

from ansible.errors import AnsibleFilterError
from ansible_collections.georep.mars.plugins.filter.size_bytes import size_bytes

# marsadm accepts resource names made of these characters; "all" means every resource.
RESOURCE_NAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$')


def is_ip_address(value):
    if not HAS_NETADDR:
        raise AnsibleFilterError('the georep.mars.fleet_errors filter needs the Python library netaddr on the controller')
    try:
        netaddr.IPAddress(str(value), flags=netaddr.INET_PTON)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return False
    return True


def _host_errors(hostvars, cluster_hosts):
    errors = []
    seen_ips = {}
    for host in cluster_hosts:
        ip = hostvars.get(host, {}).get('mars_replication_ip')
        if ip is None:
            errors.append("host '%s': mars_replication_ip is not set; give each cluster host the address MARS replicates over" % host)
        elif not is_ip_address(ip):
            errors.append("host '%s': mars_replication_ip '%s' is not an IP address" % (host, ip))
        elif str(ip) in seen_ips:
            errors.append("host '%s': mars_replication_ip '%s' is also the address of '%s'" % (host, ip, seen_ips[str(ip)]))
        else:
            seen_ips[str(ip)] = host
    return errors


def _resource_errors(resource, hostvars, cluster_hosts):
    name = resource.get('name')
    where = "resource '%s'" % name
    errors = []
    replicas = resource.get('replicas') or []
    if not replicas:
        errors.append("%s: replicas is empty; list the hosts that hold a copy" % where)
    for host in replicas:
        if host not in cluster_hosts:
            errors.append("%s: replica host '%s' is not in the cluster (%s)" % (where, host, ', '.join(cluster_hosts)))
    if len(set(replicas)) != len(replicas):
        errors.append("%s: replicas lists a host twice" % where)
    primary = resource.get('primary')
    if primary is not None and primary not in replicas:
        errors.append("%s: primary '%s' is not one of its replicas" % (where, primary))
    preferred = resource.get('preferred_primaries') or []
    by_site = {}
    for host in preferred:
        if host not in replicas:
            errors.append("%s: preferred_primaries host '%s' is not one of its replicas" % (where, host))
            continue
        site = hostvars.get(host, {}).get('mars_site', 'default')
        if site in by_site:
            errors.append("%s: preferred_primaries names two hosts in site '%s' ('%s' and '%s'); keep one per site"
                          % (where, site, by_site[site], host))
        by_site[site] = host
    if resource.get('size') is not None:
        size = size_bytes(resource['size'])
        if size is None:
            errors.append("%s: size '%s' is not a size (a number with an optional k/m/g/t or K/M/G/T suffix)" % (where, resource['size']))
        elif size % 4096 or size < 64 * 1024:
            errors.append("%s: size '%s' must be a multiple of 4096 bytes and at least 64 KiB" % (where, resource['size']))
    disks = resource.get('disks') or {}
    for host in replicas:
        disk = disks.get(host, resource.get('disk'))
        if not disk:
            errors.append("%s: no disk for replica '%s'; set disk (or disks.%s)" % (where, host, host))
        elif not str(disk).startswith('/dev/'):
            errors.append("%s: disk '%s' of replica '%s' is not a /dev path" % (where, disk, host))
    for host in disks:
        if host not in replicas:
            errors.append("%s: disks names '%s', which is not one of its replicas" % (where, host))
    return errors


def fleet_errors(resources, hostvars, cluster_hosts):
    """Every problem of the fleet description, as messages naming the host/resource and field."""
    cluster_hosts = list(cluster_hosts)
    errors = _host_errors(hostvars, cluster_hosts)
    names = {}
    for index, resource in enumerate(resources or []):
        name = resource.get('name') if isinstance(resource, dict) else None
        if not name or not RESOURCE_NAME.match(str(name)) or name == 'all':
            errors.append("mars_resources[%d]: name '%s' is not a valid resource name (letters, digits, '_', '-', '.'; not 'all')"
                          % (index, name))
            continue
        if name in names:
            errors.append("resource '%s': defined twice (mars_resources[%d] and [%d])" % (name, names[name], index))
            continue
        names[name] = index
        errors.extend(_resource_errors(resource, hostvars, cluster_hosts))
    return errors


class FilterModule(object):
    def filters(self):
        return {'fleet_errors': fleet_errors}
