"""Test-only helpers for the emulated marsadm: per-host temp roots, a tiny fake kernel that plays
the MARS module (alive links, role indicators, instant sync/replay, tree replication between the
hosts) and real loop devices as backing disks.

The fake kernel is deliberately minimal; the real emulated kernel lives in marsemu/kernel and is
exercised by the lab lifecycle.
"""

import io
import os
import subprocess
import threading
import time

import loopdevs
from marsemu import common
from marsemu.marsadm import main

NSEC = 1000000000
SLEEP_SCALE = 0.1


class Host:
    """One emulated host: its own root (``/mars``, ``/proc/sys/mars``) and name."""

    def __init__(self, base, name):
        self.name = name
        self.root = os.path.join(base, name)
        self.paths = common.Paths(self.root)
        os.makedirs(self.paths.mars, exist_ok=True)
        os.chmod(self.paths.mars, 0o700)

    def run(self, *argv):
        """One marsadm call; its polling sleeps are shortened tenfold (deadlines use the clock)."""
        out, err = io.StringIO(), io.StringIO()
        rc = main(list(argv), stdout=out, stderr=err, root=self.root, hostname=self.name,
                  sleep=lambda seconds: time.sleep(seconds * SLEEP_SCALE))
        return rc, out.getvalue(), err.getvalue()

    def mars(self, *parts):
        return os.path.join(self.paths.mars, *parts)

    def link(self, *parts):
        try:
            return os.readlink(self.mars(*parts))
        except OSError:
            return None

    def stamp(self, *parts):
        return os.lstat(self.mars(*parts)).st_mtime_ns

    def modprobe(self):
        os.makedirs(self.paths.procsys, exist_ok=True)
        with open(os.path.join(self.paths.procsys, "trigger"), "w", encoding="ascii"):
            pass

    def rmmod(self):
        for name in os.listdir(self.paths.procsys):
            os.unlink(os.path.join(self.paths.procsys, name))
        os.rmdir(self.paths.procsys)

    def snapshot(self):
        """{relative path: (kind, value)} of the whole /mars tree (no dot names)."""
        result = {}
        for base, dirs, files in os.walk(self.paths.mars):
            for name in dirs + files:
                if name.startswith("."):
                    continue
                path = os.path.join(base, name)
                rel = os.path.relpath(path, self.paths.mars)
                if os.path.islink(path):
                    result[rel] = ("l", os.readlink(path))
                elif os.path.isdir(path):
                    result[rel] = ("d", None)
                else:
                    result[rel] = ("f", os.path.getsize(path))
        return result


def diff(before, after):
    """Links/files created or changed between two snapshots: {rel: value}."""
    return {rel: val for rel, val in after.items() if before.get(rel) != val}


def set_link(path, value, stamp=None):
    """Like MARS writes a link, but with its own temp name: marsadm runs in-process in these tests,
    so a ``.tmp.<pid>.`` name would collide with marsadm's staged links."""
    stamp = stamp if stamp is not None else time.time_ns()
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, ".tmp.fakekernel.%s" % name)
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(value, tmp)
    os.utime(tmp, ns=(stamp, stamp), follow_symlinks=False)
    if os.path.isdir(path) and not os.path.islink(path):
        os.rmdir(path)
    os.rename(tmp, path)


