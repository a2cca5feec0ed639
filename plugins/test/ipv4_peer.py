# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a value an IPv4 address or network that may reach MARS?"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: ipv4_peer
short_description: Is a value an IPv4 address or an IPv4 network
version_added: 1.0.0
description:
  - True for an IPv4 address such as V(10.0.0.2) and for an IPv4 network such as V(10.0.0.0/24); false
    for IPv6 (MARS replicates over IPv4 only), host names and anything else.
  - The address rule is the one the modules and C(georep.mars.fleet_errors) apply to
    C(mars_replication_ip).
author:
  - georep.mars developers (@georep)
options:
  _input:
    description: The address or network.
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Refuse peers that are not IPv4
  ansible.builtin.assert:
    that: mars_firewall_peers | reject('georep.mars.ipv4_peer') | list | length == 0
'''

RETURN = r'''
_value:
  description: Whether the value is an IPv4 address or network.
  type: bool
'''

from ansible_collections.georep.mars.plugins.module_utils.validate import ipv4_peer_error


def ipv4_peer(value):
    return ipv4_peer_error(value) is None


class TestModule(object):
    def tests(self):
        return {'ipv4_peer': ipv4_peer}
