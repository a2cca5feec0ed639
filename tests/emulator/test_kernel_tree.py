"""Emulated kernel side: /proc/sys/mars, symlink-tree replication, alive links."""

import os
import time

import pytest

from kernel_cluster import EmuCluster, EmuHost, free_base_port, wait_until
from marsemu.common import DELETED, parse_stamp


@pytest.fixture(name="cluster")
def fixture_cluster(tmp_path):
    cluster = EmuCluster(str(tmp_path), 3)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(name="formed")
def fixture_formed(cluster):
    cluster.form()
    return cluster


def after_stale(source, targets):
    """Wait until a link written on ``source`` after the one under test has reached ``targets``.

    A peer takes the whole dentry list of ``source`` at once, so once the later marker is there,
    the earlier link was offered too: what is still missing then was refused, not just late.
    """
    marker = "userspace/marker-%d" % time.monotonic_ns()
    source.set(marker, "1")
    for target in targets:
        wait_until(lambda t=target: t.get(marker) == "1", what="marker from %s on %s" % (source.name, target.name))


def log_count(host, text):
    with open(host.log, encoding="utf-8", errors="replace") as handle:
        return handle.read().count(text)


def test_procsys_appears_and_vanishes_with_the_daemon(tmp_path):
    host = EmuHost(str(tmp_path), "solo", "127.0.0.11", free_base_port())
    assert not os.path.exists(host.paths.procsys)
    try:
        host.start()
        with open(host.procsys("version"), encoding="ascii") as handle:
            assert handle.read().endswith(" production\n")
        with open(host.procsys("alive_window"), encoding="ascii") as handle:
            assert handle.read() == "30\n"
        assert os.path.exists(host.procsys("tcp_tuning_0_meta_traffic/tcp_keepidle"))

        def clock():
            with open(host.procsys("lamport_clock"), encoding="ascii") as handle:
                lines = handle.read().split("\n")
            assert lines[0].startswith("CURRENT_TIME=") and lines[2].startswith("CALLS=")
            assert lines[1].startswith("lamport_now=")
            return parse_stamp(lines[1].split("=")[1])

        first = clock()
        time.sleep(0.2)
        assert clock() > first
        assert abs(clock() - time.time_ns()) < 2 * 10 ** 9
        for name, value in (("time", None), ("alive", "1"), ("tree", "0.1"), ("features", "4,5,0x05170000")):
            got = host.get("actual-solo/" + name)
            assert got == value or (value is None and parse_stamp(got) > 0)
        assert host.get("actual-solo/buildtag").startswith("marsemu-0.1astable177(")
    finally:
        host.stop()
    assert not os.path.exists(host.paths.procsys)


def test_time_link_advances_and_triggers_wake_the_daemon(cluster):
    host = cluster[0]
    before = host.get("actual-h1/time")
    host.trigger("1")
    wait_until(lambda: host.get("actual-h1/time") != before, timeout=1.0, what="trigger 1 to refresh time")
    assert host.stamp("actual-h1/time") == parse_stamp(host.get("actual-h1/time"))


def test_join_converges_within_seconds(formed):
    started = time.monotonic()
    formed[0].set("userspace/hello", "world")
    for host in formed.hosts:
        wait_until(lambda h=host: h.get("userspace/hello") == "world", timeout=5, what="replication")
    assert time.monotonic() - started < 5
    # every host sees every other host alive, and records when it read the peer's tree
    for host in formed.hosts:
        for other in formed.hosts:
            wait_until(lambda h=host, o=other: h.get("actual-%s/time" % o.name), what="alive links")
            if other is not host:
                wait_until(lambda h=host, o=other: h.get("actual-%s/read-stamp" % o.name), what="read-stamp")
    # the replicated link keeps its mtime (the Lamport stamp of the writer)
    stamps = {host.stamp("userspace/hello") for host in formed.hosts}
    assert len(stamps) == 1


def test_newer_wins_older_never(formed):
    h1, h2, h3 = formed.hosts
    stamp = h1.set("userspace/key", "one")
    wait_until(lambda: h3.get("userspace/key") == "one", what="first value")
    # an older write on another host must not spread, and is overwritten by the newer one
    h2.set("userspace/key", "stale", stamp - 10 ** 9)
    after_stale(h2, (h1, h3))
    assert h1.get("userspace/key") == "one" and h3.get("userspace/key") == "one"
    wait_until(lambda: h2.get("userspace/key") == "one", what="the newer value back on h2")
    # a newer one wins everywhere, even if it comes from a host with a slower clock
    h3.set("userspace/key", "two", stamp + 1)
    for host in formed.hosts:
        wait_until(lambda h=host: h.get("userspace/key") == "two", what="newer value")


def test_deleted_spreads_only_onto_existing_links(formed):
    h1, h2, h3 = formed.hosts
    h1.set("userspace/doomed", "x")
    wait_until(lambda: h3.get("userspace/doomed") == "x", what="value")
    h2.delete("userspace/doomed")
    for host in formed.hosts:
        wait_until(lambda h=host: os.readlink(h.path("userspace/doomed")) == DELETED, what=".deleted")
    h1.set("userspace/never-existed", DELETED)
    after_stale(h1, (h2,))
    assert not os.path.lexists(h2.path("userspace/never-existed"))


def test_dot_names_and_foreign_dirs_are_not_replicated(formed):
    h1, h2 = formed.hosts[:2]
    h1.set("userspace/.hidden", "x")
    os.makedirs(h1.path("cache-h1"), exist_ok=True)
    h1.set("cache-h1/invalid", "1")
    os.makedirs(h1.path("resource-r9/todo-h1"), exist_ok=True)
    h1.set("resource-r9/todo-h1/attach", "0")
    wait_until(lambda: h2.get("resource-r9/todo-h1/attach") == "0", what="usable dirs to replicate")
    assert not os.path.lexists(h2.path("userspace/.hidden"))
    assert not os.path.exists(h2.path("cache-h1"))


