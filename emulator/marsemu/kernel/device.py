"""The backing disk and the ``/dev/mars/DEV`` device of a resource.

The backing disk (``data-HOST``) is opened ``O_RDWR|O_EXCL`` while attached, as the real module
does.  On the primary, ``/dev/mars/DEV`` is a block node for a loop device stacked on the backing
disk (the loop opens it non-exclusively), so applications use ordinary I/O, ``mkfs`` and
``mount``.  Without loop support (unprivileged tests with plain files as "disks") it is a symlink
to the backing file.  With a write path (``writepath``) a FUSE file that logs every write sits
between the device and the disk.
"""

import errno
import fcntl
import logging
import os
import stat
import subprocess

from marsemu.kernel import writepath

LOG = logging.getLogger(__name__)


class BackingDisk:
    """The exclusively opened ``data-HOST`` disk."""

    def __init__(self, path):
        self.path = path
        self.fd = None
        self.error = 0

    @property
    def attached(self):
        return self.fd is not None

    def open(self):
        try:
            flags = os.O_RDWR | os.O_CLOEXEC
            if stat.S_ISBLK(os.stat(self.path).st_mode):
                flags |= os.O_EXCL
            self.fd = os.open(self.path, flags)
            self.error = 0
        except OSError as exc:
            self.fd = None
            self.error = -(exc.errno or errno.EIO)
            LOG.warning("cannot attach %s: %s", self.path, exc)
        return self.attached

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def size(self):
        if self.fd is None:
            return 0
        return os.lseek(self.fd, 0, os.SEEK_END)

    def pread(self, length, offset):
        return os.pread(self.fd, length, offset)

    def pwrite(self, data, offset):
        return os.pwrite(self.fd, data, offset)

    def fsync(self):
        if self.fd is not None:
            os.fsync(self.fd)