def disk_size(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return 0
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


class FakeKernel(threading.Thread):
    """Plays the kernel for a set of hosts, every ``period`` seconds."""

    def __init__(self, hosts, period=0.05):
        super().__init__(daemon=True)
        self.hosts = hosts
        self.period = period
        self.stopped = threading.Event()
        self.sync_enabled = True

    def run(self):
        while not self.stopped.is_set():
            try:
                for host in self.hosts:
                    if os.path.isdir(host.paths.procsys):
                        self.step(host)
                self.replicate()
            except OSError:
                pass  # racing with marsadm's renames; the next pass catches up
            self.stopped.wait(self.period)

    def stop(self):
        self.stopped.set()
        self.join(5)

    @staticmethod
    def _put(path, value, now, refresh=True):
        """Write a link; an unchanged value only gets a fresh mtime (indicators) or is left alone."""
        try:
            if os.readlink(path) == value:
                if refresh:
                    os.utime(path, ns=(now, now), follow_symlinks=False)
                return
        except OSError:
            pass
        try:
            set_link(path, value, now)
        except OSError:
            pass

    def step(self, host):
        now = time.time_ns()
        with open(os.path.join(host.paths.procsys, "lamport_clock"), "w", encoding="ascii") as handle:
            # marsadm's clock must stay ahead of every stamp this pass writes (Lamport: strictly newer)
            ahead = now + int(self.period * 2 * NSEC)
            handle.write("CURRENT_TIME=%s\nlamport_now=%s\n" % (common.format_stamp(now), common.format_stamp(ahead)))
        actual = host.mars("actual-" + host.name)
        if not os.path.isdir(host.mars("ips")):
            return
        for name, value in (("time", common.format_stamp(now)), ("alive", "1"), ("tree", "0.1"),
                            ("features", "4,5,0x00000000"), ("buildtag", "mars0.1astable177(fake)")):
            self._put(os.path.join(actual, name), value, now)
        for resdir in sorted(p for p in os.listdir(host.paths.mars) if p.startswith("resource-")):
            self.step_resource(host, os.path.join(host.paths.mars, resdir), now)

    def step_resource(self, host, resdir, now):
        def get(name):
            return common.read_link(os.path.join(resdir, name))
        if not get("data-" + host.name) or not os.path.isdir(os.path.join(resdir, "todo-" + host.name)):
            return
        todo = {n: get("todo-%s/%s" % (host.name, n)) == "1" for n in ("attach", "connect", "sync", "allow-replay")}
        primary = get("primary")
        is_primary = todo["attach"] and primary == host.name
        actual = os.path.join(resdir, "actual-" + host.name)
        values = {"is-attached": todo["attach"], "is-primary": is_primary, "if-on": is_primary,
                  "open-count": 0, "is-copying": 0, "is-replaying": 0, "is-syncing": 0,
                  "has-emergency": 0, "is-emergency": 0, "replay-code": 0, "disk-error": 0}
        for name, value in values.items():
            self._put(os.path.join(actual, name), str(int(value)), now)
        size = get("size")
        if todo["attach"] and size:
            self._put(os.path.join(resdir, "actsize-" + host.name), str(disk_size(get("data-" + host.name))), now)
        device = get("device-" + host.name)
        if is_primary and device and size:
            # the sysfs size of /dev/mars/<dev> (512-byte sectors) follows the resource size
            sysfs = host.paths.device_size_file(device)
            os.makedirs(os.path.dirname(sysfs), exist_ok=True)
            # whole or not at all, as a sysfs read is: marsadm read an empty file as size 0 under load
            with open(sysfs + ".tmp", "w", encoding="ascii") as handle:
                handle.write("%d\n" % (int(size) // 512))
            os.replace(sysfs + ".tmp", sysfs)
        if is_primary or not primary or primary == "(none)":
            return
        syncstatus = get("syncstatus-" + host.name)
        syncing = self.sync_enabled and todo["sync"] and todo["attach"]
        if syncing and size and syncstatus is not None and int(syncstatus) < int(size):
            self._put(os.path.join(resdir, "syncstatus-" + host.name), size, now)
        # fetch + replay are instant: copy the primary's replay and version links byte for byte
        if todo["connect"] and todo["allow-replay"] and todo["attach"]:
            replay = get("replay-" + primary)
            if replay and get("replay-" + host.name) is not None:
                self._put(os.path.join(resdir, "replay-" + host.name), replay, now, False)
            for name in os.listdir(resdir):
                if name.startswith("version-") and name.endswith("-" + primary):
                    mine = name[:-len(primary)] + host.name
                    value = get(name)
                    if value and get(mine) != value:
                        self._put(os.path.join(resdir, mine), value, now, False)

    def replicate(self):
        """Last-writer-wins exchange of the link trees between all hosts with the same uuid."""
        live = [h for h in self.hosts if os.path.isdir(h.paths.procsys)]
        for src in live:
            for dst in live:
                if src is dst:
                    continue
                # kernels talk when one lists the other in ips/ (join-cluster pushes its own ip-HOST),
                # and replicate only within one cluster uuid
                uuid_src, uuid_dst = src.link("uuid"), dst.link("uuid")
                known = common.read_link(dst.mars("ips", "ip-" + src.name)) or \
                    common.read_link(src.mars("ips", "ip-" + dst.name))
                if uuid_dst not in (uuid_src, "(any)") or not known:
                    continue
                self.copy_tree(src, dst)
                self._put(dst.mars("actual-" + src.name, "read-stamp"), common.format_stamp(time.time_ns()),
                          time.time_ns())

    @staticmethod
    def copy_tree(src, dst):
        for base, dirs, files in os.walk(src.paths.mars):
            rel_base = os.path.relpath(base, src.paths.mars)
            depth = 0 if rel_base == "." else rel_base.count("/") + 1
            dirs[:] = [d for d in dirs if not d.startswith(".") and depth < 2]
            for name in dirs:
                rel = os.path.normpath(os.path.join(rel_base, name))
                top = rel.split("/")[0]
                if top.startswith(("resource-", "actual-", "todo-", "defaults")) or top in ("ips", "userspace"):
                    if not os.path.lexists(dst.mars(rel)):
                        try:
                            os.makedirs(dst.mars(rel))
                        except OSError:
                            pass
            for name in files:
                if name.startswith(".") or name == "read-stamp":
                    continue
                rel = os.path.normpath(os.path.join(rel_base, name))
                spath, dpath = src.mars(rel), dst.mars(rel)
                if not os.path.isdir(os.path.dirname(dpath)):
                    continue
                if not os.path.islink(spath):
                    if name.startswith("log-") and not os.path.lexists(dpath):
                        with open(dpath, "a", encoding="ascii"):
                            pass
                    continue
                value = os.readlink(spath)
                stamp = os.lstat(spath).st_mtime_ns
                try:
                    dstamp = os.lstat(dpath).st_mtime_ns
                except OSError:
                    dstamp = None
                if dstamp is not None and dstamp >= stamp:
                    continue
                if value == common.DELETED and dstamp is None:
                    continue
                if value == common.DELETED and os.path.isfile(dpath) and not os.path.islink(dpath):
                    os.unlink(dpath)
                try:
                    set_link(dpath, value, stamp)
                except OSError:
                    pass


class LoopDevices:
    """Real loop devices (marsadm insists on ``-b`` and O_EXCL); skipped when unavailable."""

    def __init__(self, base):
        self.base = base
        self.images = []

    def create(self, size_mib=64):
        image = os.path.join(self.base, "disk%d.img" % len(self.images))
        with open(image, "wb") as handle:
            handle.truncate(size_mib * 1024 * 1024)
        proc = subprocess.run(["losetup", "-f", "--show", image], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            return None
        self.images.append(image)
        return proc.stdout.strip()

    def cleanup(self):
        for image in self.images:
            loopdevs.detach(image)
