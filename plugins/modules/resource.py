#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: resource
short_description: Create, join, grow, leave and delete MARS resources
version_added: 1.0.0
description:
  - O(state=present) joins an existing resource with C(marsadm join-resource). A resource that does not
    exist yet is created with C(marsadm create-resource) on O(primary) and joined on every other host.
    Optionally waits for the initial sync (secondary) or the device (primary) and reports the progress.
  - A larger O(size) on an existing resource runs C(marsadm resize) on the primary, after every member's disk
    was grown.
  - O(state=absent) stops the replica (C(marsadm down)) and leaves the resource (C(marsadm leave-resource)).
    The last member gives up the primary role first (C(marsadm secondary)), and with O(delete=true) the
    empty resource is deleted (C(marsadm delete-resource)). The primary refuses while other members remain,
    after waiting up to 30 seconds for their C(leave-resource) to arrive by replication.
  - Reads the state from C(/mars) first and only acts on the difference.
  - With O(resources), one call handles every resource of the host (only with O(state=present)); C(/mars) is read once,
    so a run that changes nothing costs the same for 50 resources as for one.
author:
  - georep.mars developers (@georep)
extends_documentation_fragment:
  - georep.mars.marsadm
  - georep.mars.marsadm.attributes
options:
  name:
    description:
      - Resource name as marsadm accepts it - 1 to 63 ASCII letters, digits, V(_) and V(-), not starting
        with V(-); not one of the names marsadm reserves (V(none), V(all), V(any), V(full), V(empty),
        V(undefined), V(remote), V(local), V(localhost)).
      - Required unless O(resources) is given.
    type: str
  resources:
    description:
      - Several resources of this host at once, for example its part of the inventory,
        C(mars_resources | georep.mars.host_resources(inventory_hostname)). Each entry takes the keys O(name),
        O(disk), O(primary), O(size) and O(device_name) (other keys are ignored); O(state=present) only.
      - The resources this host creates come first. A resource that another host creates in the same run is
        joined once it has replicated here, within O(timeout).
      - Mutually exclusive with O(name).
    type: list
    elements: dict
  state:
    description:
      - V(present) makes this host a member, V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  disk:
    description:
      - Absolute path of the backing block device of this host, for example an LV.
      - Must exist, be a block device and be at least as large as the resource.
      - Required with O(state=present).
    type: path
  primary:
    description:
      - Host that creates the resource and becomes its first designated primary.
      - On that host the resource is created, on all other hosts it is joined.
      - Required with O(state=present) when the resource does not exist yet; not used once it exists
        (joining and growing need no primary).
    type: str
  size:
    description:
      - Resource size in bytes, or a number with one suffix as marsadm reads it (V(k), V(m), V(g), V(t), V(p)
        are powers of 1000, V(K), V(M), V(G), V(T), V(P) powers of 1024; V(1.5G) is allowed, V(64MB) and
        V(64MiB) are not). Must be a multiple of 4096 bytes and more than 64 KiB.
      - At creation the default is the whole disk. A larger value than the current size grows the resource
        (C(marsadm resize)); this runs on the actual primary only and needs every member's disk to be large
        enough. Shrinking is impossible.
    type: raw
  device_name:
    description:
      - Name of the device below C(/dev/mars/). Defaults to O(name). Only used when creating or joining.
      - The rules of O(name) apply.
    type: str
  wait:
    description:
      - After creating, wait until C(/dev/mars/NAME) is present; after joining (or on an existing secondary),
        wait until the initial sync is complete and the replica is consistent.
      - Waits at most O(timeout) seconds and fails with the progress reached when the time is up. With
        O(resources), the resources that are not there yet wait in turn, each up to O(timeout); those already
        there cost nothing, so a run that changes nothing still reads C(/mars) once.
    type: bool
    default: false
  delete:
    description:
      - With O(state=absent), delete the resource (C(marsadm delete-resource)) when this host was its last
        member. The manual recommends a new name over re-using a deleted one.
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: Create r1 on vm1 and join it on the other hosts, wait for the initial sync
  georep.mars.resource:
    name: r1
    disk: /dev/vg0/r1
    primary: vm1
    wait: true
    timeout: 7200