def test_other_cluster_uuid_is_ignored(formed):
    h1, h2, h3 = formed.hosts
    h2.set("uuid", "other_1.000000000")  # newer than h1's, so no merge still in flight can undo it
    h1.set("userspace/after", "1")
    # h3 (same uuid) gets it, so h1 offers it; h2 fetched h1's tree twice since and refused it
    wait_until(lambda: h3.get("userspace/after") == "1", what="h1's link to reach h3")
    seen = log_count(h2, "ignoring peer h1: uuid")
    wait_until(lambda: log_count(h2, "ignoring peer h1: uuid") >= seen + 2, what="h2 to refuse h1's tree")
    assert h2.get("userspace/after") is None


def test_partitioned_host_catches_up_after_healing(formed):
    h1, h2, h3 = formed.hosts
    h3.cut()
    try:
        h1.set("userspace/during", "from-h1")
        # the cut-off host's own writes (e.g. marsadm on it) wait too
        h3.set("userspace/mine", "from-h3")
        wait_until(lambda: h2.get("userspace/during") == "from-h1", what="h2 to see h1")
        after_stale(h2, (h1,))  # h1 has gone on merging meanwhile, just not from the frozen h3
        assert h3.get("userspace/during") is None and h1.get("userspace/mine") is None
        stale = h3.get("actual-h3/time")
    finally:
        h3.heal()
    for host in formed.hosts:
        wait_until(lambda h=host: h.get("userspace/during") == "from-h1" and h.get("userspace/mine") == "from-h3",
                   what="catch-up after healing")
    wait_until(lambda: h1.get("actual-h3/time") > stale, what="fresh alive link")


def test_push_trigger_writes_on_the_peer(formed):
    h1, h2 = formed.hosts[:2]
    h2.trigger("p h1 hello /mars/userspace/pushed")
    wait_until(lambda: h1.get("userspace/pushed") == "hello", timeout=3, what="push")
    h2.trigger("P h1 %s bad /etc/evil\n" % h1.ip)  # newline: the next code may share a pipe read
    h2.trigger("P h1 %s good /mars/userspace/after-evil" % h1.ip)
    wait_until(lambda: h1.get("userspace/after-evil") == "good", timeout=3, what="the push after the bad one")
    assert not os.path.lexists(os.path.join(h1.paths.root, "etc/evil"))


def test_fetch_trigger_rebases_a_peer_tree(formed):
    h1, h2 = formed.hosts[:2]
    os.makedirs(h2.path("probe-h2"), exist_ok=True)
    h2.trigger("f h1 %s /mars/probe-h2" % h1.ip)
    wait_until(lambda: h2.get("probe-h2/got-h1") == "1", what="probe")
    assert h2.get("probe-h2/ips/ip-h1") == h1.ip


def test_kill9_and_restart_keeps_the_tree(formed):
    h1, h2 = formed.hosts[:2]
    h1.set("userspace/persist", "yes")
    wait_until(lambda: h2.get("userspace/persist") == "yes", what="value")
    h2.kill9()
    assert os.path.isdir(h2.paths.procsys)  # a crashed "module" leaves its /proc entry behind
    h1.set("userspace/while-down", "1")
    h2.start()
    wait_until(lambda: h2.get("userspace/while-down") == "1", what="catch-up after restart")
    assert h2.get("userspace/persist") == "yes" and h2.get("uuid") == h1.get("uuid")


def test_quick_changes_all_arrive_and_the_last_wins(formed):
    """Changes in quick succession, some in the same clock tick as a peer's pull of the tree, all
    reach the peers within a few pulls (the dentry scanner reads a directory again only when it
    changed, issue #15)."""
    h1, h2, h3 = formed.hosts
    for turn in range(5):
        started = time.monotonic()
        for step in range(3):
            h1.set("userspace/quick", "%d-%d" % (turn, step))
        h1.set("userspace/quick-%d" % turn, "1")
        if turn:
            h1.delete("userspace/quick-%d" % (turn - 1))
        for host in (h2, h3):
            wait_until(lambda h=host, t=turn: h.get("userspace/quick") == "%d-2" % t and h.get("userspace/quick-%d" % t) == "1"
                       and (not t or h.get("userspace/quick-%d" % (t - 1)) is None), timeout=3,
                       what="turn %d on %s" % (turn, host.name))
        assert time.monotonic() - started < 3


def test_a_link_removed_here_comes_back_from_the_peers(formed):
    """A locally rm'ed link comes back from the peers (KDEV:1631-1661), although their entry of it
    did not change since the last pull."""
    h1, h2 = formed.hosts[:2]
    h1.set("userspace/back", "1")
    wait_until(lambda: h2.get("userspace/back") == "1", what="the link on h2")
    os.unlink(h2.path("userspace/back"))
    wait_until(lambda: h2.get("userspace/back") == "1", timeout=3, what="the link back on h2")


def test_a_restarted_host_gets_back_what_it_lost_while_down(formed):
    h1, h2, h3 = formed.hosts
    h1.set("userspace/kept", "1")
    wait_until(lambda: h2.get("userspace/kept") == "1", what="the link on h2")
    h2.stop()
    os.unlink(h2.path("userspace/kept"))
    os.unlink(h2.path("ips/ip-h3"))
    h2.start()
    wait_until(lambda: h2.get("userspace/kept") == "1" and h2.get("ips/ip-h3") == h3.ip, what="h2's tree complete again")
