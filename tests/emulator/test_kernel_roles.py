"""Emulated kernel side: attach, primary/secondary, /dev/mars/RES, full sync (plain files as disks)."""

import hashlib
import os
import re
import time

import pytest

from kernel_cluster import EmuCluster, caught_up, log_count, wait_for_merge, wait_for_pass, wait_until
from marsemu.common import parse_stamp
from marsemu.kernel.sync import PROGRESS_INTERVAL_NS

SIZE = 64 * 1024 * 1024


def make_disk(path, pattern=None):
    with open(path, "wb") as handle:
        handle.truncate(SIZE)
        if pattern:
            for pos in range(0, SIZE, 4 * 1024 * 1024):
                handle.seek(pos)
                handle.write((pattern * 4096)[:1024 * 1024])
    return path


def md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture(name="cluster")
def fixture_cluster(tmp_path):
    cluster = EmuCluster(str(tmp_path), 3)
    cluster.start()
    try:
        cluster.form()
        for host in cluster.hosts:
            host.disk = make_disk(str(tmp_path / ("disk-" + host.name)), pattern=host.name.encode() if host.name != "h1" else b"DATA-on-h1 ")
        yield cluster
    finally:
        cluster.stop()


def test_create_resource_makes_the_host_primary(cluster):
    h1 = cluster[0]
    h1.create_resource("r1", h1.disk, SIZE)
    wait_until(lambda: h1.indicator("r1", "is-primary") == "1", timeout=5, what="is-primary")
    assert h1.indicator("r1", "if-on") == "1"
    assert h1.indicator("r1", "is-attached") == "1"
    assert h1.indicator("r1", "open-count") == "0"
    assert h1.res("r1", "actsize-h1") == str(SIZE)
    assert os.path.exists(os.path.join(h1.paths.dev_mars, "r1"))
    for name in ("is-syncing", "is-copying", "is-replaying", "is-emergency", "has-emergency", "replay-code",
                 "disk-error", "msg-err-splitbrain-detected", "ops-sync_rate"):
        assert h1.indicator("r1", name) in ("0", "OK"), name
    # indicators are refreshed continuously (marsadm's race guards want them fresh)
    stamp = h1.stamp("resource-r1/actual-h1/is-primary")
    wait_until(lambda: h1.stamp("resource-r1/actual-h1/is-primary") > stamp, what="refresh")
    assert abs(h1.stamp("resource-r1/actual-h1/is-primary") - parse_stamp(h1.get("actual-h1/time"))) < 2 * 10 ** 9


