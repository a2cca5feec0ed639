#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: info
short_description: Cluster and resource facts of MARS, read in one pass
version_added: 1.0.0
description:
  - Reads the local C(/mars) symlink tree once and reports cluster membership, peers, and for every resource
    the role, designated and actual primary, members, consistency, sync/fetch/replay rest in bytes, split brain,
    emergency mode and kernel error messages.
  - Flags dangerous states that a plain C(UpToDate) hides, for example a hole in the logfile sequence after
    emergency mode, which means that a secondary needs a full sync (C(marsadm invalidate)).
  - Runs no C(marsadm) process; the values follow the semantics of the C(marsadm view-*) macros.
author:
  - georep.mars developers (@georep)
extends_documentation_fragment:
  - georep.mars.marsadm.info_attributes
options:
  name:
    description:
      - Only report these resources. An unknown name is an error.
      - By default every resource in the local tree is reported.
    type: list
    elements: str
    aliases: [resources]
  window:
    description:
      - Seconds within which a peer's C(/mars/actual-PEER/time) must have been refreshed to count as alive
        (the C(marsadm --window) semantics).
    type: int
    default: 60
  marsadm_path:
    description:
      - Not used (this module runs no C(marsadm)); accepted so that C(module_defaults) for
        C(group/georep.mars.marsadm) reach every module of the group.
    type: str
  timeout:
    description:
      - Not used, for the same reason as O(marsadm_path).
    type: int
    default: 600
notes:
  - Works without C(marsadm) and without the kernel module (then every kernel indicator is reported as false).
'''

EXAMPLES = r'''
- name: Read MARS state
  georep.mars.info:
  register: mars

- name: Refuse to continue when a replica needs a full sync
  ansible.builtin.assert:
    that: mars.dangers | length == 0
    fail_msg: "{{ mars.dangers | join('; ') }}"

- name: Only resource r1
  georep.mars.info:
    name: r1
  register: r1_state

- name: Show who is primary
  ansible.builtin.debug:
    msg: "{{ r1_state.resources.r1.designated_primary }} (actual {{ r1_state.resources.r1.actual_primaries }})"
'''

RETURN = r'''
host:
  description: The local MARS host name (C(uname -n)).
  returned: always
  type: str
  sample: vm2
cluster:
  description: Cluster facts of the local host.
  returned: always
  type: dict
  contains:
    uuid:
      description: Cluster uuid, V(null) when this host has no cluster (or the join is still in progress).
      type: str
      sample: vm1_1795628651.000000000
    joined:
      description: The host has a cluster uuid and its own C(ips/ip-HOST) link.
      type: bool
    ip:
      description: Replication IP of this host.
      type: str
      sample: 10.0.0.2
    module_loaded:
      description: The mars kernel module is loaded (C(/proc/sys/mars) exists).
      type: bool
    mars_mounted:
      description: C(/mars) is a mounted filesystem.
      type: bool
    kernel_version:
      description: Content of C(/proc/sys/mars/version), V(null) without the module.
      type: str
    marsadm_version:
      description: marsadm version recorded by this host in the tree.
      type: str
      sample: '2.9'
    buildtag:
      description: Kernel module build tag published by this host.
      type: str
    emergency_level:
      description: Global emergency level 0..4 of this host.
      type: int
    hosts:
      description: Every configured cluster host with C(ip), C(alive), C(emergency_level), C(rest_space_gb),
        C(total_space_gb), C(buildtag), C(marsadm_version).
      type: dict
    resources:
      description: Names of all resources known in the local tree.
      type: list
      elements: str
    my_resources:
      description: Resources this host is a member of.
      type: list
      elements: str
