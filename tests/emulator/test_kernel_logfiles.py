"""Logfiles on the emulated kernel side: the record layout of the real module (sizes, hence every
``*-pos``/``*-rest``), and rotation and deletion driven by the emulated marsadm: ``log-rotate``
starts the next logfile, replay follows it on every secondary, and ``log-delete`` removes the
logfiles every member has replayed, on every host, without their being fetched again."""

import io
import os
import random
import time

from ansible_collections.georep.mars.plugins.module_utils.tree import MarsTree
from kernel_cluster import replayed_everything, wait_for_merge, wait_for_pass, wait_until
from marsemu.common import lamport_now
from marsemu.kernel.clock import LamportClock
from marsemu.kernel.device import BackingDisk
from marsemu.kernel.logfile import pieces, read_records
from marsemu.kernel.logger import version_value
from marsemu.kernel.writepath import LoggedDisk
from marsemu.marsadm import main
from test_kernel_roles import md5

TREES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unit", "plugins", "fixtures", "trees")
MIB = 1024 * 1024


def marsadm(host, *argv):
    out, err = io.StringIO(), io.StringIO()
    rc = main(["--window=10", "--timeout=20"] + list(argv), stdout=out, stderr=err,
              root=host.paths.root, hostname=host.name)
    return rc, out.getvalue(), err.getvalue()


def logfiles(host):
    directory = host.path("resource-r1")
    return sorted(n for n in os.listdir(directory) if n.startswith("log-") and os.path.isfile(os.path.join(directory, n)))


def test_rotation_and_deletion_of_replayed_logfiles(synced):
    h1, h2, h3 = synced.hosts
    rc, out, err = marsadm(h1, "log-rotate", "r1")
    assert rc == 0, out + err
    wait_until(lambda: h1.res("r1", "replay-h1") == "log-000000002-h1,0,0", timeout=5, what="rotation on h1")
    h1.write("r1", 1 << 20, b"in the second logfile " * 100)
    wait_until(lambda: h1.res("r1", "replay-h1") != "log-000000002-h1,0,0", timeout=5, what="log 2 grows")
    for host in (h2, h3):
        wait_until(lambda h=host: replayed_everything(h, h1), timeout=10, what="%s in log 2" % host.name)
        assert host.res("r1", "version-000000002-" + host.name) == h1.res("r1", "version-000000002-h1")
        assert logfiles(host) == ["log-000000001-h1", "log-000000002-h1"]
    # everyone is past log 1 (as the primary's tree shows): it can go (--force: it is younger than the window)
    wait_until(lambda: all(h1.res("r1", "replay-" + h.name).startswith("log-000000002-") for h in (h2, h3)),
               timeout=5, what="the secondaries' replay links on h1")
    rc, out, err = marsadm(h1, "--force", "log-delete-all", "r1")
    assert rc == 0, out + err
    for host in synced.hosts:
        # replication unlinks the file before the .deleted link takes its place: wait for both
        wait_until(lambda h=host: logfiles(h) == ["log-000000002-h1"] and h.get("resource-r1/log-000000001-h1") is None
                   and os.path.islink(h.path("resource-r1/log-000000001-h1")), timeout=10, what="log 1 deleted on %s" % host.name)
    # not fetched again, and replication goes on in log 2
    h1.write("r1", 2 << 20, b"after the deletion " * 100)
    for host in (h2, h3):
        wait_until(lambda h=host: replayed_everything(h, h1), timeout=10, what="%s after deletion" % host.name)
        # it has pulled every other tree since, and had passes after that: its chances to fetch log 1 again
        since = {peer.name: max(time.time_ns(), lamport_now(peer.paths)) for peer in synced.hosts}
        for peer in synced.hosts:
            if peer is not host:
                wait_for_merge(host, peer, since[peer.name])
        wait_for_pass(host, passes=2)
        assert logfiles(host) == ["log-000000002-h1"]
    assert md5(h1.disk) == md5(h2.disk) == md5(h3.disk)


def test_rotation_right_after_writes_keeps_the_version_chain(synced):
    """log-rotate while writes are still coming: the old logfile's version link gets its final length
    (what the secondaries replay), so they go on into the next logfile instead of seeing a split brain."""
    h1, h2, h3 = synced.hosts
    h1.write("r1", 3 << 20, b"just before the rotation " * 1000)
    rc, out, err = marsadm(h1, "log-rotate", "r1")
    assert rc == 0, out + err
    final = os.path.getsize(h1.path("resource-r1/log-000000001-h1"))
    wait_until(lambda: h1.res("r1", "replay-h1") == "log-000000002-h1,0,0", timeout=5, what="rotation on h1")
    assert h1.res("r1", "version-000000001-h1").split(":")[0].endswith(",log-000000001-h1,%d" % final)
    for host in (h2, h3):
        wait_until(lambda h=host: h.res("r1", "replay-" + h.name) == "log-000000002-h1,0,0", timeout=10,
                   what="%s in log 2" % host.name)
        assert host.res("r1", "version-000000001-" + host.name) == h1.res("r1", "version-000000001-h1")
    assert md5(h1.disk) == md5(h2.disk) == md5(h3.disk)


def age_s(host, rel):
    return (time.time_ns() - os.lstat(host.path(rel)).st_mtime_ns) / 1e9


def deleted(host, rel):
    path = host.path(rel)
    return os.path.islink(path) and os.readlink(path) == ".deleted"