- name: Join the existing r1 on one more host
  georep.mars.resource:
    name: r1
    disk: /dev/vg0/r1
    wait: true

- name: Grow r1 after every member's LV was extended
  georep.mars.resource:
    name: r1
    disk: /dev/vg0/r1
    size: 200G
  when: inventory_hostname == 'vm1'

- name: Every resource of this host, in one call (the resources role does this)
  georep.mars.resource:
    resources: "{{ mars_resources | georep.mars.host_resources(inventory_hostname) }}"
    wait: true

- name: Remove this replica
  georep.mars.resource:
    name: r1
    state: absent
'''

RETURN = r'''
resource:
  description: Facts of the resource after the run (see M(georep.mars.info) for the fields).
  returned: with O(name)
  type: dict
  sample: {name: r1, member: true, role: secondary, sync_rest: 0, sync_percent: 100.0, consistent: true}
resources:
  description: With O(resources), the facts of each resource after the run, by name.
  returned: with O(resources)
  type: dict
  sample: {r1: {name: r1, member: true, role: primary}, r2: {name: r2, member: true, role: secondary}}
sync:
  description: Initial sync progress of this host after the run; with O(resources), one such dict per resource name.
  returned: when O(state=present)
  type: dict
  contains:
    size:
      description: Resource size in bytes.
      type: int
    rest:
      description: Bytes still to sync.
      type: int
    percent:
      description: Percent synced.
      type: float
    consistent:
      description: The replica is consistent (C(view-is-consistent)).
      type: bool
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
  sample: [[/usr/sbin/marsadm, --timeout=600, --window=60, join-resource, r1, /dev/vdb]]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.georep.mars.plugins.module_utils.argspec import marsadm_argument_spec
from ansible_collections.georep.mars.plugins.module_utils.context import MarsContext
from ansible_collections.georep.mars.plugins.module_utils.leave import leave_resource_plan
from ansible_collections.georep.mars.plugins.module_utils.state import to_int
from ansible_collections.georep.mars.plugins.module_utils.validate import (
    backing_disk_error, device_name_error, host_name_error, parse_size, resource_name_error, resource_size_error)

# How long the last member waits for the others' leave-resource to replicate before refusing.
LEAVE_GRACE_SECONDS = 30


def summary(res, host):
    return {
        'member': res.is_member(host),
        'disk': res.disk(host),
        'size': res.size,
        'designated_primary': res.designated_primary,
        'members': res.members,
    }