def test_join_full_sync_and_handover(cluster):
    h1, h2, h3 = cluster.hosts
    h1.create_resource("r1", h1.disk, SIZE)
    wait_until(lambda: h1.indicator("r1", "is-primary") == "1", timeout=5, what="primary")
    for host in (h2, h3):
        wait_until(lambda h=host: h.res("r1", "replay-h1"), what="resource on %s" % host.name)
        host.join_resource("r1", host.disk, h1)
    for host in (h2, h3):
        wait_until(lambda h=host: h.res("r1", "syncstatus-" + h.name) == str(SIZE), timeout=20, what="sync")
        assert host.res("r1", "syncpos-" + host.name) == "log-000000001-h1,0,0"
        wait_until(lambda h=host: h.indicator("r1", "is-syncing") == "0", what="is-syncing 0")
        assert host.indicator("r1", "is-primary") == "0" and host.indicator("r1", "if-on") == "0"
        assert not os.path.exists(os.path.join(host.paths.dev_mars, "r1"))
    assert md5(h1.disk) == md5(h2.disk) == md5(h3.disk)
    wait_until(lambda: h1.res("r1", "data-h2") and h1.res("r1", "syncstatus-h3") == str(SIZE), what="members on h1")

    # planned handover to h2, the way marsadm does it: primary=(none), wait for the old primary to
    # disappear, then primary=h2.  An open device on h1 holds the handover until it is closed.
    with open(os.path.join(h1.paths.dev_mars, "r1"), "rb"):
        wait_until(lambda: h1.indicator("r1", "open-count") == "1", what="open-count 1")
        h2.set("resource-r1/primary", "(none)")
        wait_until(lambda: h1.res("r1", "primary") == "(none)", what="primary link on h1")
        since = wait_for_pass(h1)  # h1 had its chance to step down
        assert h1.indicator("r1", "is-primary") == "1"
        wait_for_merge(h2, h1, since)
        assert h2.get("resource-r1/actual-h1/is-primary") == "1"
    wait_until(lambda: h2.get("resource-r1/actual-h1/is-primary") == "0", timeout=5, what="old primary to step down")
    assert not os.path.exists(os.path.join(h1.paths.dev_mars, "r1"))
    assert h1.indicator("r1", "if-on") == "0" and h1.indicator("r1", "is-attached") == "1"
    h2.set("resource-r1/primary", "h2")
    wait_until(lambda: h2.indicator("r1", "is-primary") == "1", timeout=5, what="new primary")
    assert os.path.exists(os.path.join(h2.paths.dev_mars, "r1"))
    # the new primary opens its own logfile; the others replay to byte-identical links
    assert os.path.isfile(h2.path("resource-r1/log-000000002-h2"))
    assert h2.res("r1", "replay-h2") == "log-000000002-h2,0,0"
    version = h2.res("r1", "version-000000002-h2")
    assert version.endswith(",log-000000002-h2,0:" + h1.res("r1", "version-000000001-h1").split(":")[0])
    for host in (h1, h3):
        # replay writes the replay link, then the version link: wait for both
        wait_until(lambda h=host: h.res("r1", "replay-" + h.name) == "log-000000002-h2,0,0"
                   and h.res("r1", "version-000000002-" + h.name) == version, what="replay to h2's version link")
    wait_until(lambda: h3.get("resource-r1/actual-h2/is-primary") == "1", what="h3 to see h2 primary")


def test_sync_pause_resume_and_cut_link(cluster):
    h1, h2 = cluster.hosts[:2]
    for host in cluster.hosts:
        host.stop()
        host.extra_args = ["--sync-rate", "16384"]  # 16 MiB/s: 64 MiB take about 4 s
        host.start(wait=False)
    since = time.time_ns()
    for host in cluster.hosts:
        host.wait_loaded(since)
    h1.create_resource("r1", h1.disk, SIZE)
    wait_until(lambda: h1.indicator("r1", "is-primary") == "1", timeout=5, what="primary")
    wait_until(lambda: h2.res("r1", "replay-h1"), what="resource on h2")
    h2.join_resource("r1", h2.disk, h1)

    def progress():
        return int(h2.res("r1", "syncstatus-h2") or 0)

    wait_until(lambda: h2.indicator("r1", "is-syncing") == "1", what="sync start")
    wait_until(lambda: 0 < progress() < SIZE, what="progress")

    # while syncing, msg-inf-sync shows the copy (as the real module's copy brick does)
    info = wait_until(lambda: re.search(r" (from = 'data-h1@h1:%d' to = 'data-h2' on = 1 start_pos = 0 end_pos = %d"
                                        r" actual_pos = ([0-9]+) .* nr_errors = 0)$" % (cluster.port + 2, SIZE),
                                        h2.indicator("r1", "msg-inf-sync")), what="msg-inf-sync")
    assert 0 <= int(info.group(2)) <= SIZE

    h2.set("resource-r1/todo-h2/sync", "0")  # pause-sync
    wait_until(lambda: h2.indicator("r1", "is-syncing") == "0", what="pause")
    paused_at = progress()
    # passes of h2 spanning more than two progress intervals of a running sync: its chances to go on
    wait_for_pass(h2, since=h2.stamp("resource-r1/actual-h2/is-syncing") + 2 * PROGRESS_INTERVAL_NS)
    assert progress() == paused_at < SIZE

    h1.cut()  # the primary stops answering: the sync stalls
    try:
        failures = log_count(h2, "sync from h1 interrupted")
        h2.set("resource-r1/todo-h2/sync", "1")
        # each attempt on the frozen primary times out: two of them, and no progress in between
        wait_until(lambda: log_count(h2, "sync from h1 interrupted") > failures, timeout=15, what="a stalled sync")
        stalled_at = progress()
        wait_until(lambda: log_count(h2, "sync from h1 interrupted") > failures + 1, timeout=15, what="another attempt")
        assert progress() == stalled_at < SIZE
    finally:
        h1.heal()
    wait_until(lambda: progress() == SIZE, timeout=30, what="sync to finish after healing")
    # the text outlives the sync by mars_keep_msg_s, like every message (A06, 22 s later, shows OK)
    assert " from = 'data-h1@h1:" in h2.indicator("r1", "msg-inf-sync")
    assert md5(h1.disk) == md5(h2.disk)
    assert h2.res("r1", "syncpos-h2") == "log-000000001-h1,0,0"


