"""Transaction-log bookkeeping: logfile names, ``replay-HOST`` and the ``version-*`` hash chain.

The formats are those of ``main.c`` (``_update_replay_link``, ``_update_version_link``):
* ``replay-HOST``  = ``log-NNNNNNNNN-ORIGIN,POS,LEN``;
* ``version-N-HOST`` = ``MD5,log-N-ORIGIN,LOGPOS:PREVDIGEST`` where MD5 is the md5 of
  ``"N,ORIGIN,LOGPOS:" + <the whole previous version-(N-1)-HOST link>`` (nothing for N = 1) and
  PREVDIGEST is the part of that previous link before its ':'.
So a secondary that has replayed the same logfiles computes byte-identical links, which is what
marsadm's planned handover waits for.

``PrimaryLogger`` is the primary side: on becoming primary it continues its own newest logfile or
starts the next one, and it follows a ``log-rotate`` (marsadm creating the next empty logfile).
The records themselves (see ``logfile``) are appended by the write path of /dev/mars/RES; the
logger publishes the growing log end as ``replay-HOST`` (LEN 0: written back) and ``version``.
"""

import hashlib
import os
import re

from marsemu.common import parse_replay

LOGFILE = re.compile(r"^log-(\d{9})-(.+)$")
# the digest of a version link that marks a hole in the logfile sequence (emergency mode)
HOLE_DIGEST = "0" * 32


def logfile_name(nr, origin):
    return "log-%09d-%s" % (nr, origin)


def format_replay(nr, origin, pos, length=0):
    return "%s,%d,%d" % (logfile_name(nr, origin), pos, length)


def version_value(nr, origin, logpos, prev_link):
    """The value of ``version-N-HOST`` as main.c computes it."""
    prev_link = prev_link or ""
    data = "%d,%s,%d:%s" % (nr, origin, logpos, prev_link if nr > 1 else "")
    digest = hashlib.md5(data.encode()).hexdigest()
    prev_digest = prev_link.split(":", 1)[0] if nr > 1 else ""
    return "%s,%s,%d:%s" % (digest, logfile_name(nr, origin), logpos, prev_digest)


def logfiles(tree, res):
    """Logfiles present locally in ``resource-RES``, as sorted ``(N, ORIGIN, size)``."""
    directory = tree.path("resource-" + res)
    result = []
    try:
        names = os.listdir(directory)
    except OSError:
        return result
    for name in names:
        match = LOGFILE.match(name)
        if not match:
            continue
        path = os.path.join(directory, name)
        if os.path.isfile(path) and not os.path.islink(path):
            result.append((int(match.group(1)), match.group(2), os.path.getsize(path)))
    return sorted(result)


def update_version(tree, res, host, nr, origin, logpos):
    """Write ``version-N-HOST`` (only if its value changes, as ``_update_link_when_necessary``)."""
    base = "resource-%s/" % res
    prev = tree.get(base + "version-%09d-%s" % (nr - 1, host)) if nr > 1 else None
    tree.set_if_changed(base + "version-%09d-%s" % (nr, host), version_value(nr, origin, logpos, prev))


class PrimaryLogger:
    """The logger of a resource on its primary."""

    def __init__(self, tree, res, host):
        self.tree = tree
        self.res = res
        self.host = host
        self.nr = None

    def _replay_rel(self):
        return "resource-%s/replay-%s" % (self.res, self.host)

    def start(self):
        """Becoming primary: continue our own newest logfile, or open the next one."""
        files = logfiles(self.tree, self.res)
        replay = parse_replay(self.tree.get(self._replay_rel()) or "")
        newest = files[-1] if files else None
        if newest and newest[1] == self.host and replay and replay[0] == newest[0]:
            self._switch(newest[0], newest[2])
            return
        nr = max([f[0] for f in files] + [replay[0] if replay else 0]) + 1
        path = self.tree.path("resource-%s/%s" % (self.res, logfile_name(nr, self.host)))
        with open(path, "ab"):
            pass
        self._switch(nr, 0)

    def step(self, move_writes=None):
        """Each pass: follow a log-rotate (a newer empty logfile of ours) and the log's growth.

        On a log-rotate ``move_writes(path)`` sends the writes to the new logfile first; then the
        old logfile's version link gets its final length (what the secondaries will have replayed)
        before the new one's version link continues the chain from it.
        """
        files = [f for f in logfiles(self.tree, self.res) if f[1] == self.host]
        if not files or self.nr is None or files[-1][0] < self.nr:
            return
        nr, _origin, size = files[-1]
        if nr > self.nr:
            if move_writes is not None:
                move_writes(self.tree.path("resource-%s/%s" % (self.res, logfile_name(nr, self.host))))
            try:
                final = os.path.getsize(self.current_path())
            except OSError:  # deleted meanwhile
                final = None
            if final is not None:
                update_version(self.tree, self.res, self.host, self.nr, self.host, final)
        self._switch(nr, size)

    def create_hole(self):
        """Emergency mode: leave a hole of ten numbers and go on in a new, empty logfile after it.

        ``version-M-HOST`` with a zero digest marks the hole (as ``main.c`` does), so that a
        secondary can tell a hole from a lost logfile.
        """
        highest = max([f[0] for f in logfiles(self.tree, self.res)] + [self.nr or 0])
        marker = highest + 10
        base = "resource-%s/" % self.res
        self.tree.set(base + "version-%09d-%s" % (marker, self.host),
                      "%s,%s,0:" % (HOLE_DIGEST, logfile_name(marker, self.host)))
        with open(self.tree.path(base + logfile_name(marker + 1, self.host)), "ab"):
            pass
        self._switch(marker + 1, 0)

    def current_path(self):
        return self.tree.path("resource-%s/%s" % (self.res, logfile_name(self.nr, self.host)))

    def _switch(self, nr, pos):
        self.nr = nr
        self.tree.set_if_changed(self._replay_rel(), format_replay(nr, self.host, pos))
        update_version(self.tree, self.res, self.host, nr, self.host, pos)
