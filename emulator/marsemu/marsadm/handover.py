"""``primary`` (planned handover and ``--force`` failover) and ``secondary``.

A planned handover waits for the old primary to give up (``actual-OLD/is-primary`` = 0) and,
as split-brain guard, for this host's replay and newest version link to equal the old primary's.
"""

import os
import re

from marsemu import common
from marsemu.marsadm import lookup, switches, waits
from marsemu.marsadm.views import replinfo


class HandoverState:
    phase2_waited = False


def _primary_res(ses, res, new, old):
    """Write the designated primary; ``(none)`` is stamped old+1 so a concurrent ``primary`` wins."""
    path = os.path.join(ses.resdir(res), "primary")
    ses.finish_links()
    old_stamp = ses.stamp(path)
    ses.set_link(new, path)
    if new == "(none)":
        if old_stamp:
            ses.finish_links(old_stamp + 1)
    else:
        last = os.path.join(ses.resdir(res), "userspace", "last-primary")
        prev = os.path.join(ses.resdir(res), "userspace", "prev-primary")
        try:
            os.rename(last, prev)
        except OSError:
            pass
        ses.set_link(new, last)
    ses.out("designated primary changed from '%s' to '%s'\n" % (old, new))


def primary_phase0(ses, cmd, res, *_args):
    if cmd != "secondary" and not ses.module_loaded():
        ses.die("cannot switch primary: mars kernel module is not loaded\n")
    if ses.opts.force:
        waits.check_todo(ses, cmd, res, "fetch", 0, False)
    old = lookup.designated_primary(ses, res, -1)
    ses.out("Current designated primary: %s\n" % old)
    resdir = ses.resdir(res)
    if cmd == "primary":
        if ses.host != old:
            if ses.opts.ignore_sync:
                ses.out("Allowing handover in cases of sync: ignore_sync=%d\n" % ses.opts.ignore_sync)
            lookup.check_sync_finished(ses, res, ses.host, ses.opts.ignore_sync)
            names = ses.glob(os.path.join(resdir, "data-*"))
            if len(names) > 2:
                allow = bool(ses.opts.force or ses.opts.ignore_sync)
                if allow:
                    ses.out("Allowing handover in cases of sync: force=%d ignore_sync=%d\n"
                            % (ses.opts.force, ses.opts.ignore_sync))
                for name in names:
                    peer = os.path.basename(name)[len("data-"):]
                    if peer in (old, ses.host):
                        continue
                    alive = lookup.alive_link(ses, "time", peer, 1)
                    dead = not alive or not ses.is_recent(common.parse_stamp(alive))
                    lookup.check_sync_finished(ses, res, peer, allow or dead)
        waits.check_todo(ses, cmd, res, "attach", 1, False)
        if not ses.opts.force:
            waits.check_todo(ses, cmd, res, "fetch", 1, False)
        waits.check_todo(ses, cmd, res, "replay", 1, False)
        code = ses.get_link(os.path.join(resdir, "actual-" + ses.host, "replay-code"), 2)
        if re.match(r"^-[0-9]+", code or ""):
            ses.warn("Logfile replay / recovery stopped with error code %s.\n" % code)
            if not ses.opts.force:
                ses.die("Won't switch to avoid unnoticed data loss. You may however do a 'primary --force'.\n")
    want_path = os.path.join(resdir, "systemd-want")
    if ses.get_link(want_path, 2):
        new, oper = (ses.host, "start") if cmd == "primary" else ("(none)", "stop")
        ses.set_link(new, want_path)
        unit = ses.get_link(os.path.join(resdir, "systemd-%s-unit" % oper), 2)
        if unit:
            if old != "(none)":
                switches.report_systemd_status(ses, res, 0, "stop", old)
            ses.out("IMPORTANT: Relying on systemd for %s of unit '%s'\n" % (oper, unit))
            ses.out("IMPORTANT: unit '%s' wanted at '%s'\n" % (unit, new))
            ses.finish_links()
            ses.trigger(3)
            return 0
    if old == ses.host and cmd == "primary":
        return 0
    if old == "(none)" or not old:
        return 0
    open_count_path = os.path.join(resdir, "actual-" + old, "open-count")
    in_use = ses.get_link(open_count_path, 1)
    if lookup.truthy(in_use):
        dev = lookup.device_name(ses, res, old)
        ses.warn("device '%s' for resource '%s' is %s times in use on primary host '%s'\n" % (dev, res, in_use, old))
        if not ses.opts.force:
            ses.die("first you must umount/close the device (on host '%s')\n" % old)
        ses.warn("First you SHOULD umount/close the device (on host '%s'), but you ignore this recommendation by"
                 " giving the --force option.\n" % old)
    ses.out("all preconditions OK for resource '%s'\n" % res)
    return 0


