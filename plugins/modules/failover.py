#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: failover
short_description: Forced promotion of a MARS survivor when the primary is lost
version_added: 1.0.0
description:
  - Makes the host the task runs on the primary of one or many resources although the old primary is gone.
    It runs C(marsadm pause-fetch RES) and then C(marsadm primary --force RES), the unplanned failover of the
    MARS manual. All resources that need it are promoted by one C(marsadm primary --force RES1,RES2,...)
    call, so their waits overlap.
  - This can lose the data the old primary had not shipped yet, and it causes a split brain when the old
    primary comes back. So it needs O(force=true). It also refuses while the old primary is still alive and
    reachable (use M(georep.mars.handover) then) unless O(allow_alive_primary=true).
  - The survivor must have finished its initial sync; marsadm refuses an inconsistent host even with force.
  - The result is verified with C(view-get-primary), C(view-is-primary) and C(view-device-present).
author:
  - georep.mars developers (@georep)
extends_documentation_fragment:
  - georep.mars.marsadm
  - georep.mars.marsadm.attributes
options:
  name:
    description:
      - Resources to fail over to this host.
    type: list
    elements: str
    required: true
    aliases: [resources]
  force:
    description:
      - Confirms the forced promotion. Without it the module changes nothing and fails.
    type: bool
    default: false
  allow_alive_primary:
    description:
      - Promote even though the old primary still sends metadata (it is alive within O(window)). Only for a
        primary that is alive but useless, for example with a dead disk; fence it yourself.
    type: bool
    default: false
notes:
  - After the old primary returns, repair the split brain with M(georep.mars.split_brain) on it.
'''

EXAMPLES = r'''
- name: Data center A is gone, promote vm2
  georep.mars.failover:
    name: [r1, r2]
    force: true
  delegate_to: vm2
  run_once: true
'''

RETURN = r'''
switched:
  description: Resources that were (or in check mode would be) promoted.
  returned: always
  type: list
  elements: str
  sample: [r1]
old_primaries:
  description: The previous designated primary of each switched resource.
  returned: always
  type: dict
  sample: {r1: vm1}
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
  sample: [[/usr/sbin/marsadm, --timeout=600, --window=60, pause-fetch, r1], [/usr/sbin/marsadm, --timeout=600, --window=60, primary, --force, r1]]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.georep.mars.plugins.module_utils.argspec import marsadm_argument_spec
from ansible_collections.georep.mars.plugins.module_utils.context import MarsContext
from ansible_collections.georep.mars.plugins.module_utils.primary import (
    is_primary_here, primaries, primaries_after_switch, require_primary)
from ansible_collections.georep.mars.plugins.module_utils.validate import resource_name_error


def old_primaries(res, host):
    olds = set(h for h in res.actual_primaries if h != host)
    if res.designated_primary and res.designated_primary != host:
        olds.add(res.designated_primary)
    return sorted(olds)


def main():
    argument_spec = marsadm_argument_spec(
        name=dict(type='list', elements='str', required=True, aliases=['resources']),
        force=dict(type='bool', default=False),
        allow_alive_primary=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    ctx = MarsContext(module)
    host = ctx.host
    names = module.params['name']
    ctx.check_input([resource_name_error(n) for n in names])
    current = ctx.joined_state(names)
    todo = [name for name in names if not is_primary_here(current.resource(name), host)]
    before = primaries(current, names)
    if todo and not module.params['force']:
        ctx.fail("failover of %s to %s is a forced promotion that can lose unshipped data and causes a split brain "
                 "when the old primary returns; set force: true to confirm, or use georep.mars.handover while the "
                 "primary is healthy." % (', '.join(todo), host))
    refusals = []
    olds = {}
    for name in todo:
        res = current.resource(name)
        if not current.module_loaded:
            refusals.append('the mars kernel module is not loaded on %s' % host)
            break
        if not res.is_member(host):
            refusals.append('%s is not a member of %s (members: %s)' % (host, name, ', '.join(res.members)))
            continue
        if res.sync_rest(host) > 0:
            refusals.append('%s is inconsistent for %s (%d bytes of its initial sync left); marsadm never promotes '
                            'an unfinished sync target' % (host, name, res.sync_rest(host)))
        old = old_primaries(res, host)
        olds[name] = res.designated_primary
        alive = [h for h in old if res.alive(h)]
        if alive and not module.params['allow_alive_primary']:
            refusals.append('the old primary %s of %s is still alive; use georep.mars.handover, or stop it, or set '
                            'allow_alive_primary: true' % (', '.join(alive), name))
    if refusals:
        ctx.fail('failover to %s refused: %s.' % (host, '; '.join(refusals)))

    for name in todo:
        res = current.resource(name)
        if res.todo(host, 'attach') != '1':
            ctx.act(['attach', name])
        if res.todo(host, 'allow-replay') != '1':
            ctx.act(['resume-replay', name])
        if res.todo(host, 'connect') != '0':
            ctx.act(['pause-fetch', name])
    # one call: marsadm overlaps the phases of all
    switch = ctx.act(['primary', '--force', ','.join(todo)]) if todo else None
    after = primaries_after_switch(names, host)
    require_primary(ctx, todo, 'failover to %s' % host, switch)
    if todo and not ctx.check_mode:
        current = ctx.state()
        after = primaries(current, names)
    if todo:
        ctx.warn('forced primary on %s for %s: when the old primary returns, repair the split brain there with '
                 'georep.mars.split_brain.' % (host, ', '.join(todo)))
    resources = dict((name, current.resource(name).to_dict(host)) for name in names)
    ctx.exit(bool(todo), before, after, switched=todo, old_primaries=olds, resources=resources)


if __name__ == '__main__':
    main()