def test_detach_and_kill9_restart(cluster):
    h1, h2 = cluster.hosts[:2]
    h1.create_resource("r1", h1.disk, SIZE)
    wait_until(lambda: h1.indicator("r1", "is-primary") == "1", timeout=5, what="primary")
    h1.kill9()
    h1.start()
    # the restarted daemon adopts the running device at once
    wait_until(lambda: h1.indicator("r1", "is-primary") == "1", timeout=3, what="primary after restart")
    assert h1.res("r1", "primary") == "h1" and h1.res("r1", "syncstatus-h1") == str(SIZE)
    assert os.path.exists(os.path.join(h1.paths.dev_mars, "r1"))
    wait_until(lambda: h2.get("resource-r1/actual-h1/is-primary") == "1", what="h2 sees h1")
    # detach on the primary: the device goes down, then the disk is closed
    h1.set("resource-r1/todo-h1/attach", "0")
    wait_until(lambda: h1.indicator("r1", "is-attached") == "0", timeout=5, what="detach")
    assert h1.indicator("r1", "is-primary") == "0"
    assert not os.path.exists(os.path.join(h1.paths.dev_mars, "r1"))


def test_logged_writes_are_fetched_and_replayed(cluster):
    h1, h2, h3 = cluster.hosts
    h1.create_resource("r1", h1.disk, SIZE)
    wait_until(lambda: h1.indicator("r1", "is-primary") == "1", timeout=5, what="primary")
    for host in (h2, h3):
        wait_until(lambda h=host: h.res("r1", "replay-h1"), what="resource on %s" % host.name)
        host.join_resource("r1", host.disk, h1)
    for host in (h2, h3):
        wait_until(lambda h=host: h.res("r1", "syncstatus-" + h.name) == str(SIZE), timeout=20, what="sync")
    for block in range(64):
        h1.write("r1", block * 512 * 1024, bytes([block]) * 4096 + b"MARS" * 1024)
    log_size = os.path.getsize(h1.path("resource-r1/log-000000001-h1"))
    wait_until(lambda: h1.res("r1", "replay-h1") == "log-000000001-h1,%d,0" % log_size, what="primary log end")
    for host in (h2, h3):
        wait_until(lambda h=host: caught_up(h, h1) and h.res("r1", "replay-h1") == h1.res("r1", "replay-h1"),
                   timeout=10, what="%s to replay" % host.name)
        assert host.res("r1", "version-000000001-" + host.name) == h1.res("r1", "version-000000001-h1")
        assert os.path.getsize(host.path("resource-r1/log-000000001-h1")) == log_size
    assert md5(h1.disk) == md5(h2.disk) == md5(h3.disk)
    # handover after writes: the new primary continues the chain from the replayed position
    h2.set("resource-r1/primary", "(none)")
    wait_until(lambda: h2.get("resource-r1/actual-h1/is-primary") == "0", timeout=5, what="step down")
    h2.set("resource-r1/primary", "h2")
    wait_until(lambda: h2.indicator("r1", "is-primary") == "1", timeout=5, what="new primary")
    h2.write("r1", 4096, b"after handover" * 100)
    wait_until(lambda: caught_up(h1, h2) and h1.res("r1", "replay-h2") == h2.res("r1", "replay-h2")
               != "log-000000002-h2,0,0", timeout=10, what="old primary to replay the new one's writes")
    assert h1.res("r1", "version-000000002-h1") == h2.res("r1", "version-000000002-h2")
    assert md5(h1.disk) == md5(h2.disk)
