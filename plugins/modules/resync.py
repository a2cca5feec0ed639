#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: resync
short_description: Full resync of a MARS replica that may miss writes after emergency mode
version_added: 1.0.0
description:
  - After emergency mode (C(/mars) ran full on the primary) the primary wrote without logging and left a hole
    in the logfile sequence. A secondary that replayed across the hole reports UpToDate and nothing left to
    replay, yet misses those writes. M(georep.mars.info) flags it with C(needs_full_sync).
  - This module reads the local C(/mars) tree and, on a secondary flagged C(needs_full_sync) (or always with
    O(force=true)), runs C(marsadm invalidate RES), a full sync from the designated primary, and waits for it
    to finish.
  - Refuses on the designated or actual primary, while the primary is still in emergency mode, while the
    primary is not reachable, and while the resource is in split brain (use M(georep.mars.split_brain)).
author:
  - georep.mars developers (@georep)
extends_documentation_fragment:
  - georep.mars.marsadm
  - georep.mars.marsadm.attributes
options:
  name:
    description:
      - Resource to resync on this host.
    type: str
    required: true
  force:
    description:
      - Resync even when the replica is not flagged C(needs_full_sync). The full sync discards nothing the
        primary has, but the replica is inconsistent until it ends.
    type: bool
    default: false
  wait:
    description:
      - Wait up to O(timeout) seconds until the full sync has ended and the replica is consistent.
    type: bool
    default: true
'''

EXAMPLES = r'''
- name: After an emergency on the primary, resync the secondaries that missed unlogged writes
  georep.mars.resync:
    name: r1
'''

RETURN = r'''
needs_full_sync_before:
  description: Whether this host's replica was flagged C(needs_full_sync) before the run.
  returned: always
  type: bool
needs_full_sync:
  description: Whether it is still flagged after the run (V(false) after a finished resync).
  returned: always
  type: bool
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


def refusals(res, host, name):
    """Why a full resync of NAME on HOST cannot start now (empty: it can)."""
    reasons = []
    primary = res.designated_primary
    if primary == host or res.is_primary(host):
        reasons.append('%s is the primary of %s: the primary is the source of a full sync, hand over first' % (host, name))
    elif primary is None:
        reasons.append('%s has no designated primary to sync from' % name)
    elif not res.alive(primary):
        reasons.append('the primary %s of %s is not reachable from %s' % (primary, name, host))
    elif res.emergency(primary):
        reasons.append('the primary %s of %s is still in emergency mode; free space in its /mars first' % (primary, name))
    if res.split_brain:
        reasons.append('%s is in split brain; repair it with georep.mars.split_brain' % name)
    return reasons


def main():
    argument_spec = marsadm_argument_spec(
        name=dict(type='str', required=True),
        force=dict(type='bool', default=False),
        wait=dict(type='bool', default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    ctx = MarsContext(module)
    host = ctx.host
    name = module.params['name']
    current = ctx.joined_state([name])
    res = current.resource(name)
    if not res.is_member(host):
        ctx.fail('%s is not a member of %s; nothing to resync here.' % (host, name))
    needed = res.needs_full_sync(host)
    before = {'needs_full_sync': needed, 'consistent': res.consistent(host)}
    facts = dict(needs_full_sync_before=needed, needs_full_sync=needed)
    if not needed and not module.params['force']:
        ctx.exit(False, before, before, resource=res.to_dict(host), **facts)

    ctx.require_module_loaded(current, 'a full resync')
    reasons = refusals(res, host, name)
    if reasons:
        ctx.fail('full resync of %s on %s refused: %s.' % (name, host, '; '.join(reasons)))
    ctx.act(['invalidate', name])
    after = {'needs_full_sync': False, 'consistent': True}
    if not ctx.check_mode and module.params['wait']:
        def synced(state):
            now = state.resource(name)
            return now.sync_rest(host) == 0 and now.consistent(host) and not now.needs_full_sync(host)

        current, done = ctx.wait_for(synced, ctx.timeout)
        res = current.resource(name)
        if not done:
            ctx.fail('the full sync of %s on %s did not end within %d s (sync rest %s bytes); check '
                     "'marsadm view %s'." % (name, host, ctx.timeout, res.sync_rest(host), name))
        after = {'needs_full_sync': res.needs_full_sync(host), 'consistent': res.consistent(host)}
        facts['needs_full_sync'] = after['needs_full_sync']
    elif not ctx.check_mode:
        res = ctx.state().resource(name)
        after = {'needs_full_sync': res.needs_full_sync(host), 'consistent': res.consistent(host)}
        facts['needs_full_sync'] = after['needs_full_sync']
    else:
        facts['needs_full_sync'] = False
    ctx.exit(True, before, after, resource=res.to_dict(host), **facts)


if __name__ == '__main__':
    main()