def primary_phase0a(ses, cmd, res, *_args):
    if not ses.opts.force and "primary" in cmd:
        ses.out("Prepare new primary '%s' handover\n" % ses.host)
        switches.switch(ses, cmd, res, os.path.join(ses.resdir(res), "todo-" + ses.host, "fetch"), True)
    ses.finish_links()
    if ses.opts.force:
        waits.wait_cond(ses, cmd, res, "is-fetch-off")
    return 0


def primary_phase0b(ses, cmd, res, *_args):
    """With systemd units: wait until the old primary's units closed the device."""
    if not switches.systemd_present(ses, res):
        return 0
    old = lookup.designated_primary(ses, res, -1)
    if old in (ses.host, "(none)"):
        return 0
    if not lookup.truthy(ses.get_link(os.path.join(ses.resdir(res), "todo-" + ses.host, "connect"), 1)):
        return 0
    waits.check_status(ses, cmd, res, "open-count", 0, True, 0, False, old)
    return 0


def try_to_avoid_splitbrain(ses, _cmd, res, old_primary):
    """1 (= not yet) until this host has fetched and replayed everything the old primary wrote."""
    if old_primary == "(none)":
        old_primary = ""
    ses.split_cache.pop(res, None)
    if not lookup.detect_splitbrain(ses, res, False):
        ses.warn("ATTENTION: you are starting a non-forced primary switchover in a split brain situation.\n")
        ses.warn("ATTENTION: that's no good idea.\n")
        ses.warn("ATTENTION: I will continue to do what you want.\n")
        ses.warn("ATTENTION: But you are responsible for the consequences.\n")
        return 0
    resdir = ses.resdir(res)
    if len(ses.glob(os.path.join(resdir, "replay-*"))) < 2:
        return 0
    _low, high = lookup.minmax_versions(ses, res)
    replay_err = ses.get_link(os.path.join(resdir, "actual-" + ses.host, "msg-err-replay-stop"), 1)
    if replay_err and replay_err != "OK":
        stamp = ses.stamp(os.path.join(resdir, "actual-" + ses.host, "msg-err-replay-stop"))
        if stamp + ses.opts.window * 1000000000 >= ses.mars_time():
            ses.warn("cannot guarantee split brain avoidance: %s\n" % replay_err)
            return 0
    emergency = ses.get_link(os.path.join(resdir, "actual-" + ses.host, "has-emergency"), 1)
    if lookup.truthy(emergency):
        ses.die("emergency mode %s has been entered locally: handover is not possible. Either free some space in"
                " %s/, or use --force to use a potentially outdated version.\n" % (emergency, ses.show(ses.mars)))
    primary = lookup.designated_primary(ses, res, -1)
    if primary == "(none)":
        candidates = ses.glob(os.path.join(resdir, "log-%09d-*" % high))
        if len(candidates) == 1:
            primary = re.sub(r"^.*/log-[0-9]+-", "", candidates[0])
            ses.out("Using last primary '%s' as a substitute.\n" % primary)
    if primary and primary == ses.host:
        ses.out("Switching back to last primary.\n")
        return 0
    ok = True
    if primary and primary != "(none)":
        replay_p = ses.get_link(os.path.join(resdir, "replay-" + primary))
        replay_h = ses.get_link(os.path.join(resdir, "replay-" + ses.host))
        p_path = os.path.join(resdir, "version-%09d-%s" % (high, primary))
        h_path = os.path.join(resdir, "version-%09d-%s" % (high, ses.host))
        p_vers = ses.get_link(p_path, 1)
        h_vers = ses.get_link(h_path, 1)
        if not p_vers or not h_vers or p_vers != h_vers:
            stable = ses.mars_time() - int(ses.opts.window / 4 * 1000000000)
            if (replay_p == replay_h and p_vers and ses.stamp(p_path) < stable
                    and ses.stamp(os.path.join(resdir, "replay-" + primary)) < stable
                    and ses.stamp(os.path.join(resdir, "replay-" + ses.host)) < stable):
                ses.warn("Correcting the versionlink '%s' from '%s' to '%s'\n" % (ses.show(h_path), h_vers, p_vers))
                ses.set_link(p_vers, h_path)
                ses.finish_links()
            else:
                ok = False
        elif not replay_p or not replay_h or replay_p != replay_h:
            ok = False
    else:
        versions = [ses.get_link(p) for p in ses.glob(os.path.join(resdir, "version-%09d-*" % high))]
        ok = len(set(versions)) <= 1
    if ok:
        return 0
    ses.out("Trying to avoid split brain for %d s: logfile update not yet completed.\n" % ses.opts.timeout)
    ses.out(replinfo(ses, res))
    return 1


