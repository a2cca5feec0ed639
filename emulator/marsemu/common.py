"""Helpers shared by the emulated kernel side and the emulated marsadm.

Every path is derived from a root directory so that tests can run several emulated hosts on
one machine: ``MARS_EMU_ROOT`` (default ``/``) prefixes ``/mars``, ``/proc/sys/mars``,
``/dev/mars`` and the sysfs size files; ``MARS_EMU_HOSTNAME`` overrides the host name.
On a lab host neither is set, so everything lives at the real MARS paths.
"""

import os
import re
import time

DELETED = ".deleted"


class Paths:
    """Where one (emulated) host keeps its MARS state."""

    def __init__(self, root=None):
        self.root = root if root is not None else os.environ.get("MARS_EMU_ROOT", "/")
        self.mars = os.path.join(self.root, "mars")
        self.procsys = os.path.join(self.root, "proc/sys/mars")
        self.dev_mars = os.path.join(self.root, "dev/mars")
        self.sys_block = os.path.join(self.root, "sys/devices/virtual/block")

    def resource(self, res):
        return os.path.join(self.mars, "resource-" + res)

    def device_size_file(self, dev):
        # marsadm reads /sys/devices/virtual/block/mars!<dev>/size (512-byte sectors)
        return os.path.join(self.sys_block, "mars!" + dev, "size")


def hostname():
    """The MARS host name: ``uname -n`` up to the first dot, as marsadm uses it."""
    name = os.environ.get("MARS_EMU_HOSTNAME") or os.uname().nodename
    return name.split(".")[0]


# Stamps are integer nanoseconds throughout: a float cannot hold ``sec.nsec`` exactly, and
# last-writer-wins compares them.

def format_stamp(stamp_ns):
    """A Lamport stamp as MARS prints it: ``sec.nsec`` with nine digits."""
    return "%d.%09d" % divmod(stamp_ns, 1000000000)


STAMP_RE = re.compile(r"^\s*([0-9]+)(?:\.([0-9]*))?")
REPLAY_RE = re.compile(r"^log-([0-9]+)-([^,]+),([0-9]+),([0-9]+)")


def parse_stamp(text):
    """``sec.nsec`` (or whole seconds) to integer nanoseconds; 0 for missing or garbage.

    Like Perl's numeric reading in marsadm: leading blanks and trailing junk are ignored.
    """
    match = STAMP_RE.match(text or "")
    if not match:
        return 0
    return int(match.group(1)) * 1000000000 + int(((match.group(2) or "") + "000000000")[:9])


def parse_replay(value):
    """A ``replay-HOST`` value ``log-N-ORIGIN,POS,LEN`` to ``(N, ORIGIN, POS, LEN)``; None if unreadable.

    POS is where replay (or, on a primary, write-back) starts in logfile N, LEN what is still to
    be applied from there (main.c ``_update_replay_link``).
    """
    match = REPLAY_RE.match(value or "")
    if not match:
        return None
    return int(match.group(1)), match.group(2), int(match.group(3)), int(match.group(4))


def lamport_now(paths):
    """marsadm's clock: ``lamport_now=`` from /proc/sys/mars/lamport_clock, never behind wall time.

    The kernel computes that line when it is read, and its Lamport clock never falls behind real
    time; the emulator rewrites the file every 50 ms, so a value read from it can be stale. Without
    the max, a link marsadm writes could carry a stamp older than a pass of the module that began
    before it, and that pass would take it for old news and overwrite it."""
    now = time.time_ns()
    try:
        with open(os.path.join(paths.procsys, "lamport_clock"), encoding="ascii") as handle:
            for field in handle.read().split():
                if field.startswith("lamport_now="):
                    stamp = parse_stamp(field.split("=", 1)[1])
                    if stamp:
                        return max(stamp, now)
    except OSError:
        pass
    return now


def read_link(path):
    """The value of a MARS link, or None when it is missing or marked ``.deleted``."""
    try:
        value = os.readlink(path)
    except OSError:
        return None
    return None if value == DELETED else value


def link_stamp(path):
    """The Lamport stamp (mtime in ns) of a link itself, or None when it is missing."""
    try:
        return os.lstat(path).st_mtime_ns
    except OSError:
        return None


def set_link(path, value, stamp):
    """Write a link the way MARS does: temporary name, Lamport mtime, then rename over the target.

    A directory of the same name is removed first (it must be empty, as with marsadm).
    """
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, ".tmp.%d.%s" % (os.getpid(), name))
    # three system calls when all is well (the emulated module writes hundreds of links a second)
    try:
        os.symlink(value, tmp)
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
        os.symlink(value, tmp)
    except FileExistsError:  # left behind by an interrupted write
        os.unlink(tmp)
        os.symlink(value, tmp)
    os.utime(tmp, ns=(stamp, stamp), follow_symlinks=False)
    try:
        os.rename(tmp, path)
    except IsADirectoryError:
        os.rmdir(path)
        os.rename(tmp, path)


def delete_link(path, stamp):
    """Mark a link deleted for the whole cluster (MARS never just unlinks)."""
    set_link(path, DELETED, stamp)
