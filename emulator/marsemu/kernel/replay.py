"""Replay on a secondary: apply fetched logfile records to the local disk, in order.

``replay-HOST`` follows the records applied (``log-N-ORIGIN,POS,0``) and every logfile passed gets
its ``version-N-HOST`` link, computed exactly like the primary's, so that a caught-up secondary
shows links byte-identical to the primary's (what marsadm's planned handover waits for).

Before going on from logfile N to the next one, replay checks what ``main.c``'s
``is_switchover_possible`` checks, and stops with the kernel's message when it fails:
* two logfiles with the same number, neither written here: split brain;
* the next logfile's version link must continue this host's own ``version-N`` (its part after
  ``:`` equals ours before ``:``); otherwise the writer of the next logfile started from another
  state than ours (a forced primary during a partition): split brain;
* a gap in the numbers is crossed only where the writer left an emergency-mode hole marker
  (a ``version-M-ORIGIN`` with a zero digest): the unlogged writes of the emergency are then
  missing here, which only a full sync repairs.

A damaged record (a crashed primary's torn tail) stops replay with ``err-replay-stop``; as
``mars_main.c`` does, the own version link is set back to where replay stopped.  If the next
logfile continues from there (the new primary never had the damaged rest), replay switches over to
it ("exceptional switchover"); otherwise the result names the logfile so that it is fetched again
from the designated primary (MARS's self-repair of a damaged logfile), after which replay goes on.

Every pass also checks the logfiles present here for gaps, as ``make_log_step`` does, and warns
("not consecutive") while one lies beyond the replay position.  MARS never replays across a hole;
this replay does, so a hole also warns for as long as the last full sync here (``syncpos-HOST``)
ended before it.
"""

import logging

from marsemu.common import parse_replay
from marsemu.kernel.logfile import LogfileError, read_records
from marsemu.kernel.logger import HOLE_DIGEST, format_replay, logfile_name, logfiles, update_version

LOG = logging.getLogger(__name__)


class ReplayResult:
    """What one replay pass did: still behind?, ``replay-code``, kernel messages (key -> text), and
    ``damaged``: ``(logfile name, position)`` of a record replay cannot pass, or None."""

    def __init__(self):
        self.behind = False
        self.code = 0
        self.messages = {}
        self.damaged = None


def replay_step(tree, res, host, primary, disk, fetching):
    """Replay what is present and may be replayed, up to the primary's logfile; returns a ReplayResult."""
    target = parse_replay(tree.get("resource-%s/replay-%s" % (res, primary)) or "")
    return _replay(tree, res, host, target, disk, fetching)


def replay_before_primary(tree, res, host, disk):
    """Replay every logfile present here, as MARS does before it opens the new primary's logfile.

    A forced primary may have fetched more than it replayed; what it has is applied, so that its
    data and version link include it (and the secondaries that replayed it stay on its history).
    """
    present = logfiles(tree, res)
    if not present:
        return ReplayResult()
    return _replay(tree, res, host, (present[-1][0], None, None), disk, ())


def _replay(tree, res, host, target, disk, fetching):
    result = ReplayResult()
    base = "resource-%s/" % res
    mine = parse_replay(tree.get(base + "replay-" + host) or "")
    if target is None or mine is None:
        return result
    by_number = {}
    for entry in logfiles(tree, res):
        by_number.setdefault(entry[0], []).append(entry)
    nr, origin, pos = mine[0], mine[1], mine[2]
    moved = False
    while True:
        current = next((f for f in by_number.get(nr, ()) if f[1] == origin), None)
        if current is not None and current[2] > pos:
            try:
                pos = _apply(tree.path(base + logfile_name(nr, origin)), pos, current[2], disk)
            except LogfileError as exc:
                LOG.error("%s: replay of %s stopped: %s", res, logfile_name(nr, origin), exc)
                result.code = -5
                result.messages["err-replay-stop"] = "replay of %s stopped: %s" % (logfile_name(nr, origin), exc)
                result.damaged = (logfile_name(nr, origin), exc.pos)
                moved = moved or exc.pos != pos
                pos = exc.pos
                update_version(tree, res, host, nr, origin, pos)  # _recover_versionlink: where replay really is
                # MARS's exceptional switchover: when the next logfile continues from here (the
                # damaged rest never reached the new primary), replay goes on there; otherwise the
                # damaged logfile is fetched again (the version check's complaint is not shown then)
                following = _next_logfile(tree, res, host, nr, by_number, {}) if nr < target[0] else None
                if following is None:
                    break
                LOG.warning("%s: exceptional switchover from %s to %s", res, logfile_name(nr, origin),
                            logfile_name(following[0], following[1]))
                result.damaged = None
                nr, origin, pos = following[0], following[1], 0
                moved = True
                continue
            if pos != mine[2]:
                moved = True
        done_here = current is None or (pos >= current[2] and logfile_name(nr, origin) not in fetching)
        if nr >= target[0] or not done_here:
            break
        update_version(tree, res, host, nr, origin, pos)
        following = _next_logfile(tree, res, host, nr, by_number, result.messages)
        if following is None:
            break
        nr, origin, pos = following[0], following[1], 0
        moved = True
    if moved or (nr, origin, pos) == target[:3]:
        tree.set_if_changed(base + "replay-" + host, format_replay(nr, origin, pos))
        update_version(tree, res, host, nr, origin, pos)
    _warn_gaps(tree, res, host, nr, result.messages)
    stopped = any(key.startswith("err-") for key in result.messages)
    # is-replaying: data applied in this pass; waiting for logfile data (e.g. fetch paused) is not replaying
    result.behind = moved and not stopped
    return result


