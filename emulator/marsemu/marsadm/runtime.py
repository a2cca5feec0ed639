"""The state of one marsadm invocation: options, output channels, error count, clock, link batch.

marsadm's output conventions are kept exactly:
* progress text goes to stdout, ``WARNING: ``/``   HINT: ``/``DYING: `` lines to stderr;
* ``ldie`` counts an error and unwinds to the per-resource handler (which prints
  ``FAILURE cmd='…' res='…'`` on stdout and counts once more, hence rc 2);
* links are staged (``.tmp.<pid>.<name>``) and made visible together by ``finish_links``, all with
  the same Lamport stamp, followed by a kernel trigger.
"""

import glob as globmod
import os
import re
import sys
import time

from marsemu import common

MARSADM_VERSION = "2.9"
DEFAULT_TIMEOUT = 600
DEFAULT_WINDOW = 60
NSEC = 1000000000

RESERVED_ID = re.compile(r"^(none|all|any|full|empty|undefined|remote|local|localhost)$")


class Dying(Exception):
    """Raised by ``ldie`` after the message is printed; caught per resource or at top level.

    ``exit_code`` is used when nothing catches it: Perl's ``die`` exits with ``$!``, the errno of
    the last failed syscall.  The marsadm the lab pins (WIP-qio-for-5.10) reads the absent
    ``/mars/compat-deletions`` at start-up, so its early deaths exit with ENOENT (2); master's
    marsadm lacks that read and exits with ENOTTY (25) from its stdio set-up instead."""

    def __init__(self, text, exit_code=2):
        super().__init__(text)
        self.exit_code = exit_code


class Options:
    """Global options as parsed from argv (names and defaults as in marsadm)."""

    def __init__(self):
        self.force = 0
        self.ignore_sync = 0
        self.dry_run = 0
        self.verbose = 0
        self.timeout = DEFAULT_TIMEOUT
        self.window = DEFAULT_WINDOW
        self.parallel = -999
        self.threshold = 10 * 1024 * 1024
        self.thresh_logfiles = 10
        self.thresh_logsize = 5
        self.stuck_seconds = 3600
        self.keep_backup_hours = 168
        self.max_deletions = 512
        self.autoclean_days = 0
        self.macro = None
        self.ignore_deleted_peers = 1
        self.known_ips = {}
        self.host = None


def alphanum_key(text):
    """marsadm's ``alphanum_cmp``: digit runs compare numerically."""
    return re.sub(r"[0-9]+", lambda m: "%012d" % int(m.group(0)), text)


def alphanum_sorted(items):
    return sorted(items, key=alphanum_key)