class ResourceModule(object):
    """One resource on this host; PARAMS are the module's options, or one entry of O(resources)."""

    def __init__(self, module, ctx=None, params=None):
        self.module = module
        self.params = params if params is not None else module.params
        self.name = self.params['name']
        self.ctx = ctx or MarsContext(module)
        self.host = self.ctx.host

    def fail(self, msg):
        self.ctx.fail(msg)

    # ---------------------------------------------------------------- checks
    def validate(self):
        self.ctx.check_input(self.problems())

    def problems(self):
        problems = [resource_name_error(self.name)]
        if self.params['primary']:
            problems.append(host_name_error(self.params['primary'], 'primary'))
        if self.params['device_name']:
            problems.append(device_name_error(self.params['device_name'], 'device_name'))
        self.size = None
        if self.params['size'] is not None:
            reason = resource_size_error(self.params['size'])
            problems.append(reason)
            if not reason:
                self.size = parse_size(self.params['size'])
        return problems

    def disk_size(self):
        """Size of the backing disk, failing on a missing or non-block path."""
        disk = self.params['disk']
        kind, size = self.ctx.env.block_device_size(disk)
        if kind != 'block':
            self.fail(backing_disk_error(disk, self.host, None if kind == 'missing' else -1) + '.')
        return size

    # --------------------------------------------------------------- present
    def state_present(self, current, res):
        disk = self.params['disk']
        primary = self.params['primary']
        if primary is not None and primary not in current.hosts:
            self.fail("primary '%s' is not a host of this MARS cluster (hosts: %s); check the name." % (
                primary, ', '.join(sorted(current.hosts))))
        disk_size = self.disk_size()
        after = summary(res, self.host)
        if res.is_member(self.host):
            if not self.ctx.env.same_device(res.disk(self.host), disk):
                self.fail("resource '%s' on %s already uses disk %s, not %s; a member cannot change its disk: leave "
                          "the resource (state=absent) and join again with the new disk." % (
                              self.name, self.host, res.disk(self.host), disk))
            changed = self.grow(res, after)
            return changed, after
        if res.exists and res.members:
            # Only a primary link that names no host ((none): a handover timed out) is refused. Without
            # the link the resource is still replicating here, and join-resource waits for it.
            if res.link('primary') is not None and not res.designated_primary:
                self.fail("resource '%s' has no designated primary (a handover may have timed out), so %s cannot join "
                          "it; make one host primary first (georep.mars.handover)." % (self.name, self.host))
            if disk_size is not None and backing_disk_error(disk, self.host, disk_size, res.size, self.name):
                self.fail(backing_disk_error(disk, self.host, disk_size, res.size, self.name) + '.')
            self.join()
        elif primary is None:
            self.fail("resource '%s' does not exist yet (as seen from %s), so it must be created: give primary, the "
                      "host that creates it (the other hosts join it)." % (self.name, self.host))
        elif primary == self.host:
            if disk_size is not None and backing_disk_error(disk, self.host, disk_size, self.size, self.name):
                self.fail(backing_disk_error(disk, self.host, disk_size, self.size, self.name) + '.')
            args = ['create-resource', self.name, disk]
            if self.params['device_name'] or self.size:
                args.append(self.params['device_name'] or self.name)
            if self.size:
                args.append(str(self.size))
            self.ctx.act(args)
            after.update(designated_primary=self.host, size=self.size or disk_size)
        else:
            # Not yet replicated here (the primary may create it in this very play):
            # join-resource waits for the resource through update-cluster.
            self.join()
        after.update(member=True, disk=disk, members=sorted(set(after['members']) | set([self.host])))
        if not self.ctx.check_mode:
            now = self.ctx.state().resource(self.name)
            if not now.is_member(self.host) or not self.ctx.env.same_device(now.disk(self.host), disk):
                self.fail("marsadm returned success but %s is not a member of resource '%s' with disk %s; see "
                          "'commands'." % (self.host, self.name, disk))
            after = summary(now, self.host)
        return True, after

    def join(self):
        args = ['join-resource', self.name, self.params['disk']]
        if self.params['device_name']:
            args.append(self.params['device_name'])
        self.ctx.act(args)

    def grow(self, res, after):
        if self.size is None or self.size == res.size:
            return False
        if self.size < res.size:
            self.fail("resource '%s' has %d bytes; size %s (%d bytes) would shrink it, which MARS cannot do." % (
                self.name, res.size, self.params['size'], self.size))
        if not res.is_primary(self.host):
            self.fail("resource '%s' can only grow on its actual primary (%s), not on %s; run this task there." % (
                self.name, ', '.join(res.actual_primaries) or 'none', self.host))
        sizes = dict((h, to_int(res.link('actsize-' + h), None)) for h in res.data_members)
        small = sorted(h for h, size in sizes.items() if size is None or size < self.size)
        if small:
            self.fail("resource '%s' cannot grow to %d bytes: the disk of %s is smaller (%s); grow every member's "
                      "disk first." % (self.name, self.size, ', '.join(small),
                                       ', '.join('%s=%s' % (h, sizes[h]) for h in small)))
        self.ctx.require_module_loaded(self.ctx.state(), 'resize')
        self.ctx.act(['resize', self.name, str(self.size)])
        after['size'] = self.size
        if not self.ctx.check_mode:
            now = self.ctx.state().resource(self.name)
            if now.size != self.size:
                self.fail("marsadm resize returned success but resource '%s' still has %s bytes; see 'commands'." % (
                    self.name, now.size))
        return True

    def settled(self, state):
        """Nothing left to wait for in STATE: the device is there (designated primary), or the initial
        sync is complete and the replica consistent (secondary)."""
        res = state.resource(self.name)
        if res.designated_primary == self.host:
            return res.device_present(self.host)
        return res.sync_rest(self.host) == 0 and res.consistent(self.host)

    def wait(self, current):
        """Wait for the device (designated primary) or the initial sync (secondary), starting from
        CURRENT, a state read after the last change: a settled resource costs no further read of /mars."""
        if self.settled(current):
            return current
        timeout = self.ctx.timeout
        current, reached = self.ctx.wait_for(self.settled, timeout)
        if reached:
            return current
        now = current.resource(self.name)
        if now.designated_primary == self.host:
            self.fail("device /dev/mars/%s did not appear on %s within %d s; check 'marsadm view %s' and the "
                      "kernel log." % (self.name, self.host, timeout, self.name))
        progress = now.to_dict(self.host)
        self.fail("initial sync of resource '%s' on %s not finished within %d s: %d bytes left (%s%% done); "
                  "wait longer (timeout) or check 'marsadm view %s'." % (
                      self.name, self.host, timeout, progress['sync_rest'], progress['sync_percent'], self.name))

    # ---------------------------------------------------------------- absent
    def state_absent(self, current, res):
        after = summary(res, self.host)
        if not res.is_member(self.host):
            if self.params['delete'] and res.exists and not res.members:
                self.ctx.act(['delete-resource', self.name])
                after.update(size=None, designated_primary=None)
                return True, after
            return False, after
        others = [h for h in res.members if h != self.host]
        waited = 0
        if others and (res.designated_primary == self.host or res.is_primary(self.host)) and not self.ctx.check_mode:
            # The secondaries may be leaving right now (same play); their leave reaches
            # this tree by replication a few seconds later.
            waited = min(self.ctx.timeout, LEAVE_GRACE_SECONDS)
            current, _gone = self.ctx.wait_for(
                lambda s: s.resource(self.name).members == [self.host], waited)
            res = current.resource(self.name)
            others = [h for h in res.members if h != self.host]
        opened = res.device_open_count(self.host)
        if opened:
            self.fail("device %s of resource '%s' is open %d time(s) on %s; stop the application and umount it first."
                      % (res.device_name(self.host), self.name, opened, self.host))
        if res.designated_primary == self.host or res.is_primary(self.host):
            if others:
                self.fail("%s is the primary of resource '%s' which %s still replicate(s)%s; hand it over first "
                          "(georep.mars.handover) or remove the other members first." % (
                              self.host, self.name, ', '.join(others), ' (waited %d s)' % waited if waited else ''))
            if res.designated_primary == self.host:
                self.ctx.act(['secondary', self.name])
        self.ctx.act_all(leave_resource_plan(res, self.host))
        after.update(member=False, disk=None, members=others)
        if self.params['delete']:
            if others:
                self.ctx.warn("resource '%s' was not deleted: %s still member(s)." % (self.name, ', '.join(others)))
            else:
                self.ctx.act(['delete-resource', self.name])
                after.update(size=None, designated_primary=None)
        if not self.ctx.check_mode:
            now = self.ctx.state().resource(self.name)
            if now.is_member(self.host):
                self.fail("marsadm leave-resource returned success but %s is still a member of resource '%s'; see "
                          "'commands'." % (self.host, self.name))
            after = summary(now, self.host)
        return True, after

    def run(self):
        self.validate()
        current = self.ctx.state()
        self.ctx.require_cluster(current)
        res = current.resource(self.name)
        before = summary(res, self.host)
        result = {}
        if self.params['state'] == 'present':
            changed, after = self.state_present(current, res)
            final = self.ctx.state() if not self.ctx.check_mode else current
            if self.params['wait'] and not self.ctx.check_mode:
                final = self.wait(final)
            facts = final.resource(self.name).to_dict(self.host)
            result['sync'] = sync_progress(facts)
        else:
            changed, after = self.state_absent(current, res)
            final = self.ctx.state() if changed and not self.ctx.check_mode else current
            facts = final.resource(self.name).to_dict(self.host)
        self.ctx.exit(changed, before, after, resource=facts, **result)


