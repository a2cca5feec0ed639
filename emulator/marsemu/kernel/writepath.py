"""The write path of /dev/mars/RES on the primary: log first, then write back.

``LoggedDisk`` appends every write as a record (see ``logfile``) to the current logfile and only
then writes it to the backing disk, before the write is acknowledged.  ``FuseExport`` offers it
as the single file ``data`` of a FUSE filesystem (pyfuse3 with trio, in its own thread, as in
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

from marsemu.kernel.logfile import encode_record

LOG = logging.getLogger(__name__)

try:  # optional: only the lab image (and hosts with python3-pyfuse3) have it
    import pyfuse3
    import trio
except ImportError:  # pragma: no cover - depends on the host
    pyfuse3 = None
    trio = None

DATA_INODE = 2
DATA_NAME = b"data"


def fuse_available():
    return pyfuse3 is not None and os.path.exists("/dev/fuse")


class LoggedDisk:
    """Thread-safe: FUSE requests come from the FUSE thread, log switches from the daemon."""

    def __init__(self, disk, size, clock):
        self.disk = disk
        self.size = size
        self.clock = clock
        self.lock = threading.Lock()
        self.log = None
        self.log_path = None

    def switch_log(self, path):
        with self.lock:
            if self.log_path == path:
                return
            if self.log is not None:
                self.log.close()
            self.log = open(path, "ab")  # pylint: disable=consider-using-with
            self.log_path = path

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
            if self.log is None:
                raise OSError(errno.EIO, "no logfile")
            self.log.write(encode_record(offset, bytes(data), self.clock.now()))
            self.log.flush()
            self.disk.pwrite(data, offset)
        return len(data)

    def fsync(self):
        with self.lock:
            if self.log is not None:
                os.fsync(self.log.fileno())
        self.disk.fsync()


if pyfuse3 is not None:
    class _Operations(pyfuse3.Operations):
        """A filesystem with one regular file, ``data``, backed by a LoggedDisk."""

        def __init__(self, logged):
            super().__init__()
            self.logged = logged
            self.started = time.time_ns()

        def _attr(self, inode):
            attr = pyfuse3.EntryAttributes()
            attr.st_ino = inode
            if inode == pyfuse3.ROOT_INODE:
                attr.st_mode = stat.S_IFDIR | 0o700
                attr.st_nlink = 2
            elif inode == DATA_INODE:
                attr.st_mode = stat.S_IFREG | 0o600
                attr.st_nlink = 1
                attr.st_size = self.logged.size
            else:
                raise pyfuse3.FUSEError(errno.ENOENT)
            attr.st_atime_ns = attr.st_mtime_ns = attr.st_ctime_ns = self.started
            attr.st_blksize = 4096
            attr.st_blocks = (attr.st_size + 511) // 512
            attr.attr_timeout = attr.entry_timeout = 300
            return attr

        async def getattr(self, inode, ctx=None):
            return self._attr(inode)

        async def lookup(self, parent_inode, name, ctx=None):
            if parent_inode != pyfuse3.ROOT_INODE or name != DATA_NAME:
                raise pyfuse3.FUSEError(errno.ENOENT)
            return self._attr(DATA_INODE)

        async def opendir(self, inode, ctx):
            if inode != pyfuse3.ROOT_INODE:
                raise pyfuse3.FUSEError(errno.ENOTDIR)
            return inode

        async def readdir(self, fh, start_id, token):
            if start_id == 0:
                pyfuse3.readdir_reply(token, DATA_NAME, self._attr(DATA_INODE), 1)

        async def open(self, inode, flags, ctx):
            if inode != DATA_INODE:
                raise pyfuse3.FUSEError(errno.EISDIR)
            return pyfuse3.FileInfo(fh=inode)

        async def read(self, fh, off, size):
            try:
                return self.logged.read(off, size)
            except OSError as exc:
                raise pyfuse3.FUSEError(exc.errno or errno.EIO) from exc

        async def write(self, fh, off, buf):
            try:
                return self.logged.write(off, buf)
            except OSError as exc:
                raise pyfuse3.FUSEError(exc.errno or errno.EIO) from exc

        async def fsync(self, fh, datasync):
            self.logged.fsync()

        async def flush(self, fh):
            pass

        async def release(self, fh):
            pass


class FuseExport:
    """Mounts the FUSE file and serves it from a thread of its own."""

    def __init__(self, mountpoint, logged):
        self.mountpoint = mountpoint
        self.logged = logged
        self.thread = None
        self.token = None
        self.ready = threading.Event()
        self.error = None

    @property
    def data_path(self):
        return os.path.join(self.mountpoint, DATA_NAME.decode())

    def start(self):
        os.makedirs(self.mountpoint, exist_ok=True)
        lazy_unmount(self.mountpoint)
        self.thread = threading.Thread(target=self._serve, name="fuse-" + os.path.basename(self.mountpoint), daemon=True)
        self.thread.start()
        self.ready.wait(10)
        if self.error is not None or not self.ready.is_set():
            raise OSError(errno.EIO, "FUSE export at %s failed: %s" % (self.mountpoint, self.error))

    def _serve(self):
        options = set(pyfuse3.default_options)
        options.add("fsname=marsemu")
        try:
            pyfuse3.init(_Operations(self.logged), self.mountpoint, options)
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
        if self.thread is None:
            return
        if self.token is not None:
            try:
                trio.from_thread.run_sync(pyfuse3.terminate, trio_token=self.token)
            except (RuntimeError, trio.RunFinishedError):
                pass
        self.thread.join(10)
        self.thread = None
        self.logged.close()


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
