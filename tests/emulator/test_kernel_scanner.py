"""The dentry scanner's cached listings and the merge that compares with them (issue #15): what a
peer is sent and what a merge decides must be what a full walk of the tree would give, right after
any change, however soon after the previous scan it came."""

import os
import time

import pytest

from marsemu.common import DELETED, Paths, set_link
from marsemu.kernel.clock import LamportClock
from marsemu.kernel.replication import Tree
from marsemu.kernel.scanner import Scanner

SECOND = 1000000000


def full_walk(root):
    """The dentry list as a fresh scanner (nothing cached) reads it, keyed by path."""
    return {entry[0]: entry for entry in Scanner(root).scan()}


def scanned(scanner):
    entries = scanner.scan()
    assert len({entry[0] for entry in entries}) == len(entries), "an entry twice"
    return {entry[0]: entry for entry in entries}


@pytest.fixture(name="tree")
def fixture_tree(tmp_path):
    paths = Paths(str(tmp_path))
    os.makedirs(os.path.join(paths.mars, "resource-r1", "actual-h1"))
    tree = Tree(paths, LamportClock(), "h2")
    tree.set("resource-r1/primary", "h1")
    tree.set("resource-r1/actual-h1/is-primary", "1")
    tree.set("ips/ip-h1", "10.0.0.1")
    with open(tree.path("resource-r1/log-000000001-h1"), "wb") as handle:
        handle.write(b"x" * 100)
    return tree


@pytest.mark.parametrize("settled", [False, True], ids=["same-tick", "settled"])
def test_every_change_right_after_a_scan_is_in_the_next(tree, settled, monkeypatch):
    """Changes in the same clock tick as the scan before them, and (SETTLED) changes to listings the
    scanner reuses for as long as their directory's ctime stays."""
    scanner = tree.scanner
    if settled:
        real_time_ns = time.time_ns
        monkeypatch.setattr("marsemu.kernel.scanner.time.time_ns", lambda: real_time_ns() + 10 * SECOND)
    root = tree.paths.mars
    changes = [
        lambda: tree.set("resource-r1/primary", "h2"),  # a new value
        lambda: tree.set("resource-r1/primary", "h2"),  # the same value, a newer stamp
        lambda: tree.set("resource-r1/size", "4096"),  # a new link
        lambda: tree.set("resource-r1/size", DELETED),  # deleted
        lambda: os.unlink(tree.path("ips/ip-h1")),  # gone (rm)
        lambda: os.makedirs(tree.path("resource-r2/todo-h1")),  # a new directory ...
        lambda: tree.set("resource-r2/todo-h1/attach", "1"),  # ... and a link in it
        lambda: tree.set("resource-r1/actual-h1/is-primary", "0"),  # two levels down
        lambda: open(tree.path("resource-r1/log-000000001-h1"), "ab").write(b"y" * 50),  # a logfile grows
        lambda: set_link(tree.path("userspace/.tmp.1.x"), "1", 1),  # a dot name: never sent
    ]
    for change in changes:
        scanned(scanner)
        if settled:
            time.sleep(0.02)  # a clock tick: the change gets a ctime of its own
        change()
        assert scanned(scanner) == full_walk(root)
    # the logfile's size is current
    assert scanned(scanner)["resource-r1/log-000000001-h1"][4] == 150


def test_listings_are_reused_only_while_their_directory_is_unchanged(tree, monkeypatch):
    """Once settled, an unchanged directory is not read again; a changed one is."""
    scanner = tree.scanner
    reads = []
    real_listdir = os.listdir

    def listdir(path):
        reads.append(os.path.relpath(path, tree.paths.mars))
        return real_listdir(path)

    # as if the tree had last changed two seconds before the scans below
    monkeypatch.setattr("marsemu.kernel.scanner.time.time_ns", lambda: os.stat(tree.paths.mars).st_ctime_ns + 10 * SECOND)
    scanner.scan()
    monkeypatch.setattr("marsemu.kernel.scanner.os.listdir", listdir)
    scanner.scan()
    assert not reads
    tree.set("resource-r1/primary", "h3")
    scanned(scanner)
    assert reads == ["resource-r1"]
    # a directory changed within the last clock ticks is read again on every scan: a change in the
    # same tick could leave its ctime as it was
    monkeypatch.setattr("marsemu.kernel.scanner.time.time_ns", lambda: os.stat(tree.path("resource-r1")).st_ctime_ns + 1000)
    tree.set("resource-r1/primary", "h4")
    del reads[:]
    scanned(scanner)
    scanned(scanner)
    assert reads == ["resource-r1", "resource-r1"]


