#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: split_brain
short_description: Detect and repair a MARS split brain on the losing host
version_added: 1.0.0
description:
  - Detects a split brain of a resource from the local C(/mars) tree (two logfiles with the same number from
    different hosts, or version chains that diverged), like C(marsadm view-is-split-brain).
  - Repairs it only on the host named in O(loser), whose diverging data is thrown away. On every other host the
    module only reports. With two data replicas the loser runs C(marsadm invalidate RES) (full sync from the
    primary); with more replicas C(marsadm down RES), C(marsadm leave-resource RES) and
    C(marsadm join-resource RES DISK), as the MARS manual recommends.
  - Refuses while the loser is still designated or actual primary, while no survivor is designated primary, or
    while the designated primary is not reachable.
author:
  - georep.mars developers (@georep)
extends_documentation_fragment:
  - georep.mars.marsadm
  - georep.mars.marsadm.attributes
options:
  name:
    description:
      - Resource to check and repair.
    type: str
    required: true
  loser:
    description:
      - The host whose diverging data is discarded. Only this host changes anything.
    type: str
    required: true
  method:
    description:
      - V(auto) uses V(invalidate) with two data replicas and V(rejoin) with more.
    type: str
    choices: [auto, invalidate, rejoin]
    default: auto
'''

EXAMPLES = r'''
- name: vm1 came back after the failover to vm2; discard vm1's diverging writes
  georep.mars.split_brain:
    name: r1
    loser: vm1
'''

RETURN = r'''
split_brain:
  description: Whether a split brain is (still) detected after the run.
  returned: always
  type: bool
split_brain_before:
  description: Whether a split brain was detected before the run.
  returned: always
  type: bool
method:
  description: The repair method used or planned (V(invalidate) or V(rejoin)), V(null) when nothing was done.
  returned: always
  type: str
resource:
  description: Facts of the resource after the run (see M(georep.mars.info)).
  returned: always
  type: dict
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
  sample: [[/usr/sbin/marsadm, --timeout=600, --window=60, invalidate, r1]]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.georep.mars.plugins.module_utils.argspec import marsadm_argument_spec
from ansible_collections.georep.mars.plugins.module_utils.context import MarsContext
from ansible_collections.georep.mars.plugins.module_utils.leave import leave_resource_plan
from ansible_collections.georep.mars.plugins.module_utils.validate import host_name_error


def main():
    argument_spec = marsadm_argument_spec(
        name=dict(type='str', required=True),
        loser=dict(type='str', required=True),
        method=dict(type='str', choices=['auto', 'invalidate', 'rejoin'], default='auto'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    ctx = MarsContext(module)
    host = ctx.host
    name = module.params['name']
    loser = module.params['loser']
    ctx.check_input([host_name_error(loser, 'loser')])
    current = ctx.joined_state([name])
    res = current.resource(name)
    if loser not in current.hosts and not res.is_member(loser):
        ctx.fail("loser '%s' is neither a host of this cluster nor a member of %s (members: %s); check the name." % (
            loser, name, ', '.join(res.members) or 'none'))
    split = res.split_brain
    before = {'split_brain': split, 'member': res.is_member(host), 'designated_primary': res.designated_primary}
    facts = dict(split_brain=split, split_brain_before=split, method=None)
    if host != loser or not split:
        ctx.exit(False, before, before, resource=res.to_dict(host), **facts)

    refusals = []
    if not res.is_member(host):
        refusals.append('%s is not a member of %s' % (host, name))
    primary = res.designated_primary
    if primary == host:
        refusals.append('the loser %s is still the designated primary of %s; make the survivor primary first '
                        '(georep.mars.failover or georep.mars.handover on it)' % (host, name))
    elif primary is None:
        refusals.append('%s has no designated primary; promote the survivor first' % name)
    elif not res.alive(primary):
        refusals.append('the designated primary %s of %s is not reachable from %s; the network must work for the '
                        'repair' % (primary, name, host))
    if res.is_primary(host):
        refusals.append('%s still acts as primary of %s; stop the application, umount %s and wait until it is '
                        'secondary' % (host, name, res.device_name(host)))
    if not current.module_loaded:
        refusals.append('the mars kernel module is not loaded on %s' % host)
    if refusals:
        ctx.fail('split brain repair of %s on %s refused: %s.' % (name, host, '; '.join(refusals)))

    method = module.params['method']
    if method == 'auto':
        method = 'invalidate' if len(res.data_members) <= 2 else 'rejoin'
    if method == 'invalidate':
        ctx.act(['invalidate', name])
    else:
        ctx.act_all(leave_resource_plan(res, host) + [['join-resource', name, res.disk(host)]])
    facts['method'] = method
    after = dict(before, split_brain=False)
    if not ctx.check_mode:
        current, healed = ctx.wait_for(lambda s: not s.resource(name).split_brain, ctx.timeout)
        res = current.resource(name)
        if not healed:
            ctx.fail("split brain of %s still detected on %s %d s after '%s'; check 'marsadm view %s' and, as the "
                     "manual says, run 'marsadm cron' on the primary %s." % (name, host, ctx.timeout, method, name, primary))
        after = {'split_brain': False, 'member': res.is_member(host), 'designated_primary': res.designated_primary}
        facts['split_brain'] = False
    ctx.exit(True, before, after, resource=res.to_dict(host), **facts)


if __name__ == '__main__':
    main()
