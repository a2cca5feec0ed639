#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: decommission
short_description: Remove a host from a MARS cluster for good
version_added: 1.0.0
description:
  - Run the same task on every cluster host. Each host does its part, depending on its role.
  - On the host named in O(host), the module refuses while that host is primary of any resource. It also
    refuses when the host holds the last replica of a resource. Otherwise it stops and leaves every resource
    (C(marsadm down RES), C(marsadm leave-resource RES)) and then leaves the cluster
    (C(marsadm leave-cluster), which also unloads the kernel module).
  - On the host named in O(handover_to), the module first hands over every resource for which O(host) is the
    designated primary (C(marsadm primary RES), with the checks of M(georep.mars.handover)). Meanwhile the
    leaving host waits up to O(timeout) seconds for the primary role to move away.
  - On every other surviving host (and on O(handover_to)), the module waits until O(host) has left all
    resources. If C(ips/ip-HOST) is still there after that, it removes the host with
    C(marsadm lowlevel-delete-host HOST).
author:
  - georep.mars developers (@georep)
extends_documentation_fragment:
  - georep.mars.marsadm
  - georep.mars.marsadm.attributes
options:
  host:
    description:
      - The host to remove (C(uname -n) name, no dots).
    type: str
    required: true
  handover_to:
    description:
      - Survivor that takes over every resource for which O(host) is the designated primary.
      - Without it, the module refuses while O(host) is primary anywhere.
    type: str
notes:
  - Afterwards destroy C(/mars) on the removed host (mkfs), so that it can never come back as a zombie.
'''

EXAMPLES = r'''
- name: Remove vm3, hand its primaries over to vm1
  georep.mars.decommission:
    host: vm3
    handover_to: vm1
'''

RETURN = r'''
role:
  description: What this host did. V(leaving) is the removed host, V(handover) is O(handover_to), and
    V(survivor) is any other member. V(none) means the host is not in the cluster.
  returned: always
  type: str
  sample: leaving
left_resources:
  description: Resources the removed host left (on the removed host).
  returned: always
  type: list
  elements: str
switched:
  description: Resources handed over to this host (on O(handover_to)).
  returned: always
  type: list
  elements: str
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
  sample: [[/usr/sbin/marsadm, --timeout=600, --window=60, down, r1], [/usr/sbin/marsadm, --timeout=600, --window=60, leave-resource, r1]]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.georep.mars.plugins.module_utils.argspec import marsadm_argument_spec
from ansible_collections.georep.mars.plugins.module_utils.context import MarsContext
from ansible_collections.georep.mars.plugins.module_utils.leave import leave_resource_plan
from ansible_collections.georep.mars.plugins.module_utils.primary import handover_blockers, switch_here
from ansible_collections.georep.mars.plugins.module_utils.validate import host_name_error


def memberships(current, host):
    return [name for name in current.resource_names() if current.resource(name).is_member(host)]


def last_replicas(current, host):
    return [name for name in memberships(current, host) if current.resource(name).members == [host]]


def summary(current, host):
    return {'cluster_hosts': sorted(current.hosts), 'resources_of_host': memberships(current, host)}


