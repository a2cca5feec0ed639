#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: cluster
short_description: Create, join or leave a MARS cluster
version_added: 1.0.0
description:
  - O(state=present) on the founding host (O(founder) is this host) runs C(marsadm create-cluster); on every
    other host it runs C(marsadm join-cluster FOUNDER [FOUNDER_IP]).
  - O(state=absent) runs C(marsadm leave-cluster), which also unloads the kernel module.
  - Knows the kernel module order of current MARS versions. C(create-cluster) needs the module B(unloaded),
    C(join-cluster) and C(leave-cluster) need it B(loaded). It never loads or unloads the module itself (the
    R(georep.mars.kmod role,ansible_collections.georep.mars.kmod_role) owns that, with C(tasks_from=load)); it refuses with what to do when the order is wrong.
  - The state is read from C(/mars) first; nothing runs when the host already is where it should be.
author:
  - georep.mars developers (@georep)
extends_documentation_fragment:
  - georep.mars.marsadm
  - georep.mars.marsadm.attributes
options:
  state:
    description:
      - V(present) makes this host a cluster member, V(absent) removes it from the cluster.
    type: str
    choices: [present, absent]
    default: present
  founder:
    description:
      - Host name (C(uname -n), no dots) of the host that founds the cluster.
      - On that host O(state=present) creates the cluster, everywhere else it joins it.
      - Required with O(state=present).
    type: str
  founder_ip:
    description:
      - Replication IPv4 address of O(founder), passed to C(join-cluster) when the name does not resolve.
      - MARS replicates over IPv4 only, so an IPv6 address is refused.
    type: str
  ip:
    description:
      - Replication IPv4 address of this host (C(marsadm --ip=IP)). By default marsadm resolves the host name.
      - MARS replicates over IPv4 only, so an IPv6 address is refused.
      - When the host is already a member with another address the module fails; changing the address of a
        member is a deliberate expert operation (C(marsadm lowlevel-set-host-ip)).
    type: str
'''

EXAMPLES = r'''
# The module order of MARS: create-cluster with the module unloaded, then load it everywhere, then join.
- name: Found the cluster on the first host
  georep.mars.cluster:
    founder: "{{ groups['mars'][0] }}"
    ip: "{{ mars_replication_ip }}"
  when: inventory_hostname == groups['mars'][0]

- name: Load the module on every host
  ansible.builtin.include_role:
    name: georep.mars.kmod
    tasks_from: load

- name: Join the cluster everywhere else
  georep.mars.cluster:
    founder: "{{ groups['mars'][0] }}"
    founder_ip: "{{ hostvars[groups['mars'][0]].mars_replication_ip }}"
    ip: "{{ mars_replication_ip }}"
  when: inventory_hostname != groups['mars'][0]

- name: Leave the cluster (after all resources were left)
  georep.mars.cluster:
    state: absent
'''

RETURN = r'''
cluster:
  description: Cluster facts after the run (see M(georep.mars.info) for the fields).
  returned: always
  type: dict
  sample: {uuid: vm1_1795628651.000000000, joined: true, ip: 10.0.0.2, module_loaded: true}
commands:
  description: Every command that ran, with C(cmd), C(rc), C(stdout), C(stderr).
  returned: always
  type: list
  elements: dict
commands_planned:
  description: argv of every change, also in check mode (where nothing runs).
  returned: always
  type: list
  elements: list
  sample: [[/usr/sbin/marsadm, --timeout=600, --window=60, join-cluster, vm1, 10.0.0.1]]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.georep.mars.plugins.module_utils.argspec import marsadm_argument_spec
from ansible_collections.georep.mars.plugins.module_utils.context import MarsContext
from ansible_collections.georep.mars.plugins.module_utils.tree import MARS_DIR
from ansible_collections.georep.mars.plugins.module_utils.validate import host_name_error, ipv4_address_error


def summary(current):
    return {
        'joined': current.joined,
        'uuid': current.uuid,
        'ip': current.hosts.get(current.host),
        'module_loaded': current.module_loaded,
    }