resources:
  description:
    - Per resource facts, keyed by resource name. Local values describe this host; C(hosts) has the same
      values for every member as far as this host's tree knows them.
  returned: always
  type: dict
  sample:
    r1:
      name: r1
      exists: true
      size: 268435456
      designated_primary: vm1
      actual_primaries: [vm1]
      members: [vm1, vm2]
      member: true
      role: secondary
      is_primary: false
      device: /dev/mars/r1
      device_present: false
      disk: /dev/vdb
      consistent: true
      sync_rest: 0
      sync_percent: 100.0
      fetch_rest: 0
      replay_rest: 0
      split_brain: false
      split_brain_pairs: []
      duplicate_logfiles: []
      logfile_gaps: []
      emergency: false
      needs_full_sync: false
      errors: {}
      hosts: {}
dangers:
  description: One sentence per dangerous state found (split brain, needs full sync, emergency, inconsistent
    primary, two actual primaries, dead designated primary, kernel errors).
  returned: always
  type: list
  elements: str
  sample: ["r1: vm2 needs a full sync: the logfile sequence has a hole after emergency mode (logfiles 6 missing); run 'marsadm invalidate r1' on vm2"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.georep.mars.plugins.module_utils.context import MarsContext


def resource_dangers(res, local_host):
    """Human sentences for the dangerous states of one resource."""
    dangers = []
    name = res.name
    primaries = res.actual_primaries
    if len(primaries) > 1:
        dangers.append('%s: more than one actual primary (%s)' % (name, ', '.join(primaries)))
    if res.split_brain:
        hosts = sorted(set(h for pair in res.split_brain_pairs() for h in pair['hosts']))
        detail = ' between %s' % ', '.join(hosts) if hosts else ''
        dups = res.duplicate_logfiles()
        if dups:
            detail += '; duplicate logfile numbers %s' % ', '.join(str(n) for n in dups)
        dangers.append('%s: split brain%s; repair it with georep.mars.split_brain on the losing host' % (name, detail))
    for host in res.members:
        if res.needs_full_sync(host):
            gaps = res.logfile_gaps()
            what = ('logfiles %s missing' % ', '.join(str(n) for n in gaps)) if gaps else 'kernel reports non-consecutive logfiles'
            dangers.append("%s: %s needs a full sync: the logfile sequence has a hole after emergency mode (%s); "
                           "run 'marsadm invalidate %s' on %s" % (name, host, what, name, host))
        if res.emergency(host):
            dangers.append('%s: %s is in emergency mode (/mars full); free space, then invalidate the secondaries' % (name, host))
        for key, text in sorted(res.messages(host, 'err').items()):
            dangers.append('%s: kernel error %s on %s: %s' % (name, key, host, text))
    primary = res.designated_primary
    if res.members and primary is None:
        dangers.append('%s: no designated primary (a handover may have timed out)' % name)
    elif primary and primary in res.members and not res.alive(primary):
        dangers.append('%s: designated primary %s is not alive (no metadata for more than %s s)' % (name, primary, res.window))
    if primary == local_host and res.is_member(local_host) and res.sync_rest(local_host) > 0:
        dangers.append('%s: designated primary %s is not fully synced' % (name, local_host))
    return dangers


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='list', elements='str', aliases=['resources']),
            window=dict(type='int', default=60),
            marsadm_path=dict(type='str'),
            timeout=dict(type='int', default=600),
        ),
        supports_check_mode=True,
    )
    ctx = MarsContext(module, need_marsadm=False)
    current = ctx.state()
    names = module.params['name']
    if names is None:
        names = current.resource_names()
    else:
        for name in names:
            ctx.require_resource(current, name)
    resources = {}
    dangers = []
    for name in names:
        res = current.resource(name)
        resources[name] = res.to_dict(ctx.host)
        dangers.extend(resource_dangers(res, ctx.host))
    cluster = current.cluster_dict()
    cluster['mars_mounted'] = ctx.env.mars_mounted()
    module.exit_json(changed=False, host=ctx.host, cluster=cluster, resources=resources,
                     dangers=dangers)


if __name__ == '__main__':
    main()
