"""Emulated kernel side with real block devices: loop devices as disks, /dev/mars/RES as a block node."""

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest

import loopdevs
from kernel_cluster import EmuCluster, wait_for_pass, wait_until

SIZE = 64 * 1024 * 1024

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("losetup") or not shutil.which("mkfs.ext4"),
                                reason="needs root, losetup and mkfs.ext4")


def md5_of(path, size=SIZE):
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        digest.update(handle.read(size))
    return digest.hexdigest()


@pytest.fixture(name="cluster")
def fixture_cluster(tmp_path):
    cluster = EmuCluster(str(tmp_path), 2)
    images = []
    try:
        for host in cluster.hosts:
            image = str(tmp_path / ("disk-%s.img" % host.name))
            with open(image, "wb") as handle:
                handle.truncate(SIZE)
            try:
                host.disk = subprocess.run(["losetup", "--find", "--show", image], capture_output=True, text=True,
                                           check=True).stdout.strip()
            except subprocess.CalledProcessError as exc:
                pytest.skip("no loop devices: %s" % exc.stderr.strip())
            images.append(image)
        cluster.start()
        cluster.form()
        yield cluster
    finally:
        cluster.stop()
        for image in images:
            loopdevs.detach(image)


def test_block_device_sync_and_mounted_device_holds_handover(cluster, tmp_path):
    h1, h2 = cluster.hosts
    h1.create_resource("r1", h1.disk, SIZE)
    wait_until(lambda: h1.indicator("r1", "is-primary") == "1", timeout=5, what="primary")
    device = os.path.join(h1.paths.dev_mars, "r1")
    assert stat.S_ISBLK(os.stat(device).st_mode)
    with open(device, "rb") as handle:
        assert handle.seek(0, os.SEEK_END) == SIZE
    # the backing disk is held exclusively, like the real module does
    with pytest.raises(OSError):
        os.close(os.open(h1.disk, os.O_RDWR | os.O_EXCL))

    # applications use /dev/mars/r1 with ordinary I/O
    subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", device], check=True)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", device, str(mnt)], check=True)
    (mnt / "hello").write_text("MARS\n")
    subprocess.run(["umount", str(mnt)], check=True)

    # no write path yet (issue 4): the secondary gets what the full sync copies
    wait_until(lambda: h2.res("r1", "replay-h1"), what="resource on h2")
    h2.join_resource("r1", h2.disk, h1)
    wait_until(lambda: h2.res("r1", "syncstatus-h2") == str(SIZE), timeout=20, what="sync")
    assert md5_of(h1.disk) == md5_of(h2.disk)

    subprocess.run(["mount", "-o", "ro,noload", device, str(mnt)], check=True)
    try:
        wait_until(lambda: h1.indicator("r1", "open-count") == "1", what="mount counted as opener")
        h2.set("resource-r1/primary", "(none)")  # marsadm's first handover step
        wait_until(lambda: h1.res("r1", "primary") == "(none)", what="primary link on h1")
        wait_for_pass(h1)  # h1 had its chance to step down
        assert h1.indicator("r1", "is-primary") == "1", "a mounted device must keep the host primary"
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    wait_until(lambda: h1.indicator("r1", "is-primary") == "0", timeout=5, what="step down after umount")
    assert not os.path.exists(device)
    h2.set("resource-r1/primary", "h2")
    wait_until(lambda: h2.indicator("r1", "is-primary") == "1", timeout=5, what="new primary")
    new_device = os.path.join(h2.paths.dev_mars, "r1")
    assert stat.S_ISBLK(os.stat(new_device).st_mode)
    mnt2 = tmp_path / "mnt2"
    mnt2.mkdir()
    subprocess.run(["mount", "-o", "ro", new_device, str(mnt2)], check=True)
    try:
        assert (mnt2 / "hello").read_text() == "MARS\n"
    finally:
        subprocess.run(["umount", str(mnt2)], check=True)


SYSTEM_PYTHON = "/usr/bin/python3"


def has_pyfuse3():
    if not os.path.exists(SYSTEM_PYTHON) or not os.path.exists("/dev/fuse"):
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import pyfuse3, trio"], capture_output=True, check=False).returncode == 0