class Session:
    """Everything one run needs; the command modules receive it as ``ses``."""

    def __init__(self, stdout=None, stderr=None, paths=None, sleep=None, hostname=None):
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.paths = paths or common.Paths()
        self.mars = self.paths.mars
        self.opts = Options()
        self.real_host = hostname or common.hostname()
        self.host = self.real_host
        self.error_count = 0
        self.sleep = sleep or time.sleep
        self.pending = []          # staged link paths, in order
        self.pending_values = {}
        self.timeout_budget = None
        self.skip_res = set()
        self.old_primary = {}
        self.split_cache = {}
        self.visited_pos = set()  # (logfile nr, origin) seen by version-link walks
        # MARS_EMU_CRON_SLEEP replaces the fixed 7 s pause of ``cron`` (tests keep it short)
        self.cron_sleep = float(os.environ.get("MARS_EMU_CRON_SLEEP", "7"))

    # ---------------------------------------------------------------- output
    def out(self, text):
        self.stdout.write(text)
        self.stdout.flush()

    def err(self, text):
        self.stderr.write(text)
        self.stderr.flush()

    def warn(self, text):
        self.err("WARNING: " + text)

    def hint(self, text):
        self.err("   HINT: " + text)

    def die(self, text, exit_code=2):
        self.error_count += 1
        self.err("DYING: " + text)
        raise Dying(text, exit_code)

    # ---------------------------------------------------------------- paths
    def mpath(self, *parts):
        """A path below /mars (under the emulation root)."""
        return os.path.join(self.mars, *parts)

    def resdir(self, res):
        return os.path.join(self.mars, "resource-" + res)

    @staticmethod
    def make_dir(path):
        """marsadm's ``mkdir``: nothing happens where anything exists, e.g. the ``.deleted`` link that
        leave-resource leaves in place of an empty ``local-HOST`` (a rejoin keeps it, as the real one)."""
        if not os.path.lexists(path):
            os.makedirs(path, exist_ok=True)

    def show(self, path):
        """A path as marsadm prints it: without the emulation root prefix."""
        root = self.paths.root.rstrip("/")
        if root and path.startswith(root + "/"):
            return path[len(root):]
        return path

    def module_loaded(self):
        return os.path.isdir(self.paths.procsys)

    def mars_mounted(self):
        """marsadm runs ``mountpoint /mars``.

        ``MARS_EMU_MOUNTED=1``/``0`` overrides the answer (a lab without a dedicated filesystem,
        or a test of the unmounted case); otherwise under an emulation root (tests) a plain
        directory counts as mounted, and at ``/`` the real mount table decides.
        """
        override = os.environ.get("MARS_EMU_MOUNTED")
        if override in ("0", "1"):
            return override == "1"
        if self.paths.root not in ("", "/"):
            return True
        return os.path.ismount(self.mars)

    # ---------------------------------------------------------------- clock
    def mars_time(self):
        """Integer nanoseconds: the kernel's Lamport clock, else whole wall-clock seconds."""
        try:
            with open(os.path.join(self.paths.procsys, "lamport_clock"), encoding="ascii") as handle:
                for line in handle.read().splitlines():
                    if line.startswith("lamport_now="):
                        stamp = common.parse_stamp(line.split("=", 1)[1])
                        if stamp:  # marsadm: an empty or zero clock falls back to time()
                            return stamp
        except OSError:
            pass
        return int(time.time()) * NSEC

    def is_recent(self, stamp_ns, window_s=None):
        if not stamp_ns:
            return False
        if window_s is None:
            window_s = self.opts.window * 2
        return stamp_ns + int(window_s * NSEC) >= self.mars_time()

    def sleep_timeout(self, seconds=1, cont=False):
        """Sleep from the run's shared timeout budget; True (or death) once it is used up."""
        if self.timeout_budget is None:
            self.timeout_budget = self.opts.timeout
        if self.timeout_budget <= 0:
            self.timeout_budget = None
            if not cont:
                self.die("Timeout reached.\n")
            self.warn("Timeout reached. Continuing anyway.\n")
            return True
        rest = min(self.timeout_budget, seconds)
        self.sleep(rest)
        self.timeout_budget -= rest
        return False

    # ---------------------------------------------------------------- links
    def get_link(self, path, unchecked=0):
        """marsadm ``get_link``: '' for missing or ``.deleted``; dies unless ``unchecked``."""
        try:
            value = os.readlink(path)
        except OSError:
            if not unchecked:
                self.die("cannot read symlink '%s'\n" % self.show(path))
            if unchecked == 1:
                self.warn("cannot read symlink '%s'\n" % self.show(path))
            return ""
        return "" if value == common.DELETED else value

    @staticmethod
    def raw_link(path):
        try:
            return os.readlink(path)
        except OSError:
            return None

    @staticmethod
    def link_exists(path):
        value = Session.raw_link(path)
        return value is not None and value != common.DELETED

    @staticmethod
    def stamp(path):
        return common.link_stamp(path) or 0

    def glob(self, pattern):
        """``lamport_glob``: shell glob without entries marked ``.deleted``."""
        result = []
        for path in sorted(globmod.glob(pattern)):
            if self.raw_link(path) == common.DELETED:
                continue
            result.append(path)
        return result

    @staticmethod
    def raw_glob(pattern):
        return sorted(globmod.glob(pattern))

    def set_link(self, value, path):
        """Stage a link; it becomes visible at the next ``finish_links``."""
        path = path.rstrip("/")
        directory, name = os.path.split(path)
        tmp = os.path.join(directory, ".tmp.%d.%s" % (os.getpid(), name))
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            pass
        try:
            os.symlink(value, tmp)
        except OSError:
            self.die("cannot create symlink '%s' -> '%s'\n" % (self.show(path), value))
        if path in self.pending_values:
            self.pending.remove(path)
        self.pending_values[path] = value
        self.pending.append(path)

    def create_delete(self, path):
        self.set_link(common.DELETED, path)

    def finish_links(self, stamp_ns=None):
        """Give every staged link the same Lamport mtime and rename it into place."""
        if not self.pending:
            return
        if not stamp_ns:
            stamp_ns = self.mars_time()
        trigger_code = 1
        count = 0
        while self.pending:
            path = self.pending.pop(0)
            self.pending_values.pop(path, None)
            directory, name = os.path.split(path)
            tmp = os.path.join(directory, ".tmp.%d.%s" % (os.getpid(), name))
            target = self.raw_link(tmp)
            if target is None:
                continue
            try:
                os.utime(tmp, ns=(stamp_ns, stamp_ns), follow_symlinks=False)
            except OSError:
                self.warn("cannot set mtime on symlink '%s'\n" % self.show(tmp))
            if self.opts.dry_run:
                self.out("DRY_RUN: would create symlink '%s' -> '%s'\n" % (self.show(path), target))
                os.unlink(tmp)
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                try:
                    os.rmdir(path)
                except OSError:
                    pass
            try:
                os.rename(tmp, path)
            except OSError:
                self.warn("cannot finalize symlink '%s'\n" % self.show(path))
            else:
                if self.opts.verbose:
                    self.out("created symlink '%s' -> '%s'\n" % (self.show(path), target))
            count += 1
            if re.search(r"/(primary|todo-global|ip)", path):
                trigger_code = 2
        if count:
            self.trigger(trigger_code)

    def trigger(self, code=1):
        """Wake the kernel via /proc/sys/mars/trigger; silently nothing without the module."""
        if self.opts.dry_run:
            self.out("DRY_RUN: would execute trigger '%s'\n" % code)
            return
        if self.opts.verbose:
            self.out("Trigger '%s'\n" % code)
        # non-blocking: the emulated trigger is a FIFO, and a stale one without reader must not hang us
        try:
            fd = os.open(os.path.join(self.paths.procsys, "trigger"), os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return
        try:
            # newline-terminated: in the emulator's FIFO, writes that arrive together must stay apart
            os.write(fd, (str(code) + "\n").encode("ascii", "replace"))
        except OSError:
            pass
        finally:
            os.close(fd)

    def push_link(self, peer, value, path):
        """Ask the kernel to push one link to a peer (``p PEER SRC DST``)."""
        if not peer or not value or not path:
            self.warn("Bad push_link args\n")
            return
        if peer == self.real_host:
            self.set_link(value, path)
            return
        self.trigger("p %s %s %s" % (peer, value, self.show(path)))

    def safe_creat(self, path):
        """Create an empty regular file (replacing a ``.deleted`` marker), never following links."""
        if os.path.islink(path) and self.raw_link(path) == common.DELETED:
            os.unlink(path)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_RDONLY, 0o600)
        except OSError:
            return False
        os.close(fd)
        return True