class Decommission(object):
    """One run of the task on one cluster host: the leaving host, handover_to, or another survivor."""

    def __init__(self, module):
        self.module = module
        self.ctx = MarsContext(module)
        self.local_host = self.ctx.host
        self.leaving = module.params['host']
        self.handover_to = module.params['handover_to']

    def refuse_last_replicas(self, current):
        last = last_replicas(current, self.leaving)
        if last:
            self.ctx.fail("decommission of %s refused: it holds the last replica of %s; add another replica first "
                          "(georep.mars.resource) or delete the resource deliberately." % (self.leaving, ', '.join(last)))

    def leave(self, current):
        """On the host being removed."""
        primaries = current.primary_resources(self.leaving)
        if primaries and self.handover_to and not self.ctx.check_mode:
            current, _moved = self.ctx.wait_for(lambda s: not s.primary_resources(self.leaving), self.ctx.timeout)
            primaries = current.primary_resources(self.leaving)
        if primaries and not (self.handover_to and self.ctx.check_mode):
            hint = ('the handover to %s did not happen within %d s' % (self.handover_to, self.ctx.timeout)
                    if self.handover_to else 'give handover_to, or hand over first with georep.mars.handover')
            self.ctx.fail("decommission of %s refused: it is primary of %s; %s." % (
                self.leaving, ', '.join(primaries), hint))
        left = []
        for name in memberships(current, self.leaving):
            res = current.resource(name)
            if res.device_open_count(self.leaving):
                self.ctx.fail("decommission of %s refused: device %s is open on it; stop the application and umount "
                              "it first." % (self.leaving, res.device_name(self.leaving)))
            self.ctx.act_all(leave_resource_plan(res, self.leaving))
            left.append(name)
        if self.local_host in current.hosts:
            if not current.module_loaded:
                self.ctx.fail("the mars kernel module is not loaded on %s, but leave-cluster needs it; run 'modprobe "
                              "mars' and retry." % self.local_host)
            self.ctx.act(['leave-cluster'])
        if not self.ctx.check_mode and self.ctx.planned:
            now = self.ctx.state()
            still = memberships(now, self.leaving) + (['the cluster'] if self.leaving in now.hosts else [])
            if still:
                self.ctx.fail("marsadm returned success but %s is still member of %s; see 'commands'." % (
                    self.leaving, ', '.join(still)))
        return left

    def take_over(self, current):
        """On handover_to: become primary where the leaving host is designated primary."""
        names = [n for n in current.my_resources() if current.resource(n).designated_primary == self.leaving]
        if not names:
            return []
        hard, waitable = handover_blockers(current, names, self.local_host)
        if hard or waitable:
            self.ctx.fail('handover from %s to %s refused: %s.' % (
                self.leaving, self.local_host, '; '.join(hard + waitable)))
        switch_here(self.ctx, names, 'handover from %s to %s' % (self.leaving, self.local_host))
        return names

    def forget(self, current):
        """On a survivor: after the host left every resource, drop its IP link if still there."""
        if self.leaving not in current.hosts:
            return
        if memberships(current, self.leaving) and not self.ctx.check_mode:
            current, _gone = self.ctx.wait_for(
                lambda s: not memberships(s, self.leaving) or self.leaving not in s.hosts, self.ctx.timeout)
        if self.leaving not in current.hosts:
            return
        remaining = memberships(current, self.leaving)
        if remaining and not self.ctx.check_mode:
            self.ctx.fail("%s is still a member of %s after %d s; run georep.mars.decommission on %s itself (it must "
                          "leave its resources) and retry." % (self.leaving, ', '.join(remaining), self.ctx.timeout,
                                                               self.leaving))
        # Every survivor runs this: when another one (or the host's own leave-cluster) was
        # faster, marsadm refuses to delete a host that is gone, and nothing changed here.
        self.ctx.act(['lowlevel-delete-host', self.leaving],
                     already_done=lambda: self.leaving not in self.ctx.state().hosts)

    def run(self):
        problems = [host_name_error(self.leaving, 'host')]
        if self.handover_to:
            problems.append(host_name_error(self.handover_to, 'handover_to'))
            if self.handover_to == self.leaving:
                problems.append('handover_to must name a survivor, not the host %s itself' % self.leaving)
        self.ctx.check_input(problems)
        current = self.ctx.state()
        before = summary(current, self.leaving)
        role, left, switched = 'none', [], []
        if current.joined or self.local_host in current.hosts:
            if self.leaving not in current.hosts and not memberships(current, self.leaving):
                role = 'leaving' if self.local_host == self.leaving else 'survivor'
                if not current.tree.deleted('ips/ip-' + self.leaving):
                    self.ctx.warn("host '%s' is not known in this cluster (no ips/ip-%s, not even a deleted one); "
                                  "nothing to do, check the name." % (self.leaving, self.leaving))
            else:
                self.refuse_last_replicas(current)
                if self.local_host == self.leaving:
                    role = 'leaving'
                    left = self.leave(current)
                else:
                    role = 'survivor'
                    if self.local_host == self.handover_to:
                        role = 'handover'
                        switched = self.take_over(current)
                        current = self.ctx.state() if switched and not self.ctx.check_mode else current
                    self.forget(current)
        changed = bool(self.ctx.planned)
        after = before
        if changed:
            after = {'cluster_hosts': sorted(h for h in current.hosts if h != self.leaving), 'resources_of_host': []}
            if not self.ctx.check_mode:
                after = summary(self.ctx.state(), self.leaving)
        self.ctx.exit(changed, before, after, role=role, left_resources=left, switched=switched)


def main():
    argument_spec = marsadm_argument_spec(
        host=dict(type='str', required=True),
        handover_to=dict(type='str'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    Decommission(module).run()


if __name__ == '__main__':
    main()