@pytest.fixture(name="fuse_cluster")
def fixture_fuse_cluster(tmp_path):
    if not has_pyfuse3():
        pytest.skip("needs %s with pyfuse3 and trio (Debian: python3-pyfuse3)" % SYSTEM_PYTHON)
    cluster = EmuCluster(str(tmp_path), 3, extra_args=["--write-path", "fuse"])
    images = []
    try:
        for host in cluster.hosts:
            host.python = SYSTEM_PYTHON
            image = str(tmp_path / ("disk-%s.img" % host.name))
            with open(image, "wb") as handle:
                handle.truncate(SIZE)
            host.disk = subprocess.run(["losetup", "--find", "--show", image], capture_output=True, text=True,
                                       check=True).stdout.strip()
            images.append(image)
        cluster.start()
        cluster.form()
        yield cluster
    finally:
        cluster.stop()
        for image in images:
            loopdevs.detach(image)


def test_writes_to_the_device_are_logged_fetched_and_replayed(fuse_cluster, tmp_path):
    h1, h2, h3 = fuse_cluster.hosts
    h1.create_resource("r1", h1.disk, SIZE)
    wait_until(lambda: h1.indicator("r1", "is-primary") == "1", timeout=5, what="primary")
    for host in (h2, h3):
        wait_until(lambda h=host: h.res("r1", "replay-h1"), what="resource on %s" % host.name)
        host.join_resource("r1", host.disk, h1)
    for host in (h2, h3):
        wait_until(lambda h=host: h.res("r1", "syncstatus-" + h.name) == str(SIZE), timeout=20, what="sync")
    device = os.path.join(h1.paths.dev_mars, "r1")
    assert stat.S_ISBLK(os.stat(device).st_mode)
    pattern = tmp_path / "pattern"
    pattern.write_bytes(b"MARS-write-path-0123456789abcdef" * (4 * 1024 * 1024 // 32))
    subprocess.run(["dd", "if=%s" % pattern, "of=%s" % device, "bs=1M", "oflag=direct", "status=none"], check=True)
    log = h1.path("resource-r1/log-000000001-h1")
    # as on the real module: a record per 4 KiB with 84 bytes of header and trailer (16 MiB made 17,121,280)
    assert os.path.getsize(log) == 1024 * 4180 == 4280320
    subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0,offset=8388608",
                    device, "32M"], check=True)
    assert os.path.getsize(log) > 4280320  # every write went through the logfile
    wait_until(lambda: h1.res("r1", "replay-h1") == "log-000000001-h1,%d,0" % os.path.getsize(log), what="log end")
    for host in (h2, h3):
        wait_until(lambda h=host: h.res("r1", "replay-" + h.name) == h1.res("r1", "replay-h1"), timeout=20,
                   what="%s to replay" % host.name)
        assert host.res("r1", "version-000000001-" + host.name) == h1.res("r1", "version-000000001-h1")
    assert md5_of(device) == md5_of(h1.disk) == md5_of(h2.disk) == md5_of(h3.disk)


def test_write_path_comes_back_after_a_daemon_crash(fuse_cluster):
    h1 = fuse_cluster[0]
    h1.create_resource("r1", h1.disk, SIZE)
    wait_until(lambda: h1.indicator("r1", "is-primary") == "1", timeout=5, what="primary")
    device = os.path.join(h1.paths.dev_mars, "r1")
    subprocess.run(["dd", "if=/dev/zero", "of=%s" % device, "bs=64k", "count=4", "oflag=direct", "status=none"], check=True)
    h1.kill9()  # the FUSE server dies with it; the stale device is replaced after the restart
    since = time.time_ns()
    h1.start()
    wait_until(lambda: h1.stamp("resource-r1/actual-h1/is-primary") > since and h1.indicator("r1", "is-primary") == "1"
               and os.path.exists(device), timeout=10, what="device after restart")
    assert stat.S_ISBLK(os.stat(device).st_mode)
    before = os.path.getsize(h1.path("resource-r1/log-000000001-h1"))
    subprocess.run(["dd", "if=/dev/zero", "of=%s" % device, "bs=64k", "count=4", "oflag=direct", "status=none"], check=True)
    assert os.path.getsize(h1.path("resource-r1/log-000000001-h1")) > before