def _warn_gaps(tree, res, host, replay_nr, messages):
    """``wrn-log-consecutive`` for each gap between logfiles present here that replay has not really passed."""
    syncpos = parse_replay(tree.get("resource-%s/syncpos-%s" % (res, host)) or "")
    present = logfiles(tree, res)
    texts = []
    for (prev, _origin, _size), (nr, origin, _size2) in zip(present, present[1:]):
        if nr == prev + 1:
            continue
        crossed = nr > prev + 1 and syncpos is not None and nr > syncpos[0]  # a hole crossed by replay
        if nr > replay_nr or crossed:
            texts.append("transaction logs are not consecutive at '%s' (%d ~> %d)" % (
                tree.mars_path("resource-%s/%s" % (res, logfile_name(nr, origin))), prev, nr))
    if texts:
        messages["wrn-log-consecutive"] = ",".join(texts)  # make_msg joins the texts of one pass with ','


def _next_logfile(tree, res, host, nr, by_number, messages):
    """The logfile to go on with after ``nr``, or None (not there yet, or refused: see ``messages``)."""
    base = "resource-%s/" % res
    later = sorted(n for n in by_number if n > nr)
    if not later:
        return None
    number = later[0]
    candidates = by_number[number]
    chosen = next((f for f in candidates if f[1] == host), None)  # the kernel prefers its own
    if chosen is None and len(candidates) > 1:
        messages["err-splitbrain-detected"] = (
            "SPLIT BRAIN detected: multiple logfiles with sequence number %d exist" % number)
        return None
    chosen = chosen or candidates[0]
    own_path = base + "version-%09d-%s" % (nr, host)
    own = tree.get(own_path) or ""
    if number != nr + 1:
        marker = tree.get(base + "version-%09d-%s" % (number - 1, chosen[1])) or ""
        if not marker.startswith(HOLE_DIGEST + ","):
            messages["err-log-not-contiguous"] = (
                "logfile sequence numbers are not contiguous (%d != %d + 1)" % (number, nr))
            return None
        tree.set_if_changed(base + "version-%09d-%s" % (number - 1, host), marker)
        own_path = base + "version-%09d-%s" % (number - 1, host)
        own = marker
    new_path = base + "version-%09d-%s" % (number, chosen[1])
    new = tree.get(new_path)
    if not new:
        messages["inf-versionlink-not-yet-exist"] = "we must wait for new versionlink '%s'" % tree.mars_path(new_path)
        return None
    if new.split(":", 1)[-1] != own.split(":", 1)[0]:
        LOG.warning("%s: VERSION MISMATCH old %s -> %s new %s -> %s", res, own_path, own, new_path, new)
        messages["err-splitbrain-detected"] = (
            "VERSION MISMATCH old '%s' -> '%s' new '%s' -> '%s' ===> check for SPLIT BRAIN"
            % (tree.mars_path(own_path), own, tree.mars_path(new_path), new))
        return None
    return chosen


def _apply(path, start, end, disk):
    """Write the complete records of [start, end) to the disk; returns the new position."""
    pos = start
    try:
        with open(path, "rb") as handle:
            for _begin, stop, offset, data in read_records(handle, start, end):
                disk.pwrite(data, offset)
                pos = stop
    finally:
        if pos != start:
            disk.fsync()  # what was applied before a damaged record stays applied
    return pos
