# -*- coding: utf-8 -*-
# Copyright: georep.mars developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check how full /mars is; write a status file; exit non-zero above the threshold.

When /mars fills up, MARS goes into emergency mode: the primary stops transaction logging and
leaves a hole in the logfile sequence, and secondaries then need a full sync. This check warns
before that. It also reports the kernel's own emergency level (actual-HOST/emergency).

The emergency level is read as georep.mars.info reads it, with the collection's /mars reader:
tree.py and state.py, which the housekeeping role installs beside this script (in the collection
they are plugins/module_utils).

Exit status: 0 ok, 1 above the warning threshold, 2 above the critical threshold or in
emergency, 3 /mars cannot be read.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.realpath(__file__))
# Where tree.py and state.py are: beside this script on a host; in the collection (a checkout or
# an installed collection) in plugins/module_utils, three levels above roles/housekeeping/files.
READER_DIRS = (HERE, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), "plugins", "module_utils"))
for _directory in READER_DIRS:
    if all(os.path.isfile(os.path.join(_directory, name)) for name in ("tree.py", "state.py")):
        sys.path.insert(0, _directory)
        break
_BYTECODE, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ left beside the script
try:
    from state import ClusterState  # noqa: E402 pylint: disable=wrong-import-position
    from tree import MARS_DIR, MarsTree  # noqa: E402 pylint: disable=wrong-import-position
except ImportError as _error:
    # exit status 3 (unknown), which fails the play, not 1 (a mere warning)
    sys.stderr.write("UNKNOWN: cannot import the /mars reader (%s): tree.py and state.py of the georep.mars "
                     "collection (plugins/module_utils) must be beside %s; the georep.mars.housekeeping role "
                     "installs them there\n" % (_error, os.path.realpath(__file__)))
    sys.exit(3)
sys.dont_write_bytecode = _BYTECODE

LEVELS = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}
# georep.mars.info's default; the emergency level does not depend on it.
WINDOW = 60


def used_percent(mars_dir):
    """(used %, available bytes, size bytes) as df computes them."""
    stat = os.statvfs(mars_dir)
    used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    avail = stat.f_bavail * stat.f_frsize
    total = used + avail
    return (100.0 * used / total if total else 0.0), avail, stat.f_blocks * stat.f_frsize


def kernel_emergency(mars_dir, host):
    """The kernel's global emergency level of HOST (actual-HOST/emergency), 0 when unknown."""
    return ClusterState(MarsTree.read(mars_dir), host, time.time(), WINDOW).global_emergency(host)


def check(mars_dir, host, warn, crit):
    """(level, one-line message, fields for the status file)."""
    if not os.path.ismount(mars_dir):
        return "unknown", "%s is not mounted" % mars_dir, {}
    try:
        percent, avail, size = used_percent(mars_dir)
    except OSError as error:
        return "unknown", "cannot read %s: %s" % (mars_dir, error), {}
    emergency = kernel_emergency(mars_dir, host)
    fields = {"used_percent": "%.1f" % percent, "avail_bytes": avail, "size_bytes": size, "emergency": emergency,
              "warn_percent": warn, "crit_percent": crit}
    where = "%s on %s is %.1f %% full (%.2f GiB free)" % (mars_dir, host, percent, avail / 1073741824.0)
    if emergency:
        return "critical", "%s and MARS reports emergency level %d: free space now, then invalidate the secondaries" % (
            where, emergency), fields
    if percent >= crit:
        return "critical", "%s, above %s %%: run 'marsadm cron', find the secondary that holds the logfiles" \
            " back (view-replay-rest), or grow /mars before MARS stops logging" % (where, crit), fields
    if percent >= warn:
        return "warning", "%s, above %s %%" % (where, warn), fields
    return "ok", where, fields


def write_status(path, level, message, fields, now):
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    lines = ["level=%s" % level, "message=%s" % message, "checked=%d" % now]
    lines += ["%s=%s" % (key, fields[key]) for key in sorted(fields)]
    tmp = os.path.join(directory, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mars-dir", default=MARS_DIR)
    parser.add_argument("--host", default=None, help="MARS host name (default: uname -n up to the first dot)")
    parser.add_argument("--warn-percent", type=float, default=80.0)
    parser.add_argument("--crit-percent", type=float, default=90.0)
    parser.add_argument("--status-file", default=None, help="write level, message and numbers here (key=value lines)")
    args = parser.parse_args(argv)
    host = args.host or socket.gethostname().split(".")[0]
    level, message, fields = check(args.mars_dir, host, args.warn_percent, args.crit_percent)
    if args.status_file:
        write_status(args.status_file, level, message, fields, time.time())
    stream = sys.stdout if level == "ok" else sys.stderr
    stream.write("%s: %s\n" % (level.upper(), message))
    return LEVELS[level]


if __name__ == "__main__":
    sys.exit(main())
