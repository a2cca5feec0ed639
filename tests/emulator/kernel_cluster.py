"""Test harness: several emulated MARS hosts (kernel-side daemons) on one machine.

Each host gets its own MARS_EMU_ROOT directory and listen address 127.0.0.1x; the daemons are
real processes talking real TCP, so they can be stopped (SIGSTOP = cut off), killed and restarted.
Cluster set-up writes links the way marsadm does (tmp + Lamport mtime + rename).
"""

import os
import random
import signal
import subprocess
import sys
import time

import polling
from marsemu.common import DELETED, Paths, format_stamp, lamport_now, parse_stamp, read_link, set_link
from marsemu.kernel import triggerfs
from marsemu.kernel.logfile import append, encode_write

EMULATOR_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "emulator")
FAST = ["--scan-interval", "0.3", "--fetch-interval", "0.3", "--primary-delay", "0.5", "--net-timeout", "2"]


def free_base_port():
    """A base port whose +0..+2 are unlikely to clash with other runs (below the ephemeral range).
    Each pytest-xdist worker draws from its own slice, so that parallel workers never clash."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
    workers = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), worker + 1)
    size = 12000 // workers // 3 * 3
    return 20000 + worker * size + random.randrange(0, size, 3)


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    """tests/polling.py's wait, with the short defaults of in-process emulated hosts."""
    return polling.wait_until(predicate, timeout, what, interval)