def _run(argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


LOOP_CTL_GET_FREE = 0x4C82
LOOP_MAJOR = 7


def new_loop_over(backing, size=None):
    """Stack a fresh loop device on ``backing``; returns its path.

    The free index comes from /dev/loop-control and the node is made if missing: in a container
    without udev ``losetup --find`` cannot see nodes of loop devices created after start.
    """
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        index = fcntl.ioctl(control, LOOP_CTL_GET_FREE)
    finally:
        os.close(control)
    path = "/dev/loop%d" % index
    if not os.path.exists(path):
        os.mknod(path, 0o660 | stat.S_IFBLK, os.makedev(LOOP_MAJOR, index))
    _run(["losetup"] + (["--sizelimit", str(size)] if size else []) + [path, backing])
    return path


def find_loop_over(backing):
    """The loop device already stacked on ``backing`` (kept across a daemon crash), or None.

    Matched by the backing node's device and inode, not by name: other lab hosts on the same
    kernel have loop devices over their own ``/dev/vdb``.
    """
    try:
        st = os.stat(backing)
        out = _run(["losetup", "-n", "-l", "-O", "NAME,BACK-INO,BACK-MAJ:MIN"])
    except (OSError, subprocess.CalledProcessError):
        return None
    want = (str(st.st_ino), "%d:%d" % (os.major(st.st_dev), os.minor(st.st_dev)))
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and (parts[1], parts[2]) == want and os.path.exists(parts[0]):
            return parts[0]
    return None


class MarsDevice:
    """``/dev/mars/DEV`` of one resource on this host.

    With a write path (``writepath.LoggedDisk``) the device sits on a FUSE file that logs every
    write; without one it is stacked directly on the backing disk.
    """

    def __init__(self, paths, name, backing_path, run_dir, fuse=None):
        self.path = os.path.join(paths.dev_mars, name)
        self.name = name
        self.backing_path = backing_path
        self.run_dir = run_dir
        self.fuse = fuse  # the daemon's writepath.FuseServer, if writes are logged
        self.loop = None
        self.rdev = None
        self.logged = None
        self.size = 0  # what the device shows, bytes

    def _state_file(self):
        return os.path.join(self.run_dir, "loop-" + self.name)

    def present(self):
        return os.path.lexists(self.path)

    def adopt(self):
        """Pick up a device left by a previous (crashed) run; True if it can be used as is."""
        if self.fuse is not None:
            # its FUSE server died with the old daemon: clean up, the device is made anew
            self._remove_stale()
            return False
        if not self.present():
            return False
        if os.path.islink(self.path):
            return True
        loop = find_loop_over(self.backing_path)
        if loop is None:
            return False
        self.loop = loop
        self.rdev = os.stat(loop).st_rdev
        return True

    def _remove_stale(self):
        try:
            with open(self._state_file(), encoding="ascii") as handle:
                loop, back, back_dev = handle.read().split("\n")[:3]
        except (OSError, ValueError):
            loop = back = back_dev = None
        # Loop devices belong to the machine's kernel, shared by every lab host, and all hosts
        # use the same FUSE paths: only the backing mount's device number (unique per mount)
        # tells that the loop is still ours and not another host's that reuses the number.
        if loop and back_dev:
            try:
                if _run(["losetup", "-n", "-O", "BACK-MAJ:MIN", "-l", loop]).strip() == back_dev:
                    _run(["losetup", "-d", loop])
            except (OSError, subprocess.CalledProcessError):
                pass
        try:
            os.unlink(self._state_file())
        except OSError:
            pass
        if os.path.lexists(self.path):
            os.unlink(self.path)
        # the dead daemon's FUSE mount (never the live one, which other devices may use)
        if back and not self.fuse.is_live(os.path.dirname(back)):
            writepath.remove_stale_mounts(self.run_dir, keep=self.fuse.mountpoint)

    def create(self, size, logged=None):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.size = size
        target = self.backing_path
        if logged is not None:
            self.logged = logged
            target = self.fuse.add(self.name, logged)
        if os.path.lexists(self.path):
            os.unlink(self.path)
        if stat.S_ISBLK(os.stat(self.backing_path).st_mode):
            # the device shows the resource size, which may be smaller than the disk
            # a logged device's FUSE file has the resource size itself: no size limit, so it can grow
            self.loop = (None if logged else find_loop_over(self.backing_path)) or new_loop_over(target, None if logged else size)
            self.rdev = os.stat(self.loop).st_rdev
            os.mknod(self.path, 0o600 | stat.S_IFBLK, self.rdev)
            os.makedirs(self.run_dir, exist_ok=True)
            back_dev = os.stat(target).st_dev
            with open(self._state_file(), "w", encoding="ascii") as handle:
                handle.write("%s\n%s\n%d:%d\n" % (self.loop, target, os.major(back_dev), os.minor(back_dev)))
        else:
            os.symlink(target, self.path)
        LOG.info("device %s is up%s", self.path, " (logged writes)" if logged else "")

    def grow(self, size):
        """Online resize: the device follows a larger resource size (the disks have grown)."""
        if self.logged is None:
            if self.loop:
                LOG.warning("device %s cannot grow: its loop device has a fixed size limit", self.path)
                return False
            self.size = size  # a symlink to the backing file (tests) has the file's size anyway
            return True
        self.size = self.logged.size = size
        if self.loop:
            os.stat(self.fuse.path(self.name))  # FUSE reports the new size to the kernel ...
            _run(["losetup", "--set-capacity", self.loop])  # ... and the loop device takes it over
        LOG.info("device %s grew to %d bytes", self.path, size)
        return True

    def remove(self):
        if os.path.lexists(self.path):
            os.unlink(self.path)
        if self.loop:
            try:
                _run(["losetup", "-d", self.loop])
            except (OSError, subprocess.CalledProcessError) as exc:
                LOG.warning("cannot detach %s: %s", self.loop, exc)
            self.loop = None
            self.rdev = None
        if self.logged is not None:
            self.fuse.remove(self.name)
            self.logged = None
        LOG.info("device %s is down", self.path)

    def open_count(self):
        """How many file descriptors and mounts use the device (MARS: open-count)."""
        if self.rdev is None:
            return self._count_symlink_openers()
        count = 0
        major, minor = os.major(self.rdev), os.minor(self.rdev)
        for pid, fd_dir in _fd_dirs():
            if pid == os.getpid():
                continue
            for target in _fd_stats(fd_dir):
                if stat.S_ISBLK(target.st_mode) and target.st_rdev == self.rdev:
                    count += 1
        try:
            with open("/proc/self/mountinfo", encoding="ascii", errors="replace") as handle:
                for line in handle:
                    if line.split()[2] == "%d:%d" % (major, minor):
                        count += 1
        except OSError:
            pass
        return count

    def _count_symlink_openers(self):
        count = 0
        real = os.path.realpath(self.path)
        for pid, fd_dir in _fd_dirs():
            if pid == os.getpid():
                continue
            try:
                names = os.listdir(fd_dir)
            except OSError:
                continue
            for name in names:
                try:
                    if os.readlink(os.path.join(fd_dir, name)) == real:
                        count += 1
                except OSError:
                    continue
        return count


def _fd_dirs():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry), os.path.join("/proc", entry, "fd")


def _fd_stats(fd_dir):
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return
    for name in names:
        path = os.path.join(fd_dir, name)
        try:
            # Only device nodes can be the device. A stat of anything else may reach a FUSE file,
            # such as /proc/sys/mars/trigger held open by a writing marsadm, whose answer would
            # have to come from this very thread: a deadlock (seen on the lab).
            if os.readlink(path).startswith("/dev/"):
                yield os.stat(path)
        except OSError:
            continue