def primary_phase1(ses, cmd, res, *_args):
    if ses.opts.force and cmd == "primary":
        return 0
    old = lookup.designated_primary(ses, res, -1)
    if old == ses.host and cmd == "primary":
        return 0
    if not ses.opts.force and cmd == "primary":
        status = try_to_avoid_splitbrain(ses, cmd, res, old)
        if status:
            return status
    if old == "(none)":
        return 0
    _primary_res(ses, res, "(none)", old)
    return 0


def check_primary_gone(ses, res, peer):
    if not peer or peer in ("(none)", ses.host):
        return 0
    value = ses.get_link(os.path.join(ses.resdir(res), "actual-" + peer, "is-primary"), 1)
    if value == "0":
        ses.out("OK, other host (%s) is not actual primary.\n" % peer)
        return 0
    ses.out("waiting for other primary host (%s) to disappear....\n" % peer)
    return 1


def primary_phase1b(ses, cmd, res, *_args):
    HandoverState.phase2_waited = False
    ses.finish_links()
    if ses.opts.force:
        return 0
    old = lookup.designated_primary(ses, res, -1)
    status = check_primary_gone(ses, res, old)
    if status:
        return status
    if cmd == "primary":
        return try_to_avoid_splitbrain(ses, cmd, res, old)
    return 0


def primary_phase2(ses, cmd, res, *_args):
    if ses.opts.force or cmd != "primary":
        return 0
    if not HandoverState.phase2_waited:
        HandoverState.phase2_waited = True
        waits.wait_cluster(ses, cmd)
    return check_primary_gone(ses, res, lookup.designated_primary(ses, res, -1))


def primary_phase2b(ses, cmd, res, *_args):
    """Split-brain avoidance a second time, only with systemd units."""
    if ses.opts.force or not switches.systemd_present(ses, res):
        return 0
    return try_to_avoid_splitbrain(ses, cmd, res, lookup.designated_primary(ses, res, -1))


def primary_phase3(ses, cmd, res, *_args):
    if cmd != "primary":
        return 0
    old = lookup.designated_primary(ses, res, -1)
    _primary_res(ses, res, ses.host, old)
    return 0


def primary_phase3b(ses, _cmd, _res, *_args):
    ses.finish_links()
    return 0


def primary_phase4(ses, cmd, res, *_args):
    if cmd == "secondary":
        waits.check_mars_device(ses, cmd, res, True, True)
        return 0
    ses.split_cache.pop(res, None)
    if not lookup.detect_splitbrain(ses, res, True):
        for line in ("\n",
                     "Sorry, in split brain situations I can only set the _designated_\n",
                     "primary, but I cannot _guarantee_ that becoming the\n",
                     "_actual_ primary is always possible.\n",
                     "You SHOULD resolve the split brain ASAP (e.g. by leave-resource\n",
                     "or invalidate etc).\n",
                     "\n",
                     "If you already tried to resolve the split brain manually, but\n",
                     "this message does not disappear, the reason could be some\n",
                     "hindering left-overs/remains from the former split brain.\n",
                     "ONLY in such a case, try log-purge-all --force.\n",
                     "\n"):
            ses.warn(line)
        return 0
    waits.check_mars_device(ses, cmd, res, True, False)
    switches.up_phase1(ses, cmd, res)
    return 0


def primary_phase5(ses, cmd, res, *_args):
    if not switches.systemd_present(ses, res):
        return 0
    return switches.set_systemd_want_phase2(ses, cmd, res)