def test_merge_skips_nothing_newer_and_restores_what_was_removed(tree):
    """A peer's newer link is taken, an older or equal one is not, and a link removed here (rm) comes
    back from the peer's list although the peer's entry did not change (MARS: KDEV:1631-1661)."""
    tree.scanner.scan()
    old = os.lstat(tree.path("resource-r1/primary")).st_mtime_ns
    peer = [["resource-r1/primary", "l", "h9", old - SECOND, 0], ["ips/ip-h1", "l", "10.0.0.1", old + SECOND, 0]]
    tree.merge(peer)
    assert tree.get("resource-r1/primary") == "h1"
    os.unlink(tree.path("ips/ip-h1"))
    tree.merge(peer)
    assert tree.get("ips/ip-h1") == "10.0.0.1"
    peer[0][3] = old + 2 * SECOND
    tree.merge(peer)
    assert tree.get("resource-r1/primary") == "h9"
    # a .deleted onto what this host does not have stays away; onto what it has, it lands
    tree.merge([["resource-r1/never", "l", DELETED, old + SECOND, 0], ["ips/ip-h1", "l", DELETED, old + 3 * SECOND, 0]])
    assert not os.path.lexists(tree.path("resource-r1/never"))
    assert os.readlink(tree.path("ips/ip-h1")) == DELETED


def test_a_refreshed_indicator_is_stamped_in_place_and_sent_with_its_new_stamp(tree, monkeypatch):
    rel = "resource-r1/actual-h1/is-primary"
    real_time_ns = time.time_ns
    monkeypatch.setattr("marsemu.kernel.scanner.time.time_ns", lambda: real_time_ns() + 10 * SECOND)  # listings settled
    tree.scanner.scan()
    before = os.lstat(tree.path(rel))
    newer = before.st_mtime_ns + SECOND
    changed, _logfiles, _systemd = tree.merge([[rel, "l", "1", newer, 0]])
    after = os.lstat(tree.path(rel))
    assert not changed  # an indicator wakes nothing
    assert (after.st_ino, after.st_mtime_ns, os.readlink(tree.path(rel))) == (before.st_ino, newer, "1")
    # what this host sends on: the new stamp, although the directory did not change
    assert scanned(tree.scanner)[rel][3] == newer == full_walk(tree.paths.mars)[rel][3]
    # a new value is a new link, as MARS writes it
    tree.merge([[rel, "l", "0", newer + 1, 0]])
    assert os.lstat(tree.path(rel)).st_ino != before.st_ino and tree.get(rel) == "0"


def test_only_news_that_needs_a_reaction_wakes_the_main_loop(tree):
    """Indicators and actsize-HOST change on every pass of every peer: merging them must not start a
    pass here (idle hosts did one per peer's pass); a switch or primary does."""
    newer = os.lstat(tree.path("resource-r1/primary")).st_mtime_ns + SECOND
    assert not tree.merge([["resource-r1/actsize-h1", "l", "4096", newer, 0],
                           ["resource-r1/actual-h1/is-primary", "l", "0", newer, 0]])[0]
    assert tree.merge([["resource-r1/primary", "l", "h3", newer, 0]])[0]


def test_an_unchanged_indicator_is_rewritten_only_once_per_real_main_loop_round(tmp_path):
    """The emulator's pass runs every second, the real module's round every scan_interval_sec (5 s):
    an indicator with the same value keeps its stamp for 5 s, a new value lands at once, and a link
    someone else wrote meanwhile is written again by the next pass that began after it."""
    now = [100 * SECOND]
    paths = Paths(str(tmp_path))
    tree = Tree(paths, LamportClock(time_ns=lambda: now[0]), "h1")
    link = "resource-r1/actual-h1/is-primary"

    def publish(value, seconds_later):
        now[0] += seconds_later * SECOND
        tree.set_unless_newer(link, value, tree.clock.now())
        return tree.get(link), os.lstat(tree.path(link)).st_mtime_ns

    assert publish("0", 0) == ("0", now[0] + 1)
    first = now[0] + 1
    assert publish("0", 1) == ("0", first), "an unchanged indicator was rewritten after 1 s"
    assert publish("0", 3) == ("0", first), "an unchanged indicator was rewritten after 4 s"
    value, stamp = publish("0", 2)
    assert (value, stamp > first + 5 * SECOND) == ("0", True), "not rewritten after 6 s"
    assert publish("1", 1)[0] == "1", "a new value waited for the refresh"
    set_link(tree.path(link), "0", now[0] + 2)  # another writer (leave-resource's mark)
    assert publish("1", 1)[0] == "1", "the other writer's older link stayed"
