"""The write path of /dev/mars/RES on the primary: log first, then write back.

``LoggedDisk`` appends every write as records (see ``logfile``) to the current logfile and only
then writes it to the backing disk, before the write is acknowledged.  ``FuseServer`` offers each
one as a file of the daemon's FUSE filesystem (pyfuse3 with trio, in its own thread, as in
Debian's python3-pyfuse3); ``device`` stacks a loop device on that file so that applications
see a block device.  Without pyfuse3 the emulator runs without a write path (issue 3 level).
"""

import errno
import logging
import os
import stat
import subprocess
import threading
import time

from marsemu.kernel.logfile import append, encode_write

LOG = logging.getLogger(__name__)

try:  # optional: only the lab image (and hosts with python3-pyfuse3) have it
    import pyfuse3
    import trio
except ImportError:  # pragma: no cover - depends on the host
    pyfuse3 = None
    trio = None


def fuse_available():
    return pyfuse3 is not None and os.path.exists("/dev/fuse")


class LoggedDisk:
    """Thread-safe: FUSE requests come from the FUSE thread, log switches from the daemon."""

    def __init__(self, disk, size, clock, on_logged=None):
        self.disk = disk
        self.size = size
        self.clock = clock
        self.on_logged = on_logged  # told after each logged write (wakes the fetch streams)
        self.lock = threading.Lock()
        self.log = None
        self.log_path = None
        self.seq_nr = 0  # the last record number in the open logfile (the kernel counts from 1 per logfile)
        # False in emergency mode: writes go to the disk only, unlogged (secondaries miss them)
        self.logging = True

    def switch_log(self, path):
        with self.lock:
            if self.log_path == path:
                return
            if self.log is not None:
                self.log.close()
            self.log = open(path, "ab")  # pylint: disable=consider-using-with
            self.log_path = path
            self.seq_nr = 0

    def close(self):
        with self.lock:
            if self.log is not None:
                self.log.close()
                self.log = None

    def read(self, offset, length):
        length = max(0, min(length, self.size - offset))
        return self.disk.pread(length, offset) if length else b""

    def write(self, offset, data):
        if offset + len(data) > self.size:
            raise OSError(errno.ENOSPC, "write beyond the end of the resource")
        with self.lock:
            if self.logging:
                if self.log is None:
                    raise OSError(errno.EIO, "no logfile")
                records, self.seq_nr = encode_write(offset, data, self.clock.now(), self.seq_nr)
                append(self.log, records)
            self.disk.pwrite(data, offset)
        if self.logging and self.on_logged is not None:
            self.on_logged()
        return len(data)

    def fsync(self):
        with self.lock:
            if self.log is not None:
                os.fsync(self.log.fileno())
        self.disk.fsync()


FIRST_FILE_INODE = pyfuse3.ROOT_INODE + 1 if pyfuse3 is not None else 2
# short: a device name can come back with a new inode (handover back and forth)
ENTRY_TIMEOUT = 1


if pyfuse3 is not None:
    class _Operations(pyfuse3.Operations):
        """A directory of regular files, one per device, each backed by a LoggedDisk."""

        def __init__(self, server):
            super().__init__()
            self.server = server
            self.started = time.time_ns()

        def _attr(self, inode):
            attr = pyfuse3.EntryAttributes()
            attr.st_ino = inode
            if inode == pyfuse3.ROOT_INODE:
                attr.st_mode = stat.S_IFDIR | 0o700
                attr.st_nlink = 2
            else:
                logged = self.server.by_inode(inode)
                if logged is None:
                    raise pyfuse3.FUSEError(errno.ENOENT)
                attr.st_mode = stat.S_IFREG | 0o600
                attr.st_nlink = 1
                attr.st_size = logged.size
            attr.st_atime_ns = attr.st_mtime_ns = attr.st_ctime_ns = self.started
            attr.st_blksize = 4096
            attr.st_blocks = (attr.st_size + 511) // 512
            attr.entry_timeout = ENTRY_TIMEOUT
            # sizes are never cached: after a resize the loop device must see the new size at once
            attr.attr_timeout = 0
            return attr

        def _logged(self, inode):
            logged = self.server.by_inode(inode)
            if logged is None:
                raise pyfuse3.FUSEError(errno.ENOENT)
            return logged

        async def getattr(self, inode, ctx=None):
            return self._attr(inode)

        async def lookup(self, parent_inode, name, ctx=None):
            inode = self.server.inode_of(name.decode(errors="replace"))
            if parent_inode != pyfuse3.ROOT_INODE or inode is None:
                raise pyfuse3.FUSEError(errno.ENOENT)
            return self._attr(inode)

        async def opendir(self, inode, ctx):
            if inode != pyfuse3.ROOT_INODE:
                raise pyfuse3.FUSEError(errno.ENOTDIR)
            return inode

        async def readdir(self, fh, start_id, token):
            for index, (name, inode) in enumerate(self.server.listing()):
                if index >= start_id and not pyfuse3.readdir_reply(token, name.encode(), self._attr(inode), index + 1):
                    break

        async def open(self, inode, flags, ctx):
            if inode == pyfuse3.ROOT_INODE:
                raise pyfuse3.FUSEError(errno.EISDIR)
            self._logged(inode)
            return pyfuse3.FileInfo(fh=inode)

        async def read(self, fh, off, size):
            try:
                return self._logged(fh).read(off, size)
            except OSError as exc:
                raise pyfuse3.FUSEError(exc.errno or errno.EIO) from exc

        async def write(self, fh, off, buf):
            try:
                return self._logged(fh).write(off, buf)
            except OSError as exc:
                raise pyfuse3.FUSEError(exc.errno or errno.EIO) from exc

        async def fsync(self, fh, datasync):
            try:
                self._logged(fh).fsync()
            except OSError as exc:
                raise pyfuse3.FUSEError(exc.errno or errno.EIO) from exc

        async def flush(self, fh):
            pass

        async def release(self, fh):
            pass