class EmuHost:
    """One emulated host: its root directory, its daemon process, and marsadm-like helpers."""

    def __init__(self, base, name, ip, port, extra_args=()):
        self.name = name
        self.ip = ip
        self.port = port
        self.paths = Paths(os.path.join(base, name))
        os.makedirs(self.paths.mars, exist_ok=True)
        self.extra_args = list(extra_args)
        self.python = sys.executable
        self.proc = None
        self.log = os.path.join(base, name + ".log")
        self.seq_nrs = {}  # logfile -> its last record number (write)

    # -- the "module"

    def start(self, wait=True):
        env = dict(os.environ, PYTHONPATH=EMULATOR_DIR)
        argv = [self.python, "-m", "marsemu.kernel", "--root", self.paths.root, "--hostname", self.name,
                "--listen-ip", self.ip, "--port", str(self.port), "--log-level", "DEBUG"] + FAST + self.extra_args
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_loaded(time.time_ns())

    def wait_loaded(self, since_ns):
        """Until the daemon has done a main-loop pass after ``since_ns`` (a fresh ``time`` link)."""
        wait_until(lambda: os.path.exists(self.procsys("trigger")) and (self.stamp("actual-%s/time" % self.name) or 0) > since_ns,
                   what="%s to load" % self.name)

    def stop(self):
        try:
            if self.proc and self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGCONT)
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
                    raise AssertionError("%s did not stop on SIGTERM within 10 s" % self.name) from None
        finally:
            self.proc = None
            # a killed daemon leaves its FUSE trigger mounted (a restart would remove it): leave no mounts behind
            triggerfs.unmount(self.procsys("trigger"))

    def kill9(self):
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def cut(self):
        """Freeze the daemon: peers see a host that does not answer."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def heal(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def procsys(self, name):
        return os.path.join(self.paths.procsys, name)

    def trigger(self, code):
        fd = os.open(self.procsys("trigger"), os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, code.encode())
        finally:
            os.close(fd)

    # -- links

    def path(self, rel):
        return os.path.join(self.paths.mars, rel)

    def get(self, rel):
        return read_link(self.path(rel))

    def stamp(self, rel):
        try:
            return os.lstat(self.path(rel)).st_mtime_ns
        except OSError:
            return None

    def set(self, rel, value, stamp=None):
        stamp = lamport_now(self.paths) if stamp is None else stamp
        set_link(self.path(rel), value, stamp)
        return stamp

    def delete(self, rel):
        return self.set(rel, DELETED)

    def res(self, res, rel):
        return self.get("resource-%s/%s" % (res, rel))

    def size_of(self, rel):
        """Size of a file below /mars (0 if there is none)."""
        try:
            return os.path.getsize(self.path(rel))
        except OSError:
            return 0

    def indicator(self, res, name):
        return self.get("resource-%s/actual-%s/%s" % (res, self.name, name))

    # -- what marsadm would do

    def create_cluster(self):
        stamp = lamport_now(self.paths)
        for sub in ("ips", "userspace", "defaults", "defaults-" + self.name, "todo-global", "actual-" + self.name):
            os.makedirs(self.path(sub), exist_ok=True)
        self.set("uuid", "%s_%s" % (self.name, format_stamp(stamp)))
        self.set("ips/ip-" + self.name, self.ip)
        self.set("defaults-%s/sync-limit" % self.name, "0")

    def join_cluster(self, peer):
        """The new (module loaded) join-cluster: placeholder uuid, then a push to the peer."""
        for sub in ("ips", "userspace", "defaults", "defaults-" + self.name, "todo-global", "actual-" + self.name):
            os.makedirs(self.path(sub), exist_ok=True)
        one = 1000000000
        self.set("uuid", "(any)", one)
        self.set("ips/ip-" + self.name, self.ip, one)
        self.set("ips/ip-" + peer.name, peer.ip, one)
        self.trigger("1")
        self.set("ips/ip-" + self.name, self.ip)
        self.trigger("p %s %s /mars/ips/ip-%s" % (peer.name, self.ip, self.name))

    def create_resource(self, res, disk, size):
        base = "resource-" + res
        for sub in ("", "/defaults", "/defaults-" + self.name, "/local-" + self.name, "/userspace",
                    "/todo-" + self.name, "/actual-" + self.name):
            os.makedirs(self.path(base + sub), exist_ok=True)
        zero = "0" * 32
        self.set(base + "/size", str(size))
        self.set(base + "/primary", self.name)
        self.set(base + "/maxnr", "1")
        self.set(base + "/data-" + self.name, disk)
        self.set(base + "/device-" + self.name, res)
        self.set(base + "/replay-" + self.name, "log-000000001-%s,0,0" % self.name)
        open(self.path(base + "/log-000000001-" + self.name), "wb").close()
        self.set(base + "/syncstatus-" + self.name, str(size))
        self.set(base + "/version-000000000-" + self.name, "%s,log-000000000-%s,0:" % (zero, self.name))
        self.set(base + "/version-000000001-" + self.name,
                 "%s,log-000000001-%s,0:%s,log-000000000-%s,0" % (zero, self.name, zero, self.name))
        for switch in ("connect", "sync", "allow-replay"):
            self.set("%s/todo-%s/%s" % (base, self.name, switch), "1")
        self.set("%s/actual-%s/if-on" % (base, self.name), "0")
        self.set("%s/todo-%s/attach" % (base, self.name), "1")
        self.trigger("3")

    def join_resource(self, res, disk, primary):
        base = "resource-" + res
        for sub in ("/defaults-" + self.name, "/local-" + self.name, "/todo-" + self.name, "/actual-" + self.name):
            if not os.path.lexists(self.path(base + sub)):  # marsadm's mkdir keeps a ".deleted" left by leave-resource
                os.makedirs(self.path(base + sub))
        self.set(base + "/data-" + self.name, disk)
        self.set(base + "/device-" + self.name, res)
        self.trigger("p %s %s /mars/%s/data-%s" % (primary.name, disk, base, self.name))
        replay = primary.res(res, "replay-" + primary.name)
        self.set(base + "/replay-" + self.name, replay)
        nr = int(replay.split(",")[0].split("-")[1])
        for number in (nr, nr - 1):  # marsadm fakes two version links from the primary's
            value = primary.res(res, "version-%09d-%s" % (number, primary.name))
            if number > 0 and value:
                self.set(base + "/version-%09d-%s" % (number, self.name), value)
        self.set(base + "/syncstatus-" + self.name, "0")
        self.set(base + "/skip-check-" + self.name, "1")
        for switch in ("connect", "sync", "allow-replay"):
            self.set("%s/todo-%s/%s" % (base, self.name, switch), "1")
        self.set("%s/actual-%s/if-on" % (base, self.name), "0")
        self.set("%s/todo-%s/attach" % (base, self.name), "1")
        self.trigger("3")

    def write(self, res, offset, data):
        """Stand-in for the write path of /dev/mars/RES on the primary: log records, then the disk."""
        name = self.res(res, "replay-" + self.name).split(",")[0]
        path = self.path("resource-%s/%s" % (res, name))
        records, self.seq_nrs[path] = encode_write(offset, data, time.time_ns(), self.seq_nrs.get(path, 0))
        with open(path, "ab") as log:
            append(log, records)
        with open(self.res(res, "data-" + self.name), "r+b") as disk:
            disk.seek(offset)
            disk.write(data)

    def links(self):
        """``{rel: value}`` of every non-dot symlink (for convergence checks)."""
        result = {}
        for top, dirs, files in os.walk(self.paths.mars):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files + dirs:
                full = os.path.join(top, name)
                if not name.startswith(".") and os.path.islink(full):
                    result[os.path.relpath(full, self.paths.mars)] = os.readlink(full)
        return result


class EmuCluster:
    """Hosts h1..hN at 127.0.0.11.. sharing one base port."""

    def __init__(self, base, count=3, extra_args=()):
        self.port = free_base_port()
        self.hosts = [EmuHost(base, "h%d" % (i + 1), "127.0.0.%d" % (11 + i), self.port, extra_args)
                      for i in range(count)]

    def __getitem__(self, index):
        return self.hosts[index]

    def start(self):
        since = time.time_ns()
        for host in self.hosts:
            host.start(wait=False)
        try:
            for host in self.hosts:
                host.wait_loaded(since)
        except AssertionError:
            self.stop()
            raise

    def stop(self):
        errors = []
        for host in self.hosts:
            try:
                host.stop()
            except AssertionError as exc:
                errors.append(str(exc))
        assert not errors, errors

    def form(self):
        """create-cluster on h1, join-cluster on the others, wait until all know each other."""
        first = self.hosts[0]
        first.create_cluster()
        for host in self.hosts[1:]:
            host.join_cluster(first)
        uuid = first.get("uuid")
        for host in self.hosts:
            wait_until(lambda h=host: h.get("uuid") == uuid and all(
                h.get("ips/ip-" + o.name) for o in self.hosts), timeout=15, what="%s to join" % host.name)


def wait_for_pass(host, res="r1", since=None, passes=1):
    """Until HOST's daemon has run PASSES whole main-loop passes that began after SINCE (a Lamport
    stamp, default now): proof that it had its chance to act on what was there before.  The tasks
    a pass starts (fetch, sync) have run before the next pass begins.

    A pass writes ``actual-HOST/time`` first and the resource's ``is-primary`` indicator last; the
    stamp of the latter is returned (the end of the last pass, on HOST's clock).  With RES None (a
    resource HOST is no member of) the next pass's beginning stands for the end.
    """
    began = max(time.time_ns(), lamport_now(host.paths)) if since is None else since
    alive = "actual-%s/time" % host.name
    indicator = "resource-%s/actual-%s/is-primary" % (res, host.name) if res else alive
    ended = None
    for _pass in range(passes):
        began = wait_until(lambda b=began: (host.stamp(alive) or 0) > b and host.stamp(alive), what="a pass of %s" % host.name)
        ended = wait_until(lambda b=began: (host.stamp(indicator) or 0) > b and host.stamp(indicator),
                           what="%s's pass over %s" % (host.name, res))
    return ended


def wait_for_merge(host, peer, since=None):
    """Until HOST has merged a dentry list of PEER that PEER read after SINCE (PEER's Lamport clock,
    default now): ``actual-PEER/read-stamp`` holds that reading stamp."""
    since = max(time.time_ns(), lamport_now(peer.paths)) if since is None else since
    wait_until(lambda: parse_stamp(host.get("actual-%s/read-stamp" % peer.name)) > since,
               what="%s to merge %s's tree" % (host.name, peer.name))


def log_count(host, text):
    """How often TEXT occurs in HOST's daemon log (DEBUG level): each occurrence is an event."""
    with open(host.log, encoding="utf-8", errors="replace") as handle:
        return handle.read().count(text)


def caught_up(host, primary, res="r1"):
    """HOST's replay link and the version link of that logfile equal PRIMARY's (in HOST's tree).

    What marsadm's planned handover waits for.  Like the kernel (``write_info_links``), replay
    writes the replay link first and the version link right after it, so the replay link alone
    can already match while the version link still shows the previous position.
    """
    replay = host.res(res, "replay-" + host.name)
    if not replay or replay != host.res(res, "replay-" + primary.name):
        return False
    number = int(replay.split("-")[1])
    version = host.res(res, "version-%09d-%s" % (number, host.name))
    return version is not None and version == host.res(res, "version-%09d-%s" % (number, primary.name))


def replayed_everything(host, primary):
    """HOST has replayed r1 up to where PRIMARY's log ends.

    PRIMARY's replay link must have reached the end of its logfile first: the primary publishes its
    log end once per pass, so right after a write both links can still show the old end, and would
    be equal before anything was shipped.
    """
    published = primary.res("r1", "replay-" + primary.name)
    if not published:
        return False
    name, pos = published.split(",")[:2]
    return int(pos) == primary.size_of("resource-r1/" + name) and host.res("r1", "replay-" + host.name) == published