def test_one_host_serves_several_logged_devices(fuse_cluster, tmp_path):
    """pyfuse3 has one session per process: every device of a host must share it and keep working."""
    h1 = fuse_cluster[0]
    image = str(tmp_path / "disk-h1-second.img")
    with open(image, "wb") as handle:
        handle.truncate(SIZE)
    second = subprocess.run(["losetup", "--find", "--show", image], capture_output=True, text=True, check=True).stdout.strip()
    try:
        h1.create_resource("r1", h1.disk, SIZE)
        h1.create_resource("r2", second, SIZE)
        for res in ("r1", "r2"):
            wait_until(lambda r=res: h1.indicator(r, "is-primary") == "1", timeout=5, what="%s primary" % res)

        def write_and_check(res, backing, fill):
            device = os.path.join(h1.paths.dev_mars, res)
            log = h1.path("resource-%s/log-000000001-h1" % res)
            before = os.path.getsize(log)
            pattern = tmp_path / ("pattern-" + res)
            pattern.write_bytes(fill * (1024 * 1024))
            subprocess.run(["dd", "if=%s" % pattern, "of=%s" % device, "bs=64k", "oflag=direct", "status=none"],
                           check=True, timeout=30)
            assert os.path.getsize(log) >= before + 1024 * 1024
            assert md5_of(device, 1024 * 1024) == md5_of(backing, 1024 * 1024) == hashlib.md5(fill * (1024 * 1024)).hexdigest()

        write_and_check("r1", h1.disk, b"1")
        write_and_check("r2", second, b"2")
        # r1 goes down (handed away): r2 goes on writing through the same FUSE session
        h1.set("resource-r1/primary", "(none)")
        wait_until(lambda: h1.indicator("r1", "is-primary") == "0", timeout=5, what="r1 down")
        write_and_check("r2", second, b"3")
        # and r1 comes back as a new file of the same session
        h1.set("resource-r1/primary", "h1")
        wait_until(lambda: h1.indicator("r1", "is-primary") == "1", timeout=5, what="r1 up again")
        write_and_check("r1", h1.disk, b"4")
    finally:
        for res in ("r1", "r2"):
            h1.set("resource-%s/todo-h1/attach" % res, "0")
            h1.set("resource-%s/primary" % res, "(none)")
        wait_until(lambda: h1.indicator("r2", "is-primary") == "0" and h1.indicator("r1", "is-primary") == "0",
                   timeout=10, what="devices down")
        loopdevs.detach(image)


def test_online_resize_grows_the_logged_device(fuse_cluster):
    """marsadm resize sets a larger ``size``: the primary's device follows at once, writes beyond the old end work."""
    h1, h2, _h3 = fuse_cluster.hosts
    small = SIZE // 2
    h1.create_resource("r1", h1.disk, small)
    wait_until(lambda: h1.indicator("r1", "is-primary") == "1", timeout=5, what="primary")
    h2.join_resource("r1", h2.disk, h1)
    wait_until(lambda: h2.res("r1", "syncstatus-h2") == str(small), timeout=20, what="sync")
    device = os.path.join(h1.paths.dev_mars, "r1")

    def device_size():
        return int(subprocess.run(["blockdev", "--getsize64", device], capture_output=True, text=True,
                                  check=True).stdout)

    assert device_size() == small
    h1.set("resource-r1/size", str(SIZE))
    wait_until(lambda: device_size() == SIZE, timeout=5, what="the device to grow")
    subprocess.run(["dd", "if=/dev/urandom", "of=%s" % device, "bs=1M", "count=1", "seek=%d" % (small // (1 << 20) + 4),
                    "oflag=direct", "status=none"], check=True)
    assert md5_of(device) == md5_of(h1.disk)
    wait_until(lambda: h2.res("r1", "replay-h2") == h1.res("r1", "replay-h1"), timeout=20, what="replay beyond the old end")
    assert md5_of(h2.disk) == md5_of(h1.disk)


def test_a_process_holding_the_trigger_open_does_not_hang_the_module(cluster):
    """The open-count scan stats the fds of every process; one of them may be the FUSE trigger
    (a marsadm between open and write), whose answer the scanning thread itself must give."""
    h1, _h2 = cluster.hosts
    h1.create_resource("r1", h1.disk, SIZE)
    wait_until(lambda: h1.indicator("r1", "open-count") == "0", timeout=5, what="the device counted")
    holder = subprocess.Popen([sys.executable, "-c", "import os, sys, time; os.open(sys.argv[1], os.O_WRONLY); time.sleep(60)",
                               h1.procsys("trigger")])
    try:
        fds = "/proc/%d/fd" % holder.pid

        def holds_trigger():
            for fd in os.listdir(fds):
                try:
                    if os.readlink(os.path.join(fds, fd)) == h1.procsys("trigger"):
                        return True
                except FileNotFoundError:  # an fd the starting interpreter closed meanwhile
                    pass
            return False

        wait_until(holds_trigger, timeout=5, what="the holder to open the trigger")
        before = h1.stamp("actual-h1/time")
        wait_until(lambda: h1.stamp("actual-h1/time") > before + 2 * 10 ** 9, timeout=15,
                   what="the module to go on (alive stamp 2 s newer) while the trigger is held open")
    finally:
        holder.kill()
        holder.wait()