def test_cron_deletes_what_every_member_replayed(synced, monkeypatch):
    """marsadm cron marks ``.deleted`` a logfile everyone replayed once it was created 2 windows ago (however
    recently it was written to), and the version links below it; every host replaces its copy."""
    monkeypatch.setenv("MARS_EMU_CRON_SLEEP", "0")
    h1, h2, h3 = synced.hosts
    window = 2
    wait_until(lambda: min(age_s(h1, "resource-r1/" + name) for name in ("log-000000001-h1", "device-h2", "device-h3"))
               > 2 * window, timeout=3 * window, what="log 1 and the joins to age")
    h1.write("r1", 0, b"just before the rotation " * 100)
    rc, out, err = marsadm(h1, "log-rotate", "r1")
    assert rc == 0, out + err
    for host in synced.hosts:
        wait_until(lambda h=host: h1.res("r1", "replay-" + h.name) == "log-000000002-h1,0,0", timeout=10,
                   what="%s in log 2" % host.name)
    rc, out, err = marsadm(h1, "--window=%d" % window, "cron")
    assert rc == 0, out + err
    for host in synced.hosts:
        wait_until(lambda h=host: deleted(h, "resource-r1/log-000000001-h1") and deleted(h, "resource-r1/version-000000000-h1"),
                   timeout=10,
                   what="log 1 and version 0 deleted on %s" % host.name)
        # one version link more than logfiles stays, for the checks of the next logfile
        assert host.res("r1", "version-000000001-" + host.name) == h1.res("r1", "version-000000001-h1")
    assert logfiles(h2) == logfiles(h3) == ["log-000000002-h1"]


def test_logfiles_keep_their_creation_time(synced, tmp_path):
    """As recorded on the real module (A07): writes and fetches leave a logfile's mtime alone."""
    logged = logged_disk(tmp_path)
    created = time.time_ns() - 3600 * 1000000000
    os.utime(logged.log_path, ns=(created, created))
    logged.write(0, b"x" * 8192)
    assert os.stat(logged.log_path).st_mtime_ns == created
    h1, h2, h3 = synced.hosts
    rel = "resource-r1/log-000000001-h1"
    before = [os.stat(host.path(rel)).st_mtime_ns for host in (h2, h3)]
    h1.write("r1", 1 << 20, b"fetched " * 1000)
    for host in (h2, h3):
        wait_until(lambda h=host: replayed_everything(h, h1), timeout=10, what="%s to replay" % host.name)
    assert [os.stat(host.path(rel)).st_mtime_ns for host in (h2, h3)] == before


# ---------------------------------------------------------------------------- the record layout

def recorded_tree(name):
    with open(os.path.join(TREES, name + ".tree"), encoding="utf-8") as handle:
        return MarsTree.from_find_listing(handle.read())


def logged_disk(tmp_path, name="disk", size=32 * MIB):
    path = tmp_path / name
    with open(path, "wb") as handle:
        handle.truncate(size)
    disk = BackingDisk(str(path))
    assert disk.open()
    logged = LoggedDisk(disk, size, LamportClock())
    logged.switch_log(str(tmp_path / ("log-000000001-vm1-" + name)))
    return logged


def test_logfile_sizes_are_those_of_the_real_module(tmp_path):
    """84 bytes per record of at most 4 KiB, whatever the size of the writes."""
    pattern = b"MARS-A7-pattern-0123456789abcdef"
    by_block = logged_disk(tmp_path, "blocks")
    for offset in range(0, 4 * MIB, 4096):
        by_block.write(offset, pattern * 128)
    by_block.close()
    assert os.path.getsize(by_block.log_path) == 4280320
    # A07 on the real module: 16 MiB with dd bs=1M, then the primary's logfile, replay and version links
    real = recorded_tree("A07-replayed.vm1")
    by_mib = logged_disk(tmp_path, "mib")
    for offset in range(0, 16 * MIB, MIB):
        by_mib.write(offset, pattern * (MIB // len(pattern)))
    by_mib.close()
    size = os.path.getsize(by_mib.log_path)
    assert size == real.file_size("resource-r1/log-000000001-vm1") == 17121280
    assert "log-000000001-vm1,%d,0" % size == real.get("resource-r1/replay-vm1")
    assert version_value(1, "vm1", size, None) == real.get("resource-r1/version-000000001-vm1")


def test_records_split_writes_as_the_trans_logger_does():
    """At most a page per record, and never across a 64 KiB region (unaligned direct I/O)."""
    assert list(pieces(0, 8192)) == [(0, 4096), (4096, 4096)]
    assert list(pieces(512, 4096)) == [(512, 4096)]
    assert list(pieces(61952, 8192)) == [(61952, 3584), (65536, 4096), (69632, 512)]
    assert list(pieces(1024, 512)) == [(1024, 512)]


def test_replaying_the_records_rebuilds_the_disk(tmp_path):
    primary = logged_disk(tmp_path, "primary")
    rng = random.Random(14)
    for _write in range(200):
        offset = rng.randrange(0, 2 * MIB // 512) * 512
        primary.write(offset, rng.randbytes(rng.randrange(1, 64) * 512))
    primary.close()
    copy = tmp_path / "copy"
    with open(copy, "wb") as handle:
        handle.truncate(32 * MIB)
    end = os.path.getsize(primary.log_path)
    with open(primary.log_path, "rb") as log, open(copy, "r+b") as disk:
        last = 0
        for start, stop, offset, data in read_records(log, 0, end):
            assert start == last and len(data) <= 4096
            disk.seek(offset)
            disk.write(data)
            last = stop
    assert last == end
    assert md5(copy) == md5(tmp_path / "primary")