def sync_progress(facts):
    return {'size': facts['size'], 'rest': facts['sync_rest'], 'percent': facts['sync_percent'],
            'consistent': facts['consistent']}


ENTRY_KEYS = ('name', 'disk', 'primary', 'size', 'device_name')


def run_many(module):
    """O(resources): every resource of this host from one read of /mars."""
    ctx = MarsContext(module)
    if module.params['state'] != 'present':
        ctx.fail("resources works with state=present only; remove resources one by one with name and state=absent.")
    items, problems, seen = [], [], set()
    for number, entry in enumerate(module.params['resources']):
        params = dict(module.params, resources=None, **dict((key, entry.get(key)) for key in ENTRY_KEYS))
        label = "resources[%d] (%s)" % (number, params['name'])
        if not params['disk']:
            problems.append("%s has no disk: give the path of this host's backing block device" % label)
        if params['name'] in seen:
            problems.append("%s is given twice" % label)
        seen.add(params['name'])
        item = ResourceModule(module, ctx, params)
        problems.extend('%s: %s' % (label, problem) for problem in item.problems() if problem)
        items.append(item)
    ctx.check_input(problems)
    current = ctx.state()
    ctx.require_cluster(current)
    # What this host creates goes first: the others' joins here may wait for it.
    items.sort(key=lambda item: item.params['primary'] != ctx.host)
    before, after, changed = {}, {}, False
    for item in items:
        res = current.resource(item.name)
        if not res.exists and item.params['primary'] not in (None, ctx.host) and not ctx.check_mode:
            # Created by its primary in this very run: join once the resource has replicated here.
            current, _reached = ctx.wait_for(lambda state, name=item.name: state.resource(name).exists, ctx.timeout)
            res = current.resource(item.name)
        before[item.name] = summary(res, ctx.host)
        item_changed, after[item.name] = item.state_present(current, res)
        if item_changed and not ctx.check_mode:
            current = ctx.state()
        changed = changed or item_changed
    if module.params['wait'] and not ctx.check_mode:
        # Each resource waits up to timeout, one after the other; a settled one reads nothing.
        for item in items:
            current = item.wait(current)
    facts = dict((item.name, current.resource(item.name).to_dict(ctx.host)) for item in items)
    ctx.exit(changed, before, after, resources=facts,
             sync=dict((name, sync_progress(fact)) for name, fact in facts.items()))


def main():
    argument_spec = marsadm_argument_spec(
        name=dict(type='str'),
        resources=dict(type='list', elements='dict'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        disk=dict(type='path'),
        primary=dict(type='str'),
        size=dict(type='raw'),
        device_name=dict(type='str'),
        wait=dict(type='bool', default=False),
        delete=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_one_of=[('name', 'resources')], mutually_exclusive=[('name', 'resources')])
    if module.params['resources'] is not None:
        run_many(module)
    elif module.params['state'] == 'present' and not module.params['disk']:
        module.fail_json(msg="state is present but all of the following are missing: disk")
    else:
        ResourceModule(module).run()


if __name__ == '__main__':
    main()
