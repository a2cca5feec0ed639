"""Replay on a secondary: apply fetched logfile records to the local disk, in order.

``replay-HOST`` follows the records applied (``log-N-ORIGIN,POS,0``) and every logfile passed gets
its ``version-N-HOST`` link, computed exactly like the primary's, so that a caught-up secondary
shows links byte-identical to the primary's (what marsadm's planned handover waits for).
"""

import logging

from marsemu.kernel.logfile import LogfileError, read_records
from marsemu.kernel.logger import format_replay, logfile_name, logfiles, parse_replay, update_version

LOG = logging.getLogger(__name__)


def replay_step(tree, res, host, primary, disk, fetching):
    """Replay what is present; returns (replaying, error code for ``replay-code``)."""
    base = "resource-%s/" % res
    target = parse_replay(tree.get(base + "replay-" + primary) or "")
    mine = parse_replay(tree.get(base + "replay-" + host) or "")
    if target is None or mine is None:
        return False, 0
    present = {f[0]: f for f in logfiles(tree, res)}
    nr, origin, pos = mine[0], mine[1], mine[2]
    moved = False
    while True:
        current = present.get(nr)
        if current is not None and current[1] == origin and current[2] > pos:
            try:
                pos = _apply(tree.path(base + logfile_name(nr, origin)), pos, current[2], disk)
            except LogfileError as exc:
                LOG.error("%s: replay of %s stopped: %s", res, logfile_name(nr, origin), exc)
                return False, -5
            if pos != mine[2]:
                moved = True
        following = present.get(nr + 1)
        done_here = current is None or (pos >= current[2] and logfile_name(nr, origin) not in fetching)
        if nr < target[0] and following is not None and done_here:
            update_version(tree, res, host, nr, origin, pos)
            nr, origin, pos = following[0], following[1], 0
            moved = True
            continue
        break
    if moved or (nr, origin, pos) == target[:3]:
        tree.set_if_changed(base + "replay-" + host, format_replay(nr, origin, pos))
        update_version(tree, res, host, nr, origin, pos)
    return (nr, pos) < (target[0], target[2]), 0


def _apply(path, start, end, disk):
    """Write the complete records of [start, end) to the disk; returns the new position."""
    pos = start
    with open(path, "rb") as handle:
        for _begin, stop, offset, data in read_records(handle, start, end):
            disk.pwrite(data, offset)
            pos = stop
    if pos != start:
        disk.fsync()
    return pos
