# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that check and shape the MARS fleet described in the inventory."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: fleet_errors
short_description: Check a MARS fleet description from the inventory
version_added: 1.0.0
description:
  - Returns one message per problem in the cluster and resource definitions, each naming the host or
    resource and the field, so that a play can fail before it changes anything.
  - Checks that every cluster host has a MARS host name and a unique IPv4 replication address (MARS
    replicates over IPv4 only), that resource names are valid and unique, that every replica host is in the
    cluster, that the initial primary is a replica, that there is at most one preferred primary per site, and
    that sizes are sizes a resource can have.
  - Names, addresses and sizes follow the real marsadm's rules, the same ones the modules apply
    (C(plugins/module_utils/validate.py)).
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

from ansible_collections.georep.mars.plugins.module_utils.validate import (
    host_name_error, ipv4_address_error, resource_name_error, resource_size_error)


def _host_errors(hostvars, cluster_hosts):
    errors = []
    seen_ips = {}
    for host in cluster_hosts:
        reason = host_name_error(host, 'inventory name')
        if reason:
            errors.append("host '%s': %s" % (host, reason))
        ip = hostvars.get(host, {}).get('mars_replication_ip')
        if ip is None:
            errors.append("host '%s': mars_replication_ip is not set; give each cluster host the address MARS replicates over" % host)
            continue
        reason = ipv4_address_error(ip, 'mars_replication_ip')
        if reason:
            errors.append("host '%s': %s" % (host, reason))
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
        reason = resource_size_error(resource['size'])
        if reason:
            errors.append("%s: %s" % (where, reason))
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
        reason = resource_name_error(name)
        if reason:
            errors.append("mars_resources[%d]: %s" % (index, reason))
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