class FuseServer:
    """The FUSE filesystem of one daemon: one file per logged device, served by a thread of its own.

    pyfuse3 keeps one session per process, so every device of a host shares this one mount
    (``RUN_DIR/fuse-STAMP``; the stamp keeps a restarted daemon off its predecessor's dead mount).
    """

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.mountpoint = os.path.join(run_dir, "fuse-%d" % time.time_ns())
        self.lock = threading.Lock()
        self.files = {}  # name -> (inode, LoggedDisk)
        self.next_inode = FIRST_FILE_INODE
        self.thread = None
        self.token = None
        self.ready = threading.Event()
        self.error = None

    # -- the table, read by the FUSE thread

    def by_inode(self, inode):
        with self.lock:
            return next((logged for ino, logged in self.files.values() if ino == inode), None)

    def inode_of(self, name):
        with self.lock:
            entry = self.files.get(name)
            return entry[0] if entry else None

    def listing(self):
        with self.lock:
            return sorted((name, entry[0]) for name, entry in self.files.items())

    # -- devices

    def path(self, name):
        return os.path.join(self.mountpoint, name)

    def add(self, name, logged):
        """Offer ``logged`` as the file ``name``; returns its path."""
        if self.thread is None:
            self._start()
        with self.lock:
            self.files[name] = (self.next_inode, logged)
            self.next_inode += 1
        return self.path(name)

    def remove(self, name):
        with self.lock:
            entry = self.files.pop(name, None)
        if entry is not None:
            entry[1].close()

    def is_live(self, mountpoint):
        return self.thread is not None and os.path.normpath(mountpoint) == self.mountpoint

    # -- the FUSE thread

    def _start(self):
        remove_stale_mounts(self.run_dir, keep=self.mountpoint)
        os.makedirs(self.mountpoint, exist_ok=True)
        self.thread = threading.Thread(target=self._serve, name="fuse", daemon=True)
        self.thread.start()
        self.ready.wait(10)
        if self.error is not None or not self.ready.is_set():
            self.thread = None
            raise OSError(errno.EIO, "FUSE mount at %s failed: %s" % (self.mountpoint, self.error))

    def _serve(self):
        options = set(pyfuse3.default_options)
        options.add("fsname=marsemu")
        try:
            pyfuse3.init(_Operations(self), self.mountpoint, options)
        except (RuntimeError, OSError) as exc:
            self.error = exc
            self.ready.set()
            return
        try:
            trio.run(self._main)
        finally:
            pyfuse3.close(unmount=True)

    async def _main(self):
        self.token = trio.lowlevel.current_trio_token()
        self.ready.set()
        await pyfuse3.main()

    def stop(self):
        """Unmount (at unload); files still offered stay readable until then."""
        if self.thread is None:
            return
        if self.token is not None:
            try:
                trio.from_thread.run_sync(pyfuse3.terminate, trio_token=self.token)
            except (RuntimeError, trio.RunFinishedError):
                pass
        self.thread.join(10)
        self.thread = None
        for name in list(self.files):
            self.remove(name)


def remove_stale_mounts(run_dir, keep=None):
    """Unmount and remove ``fuse-*`` mounts a crashed daemon left behind."""
    try:
        names = os.listdir(run_dir)
    except OSError:
        return
    for name in names:
        path = os.path.join(run_dir, name)
        if name.startswith("fuse-") and path != keep:
            lazy_unmount(path)
            try:
                os.rmdir(path)
            except OSError:
                pass


def lazy_unmount(mountpoint):
    """Remove a stale mount (e.g. left by a crashed daemon)."""
    if os.path.ismount(mountpoint) or _is_dead_mount(mountpoint):
        subprocess.run(["umount", "-l", mountpoint], check=False, capture_output=True)


def _is_dead_mount(path):
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ENOTCONN
    return False
