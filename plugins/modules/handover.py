#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: handover
short_description: Planned switch of MARS resources to this host
version_added: 1.0.0
description:
  - Makes the target host (the host the task runs on) the primary of one or many resources with
    C(marsadm primary RES), the planned handover. The old primary must be alive.
  - Before anything runs, every resource is checked like C(check-mars-switchable.sh), but strictly. The target
    must be a member, the kernel module loaded, no split brain, the designated primary alive, no emergency
    mode. These reasons fail at once. The target must also be attached and consistent, with its sync
    finished and nothing left to fetch (see O(max_lag)), and the device must be closed on the old primary.
    The module waits up to O(precondition_timeout) seconds for these, then refuses with the reasons.
  - What is fetched but not yet replayed is left to marsadm. Its switch replays everything before it changes
    anything, and the replay runs at the speed of the local disk, so the replay overlaps marsadm's first
    phases instead of delaying them. If marsadm gives up on it after O(timeout) seconds, nothing has changed,
    and the module fails at once with marsadm's warning.
  - No resource is switched unless all of them pass the checks.
  - In check mode nothing waits. Conditions that the real run would wait for are reported as a warning,
    and the switch is predicted (with O(precondition_timeout=0) the refusal is predicted instead).
  - The resources that need a switch are switched by one C(marsadm primary RES1,RES2,...) call. marsadm runs
    each phase of the handover for all of them before the next phase, so their waits (the old primary
    stepping down, the replay of the rest) overlap, and a host's switch costs about as much for many
    resources as for one.
  - marsadm exits 0 even when a handover times out, so the result is verified with C(view-get-primary),
    C(view-is-primary) and C(view-device-present) (designated primary, actual primary, device present).
author:
  - georep.mars developers (@georep)
extends_documentation_fragment:
  - georep.mars.marsadm
  - georep.mars.marsadm.attributes
options:
  name:
    description:
      - Resources to hand over.
    type: list
    elements: str
    required: true
    aliases: [resources]
  target:
    description:
      - The host that becomes primary. The task must run on that host (use C(delegate_to) or a play on it);
        the module fails on any other host, so that a handover never runs by accident on the wrong side.
      - Defaults to the host the task runs on.
    type: str
  max_lag:
    description:
      - Bytes that may still be unfetched on the target when the handover starts. marsadm waits for them
        during the switch; the default V(0) waits for them before it, up to O(precondition_timeout) seconds,
        because a fetch crosses the network, where a switch could otherwise hang until O(timeout).
    type: int
    default: 0
  precondition_timeout:
    description:
      - Seconds to wait for conditions that resolve themselves (sync, lag, device closed on the old primary).
        V(0) refuses at once.
    type: int
    default: 60
  ignore_sync:
    description:
      - Hand over although another member is still syncing (C(marsadm --ignore-sync)); that sync restarts.
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: Hand r1 and r2 over to vm2
  georep.mars.handover:
    name: [r1, r2]
    target: vm2
  delegate_to: vm2
  run_once: true
'''

RETURN = r'''
switched:
  description: Resources that were (or in check mode would be) switched to the target.
  returned: always
  type: list
  elements: str
  sample: [r1]
resources:
  description: Facts of each resource after the run (see M(georep.mars.info)).
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
  sample: [[/usr/sbin/marsadm, --timeout=600, --window=60, primary, r1]]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.georep.mars.plugins.module_utils.argspec import marsadm_argument_spec
from ansible_collections.georep.mars.plugins.module_utils.context import MarsContext
from ansible_collections.georep.mars.plugins.module_utils.primary import (
    handover_blockers, is_primary_here, primaries, primaries_after_switch, switch_here)
from ansible_collections.georep.mars.plugins.module_utils.validate import host_name_error, resource_name_error


def main():
    argument_spec = marsadm_argument_spec(
        name=dict(type='list', elements='str', required=True, aliases=['resources']),
        target=dict(type='str'),
        max_lag=dict(type='int', default=0),
        precondition_timeout=dict(type='int', default=60),
        ignore_sync=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    ctx = MarsContext(module)
    host = ctx.host
    names = module.params['name']
    target = module.params['target'] or host
    ctx.check_input([resource_name_error(n) for n in names] + [host_name_error(target, 'target')])
    if target != host:
        ctx.fail("handover to %s must run on %s, not on %s; use delegate_to: %s or a play on that host." % (
            target, target, host, target))
    current = ctx.joined_state(names)
    before = primaries(current, names)

    def blockers(state):
        return handover_blockers(state, names, host, module.params['max_lag'], module.params['ignore_sync'])

    hard, waitable = blockers(current)
    if hard:
        ctx.fail('handover to %s refused: %s.' % (host, '; '.join(hard)))
    if waitable and module.params['precondition_timeout'] > 0 and not ctx.check_mode:
        current, _reached = ctx.wait_for(lambda s: not any(blockers(s)), module.params['precondition_timeout'])
        hard, waitable = blockers(current)
    if waitable and ctx.check_mode and module.params['precondition_timeout'] > 0:
        # The real run would wait for these; predict the switch and say what it waits for.
        ctx.warn('handover to %s would first wait up to %d s for: %s.' % (
            host, module.params['precondition_timeout'], '; '.join(waitable)))
        waitable = []
    if hard or waitable:
        waited = '' if ctx.check_mode or not module.params['precondition_timeout'] else \
            ' (waited %d s)' % module.params['precondition_timeout']
        ctx.fail('handover to %s refused%s: %s.' % (host, waited, '; '.join(hard + waitable)))

    todo = [name for name in names if not is_primary_here(current.resource(name), host)]
    switch_here(ctx, todo, 'handover to %s' % host, ['--ignore-sync'] if module.params['ignore_sync'] else [])
    after = primaries_after_switch(names, host)
    if todo and not ctx.check_mode:
        current = ctx.state()
        after = primaries(current, names)
    resources = dict((name, current.resource(name).to_dict(host)) for name in names)
    ctx.exit(bool(todo), before, after, switched=todo, resources=resources)


if __name__ == '__main__':
    main()