class ClusterModule(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.ctx = MarsContext(module)
        self.host = self.ctx.host

    def validate(self):
        problems = []
        if self.params['founder']:
            problems.append(host_name_error(self.params['founder'], 'founder'))
        for option in ('ip', 'founder_ip'):
            if self.params[option]:
                problems.append(ipv4_address_error(self.params[option], option))
        self.ctx.check_input(problems)
        self.ctx.require_mounted()

    def require_loaded(self, current, what):
        if current.module_loaded:
            return
        problem = ("the mars kernel module is not loaded on %s, but %s needs it; load it first (the "
                   "georep.mars.kmod role with tasks_from=load, or 'modprobe mars')." % (self.host, what))
        if not self.ctx.check_mode:
            self.ctx.fail(problem)
        # A check run of a rollout does not load the module before this task: plan the change anyway.
        self.ctx.warn(problem)

    def ip_args(self):
        return ['--ip=%s' % self.params['ip']] if self.params['ip'] else []

    def state_present(self, current):
        if current.joined:
            own_ip = current.hosts.get(self.host)
            if self.params['ip'] and own_ip != self.params['ip']:
                self.ctx.fail("host %s is already a cluster member with IP %s, not %s; changing a member's IP is a "
                              "deliberate expert step ('marsadm lowlevel-set-host-ip %s %s'), not done here."
                              % (self.host, own_ip, self.params['ip'], self.host, self.params['ip']))
            return False, summary(current)

        founder = self.params['founder']
        if founder == self.host:
            if current.tree.get('uuid'):
                self.ctx.fail("%s/uuid exists on %s but the host has no ips/ip-%s link; the cluster data is damaged "
                              "or a join is half done: inspect it, or mkfs %s before founding a new cluster."
                              % (MARS_DIR, self.host, self.host, MARS_DIR))
            if current.module_loaded:
                self.ctx.fail("create-cluster needs the mars kernel module unloaded on %s, and this host has no cluster "
                              "yet; unload it first ('modprobe -r mars'), create the cluster, then load it (the "
                              "georep.mars.kmod role with tasks_from=load)." % self.host)
            self.ctx.act(self.ip_args() + ['create-cluster'])
        else:
            if current.resource_names():
                self.ctx.fail("join-cluster refuses on %s because resources already exist locally (%s); this host "
                              "belonged to another cluster: mkfs %s first." % (
                                  self.host, ', '.join(current.resource_names()), MARS_DIR))
            self.require_loaded(current, 'join-cluster')
            args = self.ip_args() + ['join-cluster', founder]
            if self.params['founder_ip']:
                args.append(self.params['founder_ip'])
            self.ctx.act(args)
        after = {'joined': True, 'uuid': '(assigned by %s)' % founder, 'ip': self.params['ip'] or '(resolved by marsadm)',
                 'module_loaded': current.module_loaded}
        if not self.ctx.check_mode:
            now = self.ctx.state()
            if not now.joined:
                self.ctx.fail("marsadm returned success but %s is still not a cluster member (uuid %s, ips/ip-%s %s); "
                              "check the network to %s and the marsadm output in 'commands'." % (
                                  self.host, now.tree.get('uuid'), self.host, now.hosts.get(self.host), founder))
            after = summary(now)
        return True, after

    def state_absent(self, current):
        if not current.joined and self.host not in current.hosts:
            return False, summary(current)
        mine = current.my_resources()
        if mine:
            self.ctx.fail("host %s is still a member of resource(s) %s; remove them first with georep.mars.resource "
                          "state=absent (or georep.mars.decommission)." % (self.host, ', '.join(mine)))
        self.require_loaded(current, 'leave-cluster')
        self.ctx.act(['leave-cluster'])
        after = {'joined': False, 'uuid': current.uuid, 'ip': None, 'module_loaded': False}
        if not self.ctx.check_mode:
            now = self.ctx.state()
            if self.host in now.hosts:
                self.ctx.fail("marsadm leave-cluster returned success but ips/ip-%s still exists on %s; see 'commands'."
                              % (self.host, self.host))
            after = summary(now)
        return True, after

    def run(self):
        self.validate()
        current = self.ctx.state()
        before = summary(current)
        if self.params['state'] == 'present':
            changed, after = self.state_present(current)
        else:
            changed, after = self.state_absent(current)
        final = current if self.ctx.check_mode or not changed else self.ctx.state()
        self.ctx.exit(changed, before, after, cluster=final.cluster_dict())


def main():
    argument_spec = marsadm_argument_spec(
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        founder=dict(type='str'),
        founder_ip=dict(type='str'),
        ip=dict(type='str'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[('state', 'present', ['founder'])])
    ClusterModule(module).run()


if __name__ == '__main__':
    main()
