"""``/proc/sys/mars/trigger`` as a one-file FUSE filesystem: every write() is one trigger.

The real module handles each write() to the trigger on its own (``mars_dotrigger`` in
``mars_proc.c``).  A FIFO merges writes that arrive before the reader wakes up, so the daemon mounts
a FUSE file over the trigger and answers the FUSE kernel protocol on /dev/fuse itself (no libfuse:
os and ctypes only).  Each FUSE WRITE request carries exactly one write() of the writer, and it is
answered only after the daemon has handled it, as the real kernel returns from write() after
interpreting the code.  Requests are served from the daemon's event loop.
"""

import ctypes
import errno
import logging
import os
import stat
import struct
import time

LOG = logging.getLogger(__name__)

_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
_LIBC.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)

MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MNT_DETACH = 2

# Opcodes and structures of include/uapi/linux/fuse.h, protocol 7.31 (what we announce in INIT).
FUSE_FORGET, FUSE_GETATTR, FUSE_SETATTR, FUSE_OPEN, FUSE_READ, FUSE_WRITE = 2, 3, 4, 14, 15, 16
FUSE_STATFS, FUSE_RELEASE, FUSE_FLUSH, FUSE_INIT, FUSE_DESTROY, FUSE_BATCH_FORGET = 17, 18, 25, 26, 38, 42
MINOR = 31
MAX_WRITE = 65536
FOPEN_DIRECT_IO = 1  # no page cache: each write() goes to us as it is, at most MAX_WRITE bytes
IN_HEADER = struct.Struct("<IIQQIIIHH")  # len, opcode, unique, nodeid, uid, gid, pid, extlen, pad
OUT_HEADER = struct.Struct("<IiQ")  # len, error (negative errno), unique
INIT_IN = struct.Struct("<IIII")  # major, minor, max_readahead, flags
WRITE_IN = struct.Struct("<QQIIQII")  # fh, offset, size, write_flags, lock_owner, flags, padding
ATTR_OUT = struct.Struct("<QII" + "QQQQQQ" + "IIIIIIIIII")
STATFS_OUT = struct.Struct("<QQQQQIIII24x")
MODE = stat.S_IFREG | 0o200  # as the real /proc/sys/mars/trigger


def _mount(target, fuse_fd):
    options = "fd=%d,rootmode=%o,user_id=0,group_id=0,default_permissions,allow_other" % (fuse_fd, stat.S_IFREG)
    if _LIBC.mount(b"marsemu-trigger", target.encode(), b"fuse", MS_NOSUID | MS_NODEV | MS_NOEXEC, options.encode()):
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), target)


def unmount(path):
    """Detach a trigger mount (ours, or a dead one of a crashed daemon); True if there was one."""
    if _LIBC.umount2(path.encode(), MNT_DETACH) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOENT, errno.ENOTDIR):  # not a mount point (any more)
        return False
    raise OSError(err, os.strerror(err), path)


class TriggerFile:
    """The FUSE connection behind one mounted trigger file."""

    def __init__(self, path):
        self.path = path
        self.fd = None
        self.stamp = 0

    def mount(self):
        """Mount over the existing file ``path``; OSError if FUSE is missing or not allowed."""
        self.fd = os.open("/dev/fuse", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            _mount(self.path, self.fd)
        except OSError:
            os.close(self.fd)
            self.fd = None
            raise
        self.stamp = int(time.time())

    def close(self):
        """Unmount and end the connection: writers still waiting get an error instead of hanging."""
        if self.fd is None:
            return
        unmount(self.path)
        os.close(self.fd)
        self.fd = None

    def serve_ready(self, on_write):
        """Answer every request the kernel has queued, ``on_write(data)`` for each write(); False once unmounted."""
        while True:
            try:
                request = os.read(self.fd, MAX_WRITE + 4096)
            except BlockingIOError:
                return True
            except OSError as exc:
                if exc.errno in (errno.EINTR, errno.ENOENT):  # interrupted, or the request was aborted
                    continue
                if exc.errno == errno.ENODEV:  # unmounted
                    return False
                raise
            self._handle(request, on_write)

    def _handle(self, request, on_write):
        fields = IN_HEADER.unpack_from(request)
        opcode, unique = fields[1], fields[2]
        body = request[IN_HEADER.size:]
        if opcode in (FUSE_FORGET, FUSE_BATCH_FORGET):  # the only requests without an answer
            return
        if opcode == FUSE_INIT:
            major, minor, readahead = INIT_IN.unpack_from(body)[:3]
            if major != 7:
                LOG.error("FUSE protocol %d.%d is not supported", major, minor)
                self._reply(unique, -errno.EPROTO)
                return
            self._reply(unique, 0, struct.pack("<IIIIHHIIHHI28x", 7, min(minor, MINOR), readahead, 0, 16, 12, MAX_WRITE, 1, 0, 0, 0))
        elif opcode in (FUSE_GETATTR, FUSE_SETATTR):  # SETATTR: the truncate of "> trigger"; size stays 0
            self._reply(unique, 0, ATTR_OUT.pack(1, 0, 0, 1, 0, 0, self.stamp, self.stamp, self.stamp, 0, 0, 0, MODE, 1, 0, 0, 0, 4096, 0))
        elif opcode == FUSE_OPEN:
            self._reply(unique, 0, struct.pack("<QII", 0, FOPEN_DIRECT_IO, 0))
        elif opcode == FUSE_READ:
            self._reply(unique, 0)
        elif opcode == FUSE_WRITE:
            size = WRITE_IN.unpack_from(body)[2]
            on_write(body[WRITE_IN.size:WRITE_IN.size + size])
            self._reply(unique, 0, struct.pack("<II", size, 0))
        elif opcode in (FUSE_FLUSH, FUSE_RELEASE, FUSE_DESTROY):
            self._reply(unique, 0)
        elif opcode == FUSE_STATFS:
            self._reply(unique, 0, STATFS_OUT.pack(0, 0, 0, 1, 0, 4096, 255, 4096, 0))
        else:
            self._reply(unique, -errno.ENOSYS)

    def _reply(self, unique, error, payload=b""):
        try:
            os.write(self.fd, OUT_HEADER.pack(OUT_HEADER.size + len(payload), error, unique) + payload)
        except OSError as exc:
            if exc.errno != errno.ENOENT:  # ENOENT: the writer was interrupted meanwhile
                raise
