# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Making this host the primary, shared by handover, failover and decommission.

``handover_blockers`` is check-mars-switchable.sh made strict: it returns the
reasons why a host cannot take over resources by a planned ``marsadm primary``,
split into hard reasons (wrong host, no module, split brain, dead primary) and
reasons that go away by waiting (sync, lag, device still open on the old
primary).  ``require_primary`` verifies a switch after marsadm returned 0,
because marsadm exits 0 when a handover times out.  ``primaries`` and
``primaries_after_switch`` are the before/after of the diff.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def is_primary_here(res, host):
    """The switch is complete: designated and actual primary, device present."""
    return res.designated_primary == host and res.is_primary(host) and res.device_present(host)


def primaries(current, names):
    """Who is primary of each resource of NAMES: the before/after of a switch."""
    return dict((name, {'designated_primary': current.resource(name).designated_primary,
                        'actual_primaries': current.resource(name).actual_primaries}) for name in names)


def primaries_after_switch(names, host):
    """The ``primaries`` a switch of NAMES to HOST promises (check mode's after)."""
    return dict((name, {'designated_primary': host, 'actual_primaries': [host]}) for name in names)


def resource_handover_blockers(current, res, host, max_lag=0, ignore_sync=False):
    """(hard, waitable) reasons that HOST cannot become primary of RES by a planned handover."""
    hard, waitable = [], []
    name = res.name
    if not current.module_loaded:
        hard.append('the mars kernel module is not loaded on %s' % host)
    if not res.is_member(host):
        hard.append('%s is not a member of resource %s (members: %s)' % (host, name, ', '.join(res.members) or 'none'))
        return hard, waitable
    if res.split_brain:
        hard.append('resource %s is in split brain; repair it first (georep.mars.split_brain)' % name)
    old = res.designated_primary
    if old and old != host and not res.alive(old):
        hard.append('the designated primary %s of %s is not alive (no metadata within %s s); a planned handover '
                    'needs it, use georep.mars.failover for a dead primary' % (old, name, res.window))
    if res.emergency(host):
        hard.append('%s is in emergency mode for %s (/mars full); free space first' % (host, name))
    if res.sync_rest(host) > 0:
        waitable.append('%s is inconsistent: its sync of %s has %d bytes left' % (host, name, res.sync_rest(host)))
    elif not res.consistent(host):
        waitable.append('%s is not (yet) consistent for %s' % (host, name))
    if not res.is_attached(host):
        waitable.append('%s is not attached to %s (marsadm up %s)' % (host, name, name))
    # Only the fetch is waited for: it crosses the network, where a handover can hang. The replay of what
    # is here runs at disk speed, and marsadm's own switch waits for it before it changes anything, so
    # leaving it to marsadm overlaps it with marsadm's first phases.
    unfetched = res.fetch_rest(host)
    if unfetched > max_lag:
        waitable.append('%s has %d bytes of %s not yet fetched (max_lag %d)' % (host, unfetched, name, max_lag))
    if not ignore_sync:
        for other in res.members:
            if other != host and res.alive(other) and res.sync_rest(other) > 0:
                waitable.append('member %s of %s is still syncing (%d bytes left; ignore_sync skips this)' % (
                    other, name, res.sync_rest(other)))
    for other in res.actual_primaries:
        if other != host and res.device_open_count(other) > 0:
            waitable.append('device %s is open %d time(s) on the old primary %s; stop the application and umount '
                            'it there' % (res.device_name(other), res.device_open_count(other), other))
    return hard, waitable


def handover_blockers(current, names, host, max_lag=0, ignore_sync=False):
    """(hard, waitable) reasons of every resource of NAMES that HOST is not yet primary of."""
    hard, waitable = [], []
    for name in names:
        res = current.resource(name)
        if is_primary_here(res, host):
            continue
        res_hard, res_waitable = resource_handover_blockers(current, res, host, max_lag, ignore_sync)
        hard.extend(res_hard)
        waitable.extend(res_waitable)
    return hard, waitable


def verify_primary(ctx, names, switch=None):
    """After ``marsadm primary``: wait for the tree, then confirm with marsadm's own views.

    Returns a list of failure sentences (empty when every resource switched).
    """
    host = ctx.host

    def settled(state):
        # marsadm designates this host itself (phase 3) before it returns; where it did not, it gave up
        # earlier and nothing will change any more, so there is nothing to wait for.
        return (all(is_primary_here(state.resource(n), host) for n in names)
                or any(state.resource(n).designated_primary != host for n in names))

    current, _settled = ctx.wait_for(settled, ctx.timeout)
    problems = []
    for name in names:
        designated = ctx.view('get-primary', name)
        actual = ctx.view('is-primary', name)
        device = ctx.view('device-present', name)
        if designated != host or actual != '1' or device != '1':
            waited = '' if current.resource(name).designated_primary != host else ', waited %d s' % ctx.timeout
            problems.append("%s did not become primary of %s (marsadm views: get-primary='%s', is-primary='%s', "
                            "device-present='%s'%s)" % (host, name, designated, actual, device, waited))
    if problems and switch is not None:
        problems.extend('marsadm: %s' % text for text in switch.warnings if 'not reached within' in text)
    return problems


def switch_here(ctx, names, operation, options=()):
    """A planned handover of NAMES to this host: one ``marsadm [OPTIONS] primary R1,R2,...`` (marsadm runs
    each phase for all of them, so their waits overlap), then ``require_primary``."""
    switch = ctx.act(list(options) + ['primary', ','.join(names)]) if names else None
    require_primary(ctx, names, operation, switch)


def require_primary(ctx, names, operation, switch=None):
    """Outside check mode: fail OPERATION unless ``verify_primary`` confirms every switch of NAMES (SWITCH:
    the result of that ``marsadm primary``, whose "not reached" warnings the failure quotes)."""
    if not names or ctx.check_mode:
        return
    failures = verify_primary(ctx, names, switch)
    if failures:
        ctx.fail('%s failed although marsadm returned success: %s.' % (operation, '; '.join(failures)))
