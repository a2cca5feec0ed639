"""Logfile transfer: a secondary's fetch follows the primary's log end (promptly, not per tree pull)."""

import os
import time

import pytest

from kernel_cluster import EmuCluster, log_count, wait_for_merge, wait_for_pass, wait_until
from marsemu.common import lamport_now

SIZE = 4 * 1024 * 1024
LOG = "resource-r1/log-000000001-h1"
# the secondaries pull the primary's tree only every 5 s: log data must not wait for that
SLOW_PULL = ["--fetch-interval", "5"]


@pytest.fixture(name="pair")
def fixture_pair(tmp_path):
    cluster = EmuCluster(str(tmp_path), 2, extra_args=SLOW_PULL)
    cluster.start()
    try:
        cluster.form()
        h1, h2 = cluster.hosts
        for host in cluster.hosts:
            host.disk = str(tmp_path / ("disk-" + host.name))
            with open(host.disk, "wb") as handle:
                handle.truncate(SIZE)
        h1.create_resource("r1", h1.disk, SIZE)
        wait_until(lambda: h1.indicator("r1", "is-primary") == "1", timeout=5, what="primary")
        wait_until(lambda: h2.res("r1", "replay-h1"), timeout=15, what="resource on h2")
        h2.join_resource("r1", h2.disk, h1)
        wait_until(lambda: h2.res("r1", "syncstatus-h2") == str(SIZE), timeout=20, what="sync")
        wait_until(lambda: os.path.exists(h2.path(LOG)), timeout=15, what="h2 to fetch the logfile")
        yield cluster
    finally:
        cluster.stop()


def copied(host):
    try:
        return os.path.getsize(host.path(LOG))
    except OSError:
        return -1


def timed_write(h1, h2, block):
    h1.write("r1", block * 4096, bytes([block]) * 4096)
    start = time.monotonic()
    size = os.path.getsize(h1.path(LOG))
    wait_until(lambda: copied(h2) == size, timeout=10, interval=0.01, what="h2's copy of the logfile")
    return time.monotonic() - start


def test_log_growth_reaches_the_secondary_before_the_next_tree_pull(pair):
    h1, h2 = pair.hosts
    delays = [timed_write(h1, h2, block) for block in range(3)]
    assert max(delays) < 1.5, delays
    assert h2.indicator("r1", "is-copying") == "0"  # idly following is not copying


def knows_log_end(host, primary):
    """HOST's tree shows PRIMARY's replay link at the end of PRIMARY's logfile (the growth is announced)."""
    return host.res("r1", "replay-h1") == "log-000000001-h1,%d,0" % os.path.getsize(primary.path(LOG))


def test_fetch_pauses_resumes_after_a_cut_link_and_skips_deleted_logfiles(pair):
    h1, h2 = pair.hosts
    timed_write(h1, h2, 1)
    h2.set("resource-r1/todo-h2/connect", "0")
    wait_for_pass(h2)  # the fetch is stopped
    before = copied(h2)
    h1.write("r1", 0, b"paused" * 100)
    # h2 learns of the growth (a pull of h1's tree) and has a pass after that: its chance to fetch
    wait_until(lambda: h1.res("r1", "replay-h1").endswith(",%d,0" % os.path.getsize(h1.path(LOG))), what="h1 to log it")
    h2.trigger("3")
    wait_until(lambda: knows_log_end(h2, h1), what="h2 to see the growth")
    wait_for_pass(h2, passes=2)
    assert copied(h2) == before, "pause-fetch must stop the stream"
    h2.set("resource-r1/todo-h2/connect", "1")
    wait_until(lambda: copied(h2) == os.path.getsize(h1.path(LOG)), timeout=3, what="fetch after resume-fetch")

    h1.cut()
    try:
        failures = log_count(h2, "fetch interrupted")
        h1.write("r1", 8192, b"while cut" * 100)
        # h2's fetch stream to the frozen h1 times out: it tried, and could not get the data
        wait_until(lambda: log_count(h2, "fetch interrupted") > failures, what="h2's fetch to time out")
        assert copied(h2) < os.path.getsize(h1.path(LOG))
    finally:
        h1.heal()
    wait_until(lambda: copied(h2) == os.path.getsize(h1.path(LOG)), timeout=15, what="fetch after the link is back")
    with open(h1.path(LOG), "rb") as primary, open(h2.path(LOG), "rb") as secondary:
        assert primary.read() == secondary.read()

    h2.delete(LOG)  # as log-delete does: a .deleted link in place of the logfile
    # h2 pulls h1's tree and has passes after that: its chance to fetch the logfile again
    since = max(time.time_ns(), lamport_now(h1.paths))
    h2.trigger("3")
    wait_for_merge(h2, h1, since)
    wait_for_pass(h2, passes=2)
    assert os.path.islink(h2.path(LOG))
    assert not os.path.exists(h2.path("resource-r1/.deleted")), "a deleted logfile was fetched again"
