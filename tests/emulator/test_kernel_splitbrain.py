"""Split brain on the emulated kernel side: a forced primary during a partition, writes on both
sides, healing.  Replay must refuse to go on over diverged data, both sides must report it, and
``invalidate`` on the loser must bring it back to the primary's data."""

import io
import re

from kernel_cluster import replayed_everything, wait_until
from marsemu.marsadm import main
from test_kernel_roles import SIZE, md5


def marsadm(host, *argv):
    out, err = io.StringIO(), io.StringIO()
    rc = main(["--window=10", "--timeout=20"] + list(argv), stdout=out, stderr=err,
              root=host.paths.root, hostname=host.name)
    return rc, out.getvalue(), err.getvalue()


def force_primary_during_partition(cluster):
    """h1 cut off and still writing; h2 made primary (as ``primary --force``) and writing."""
    h1, h2, h3 = cluster.hosts
    h1.cut()
    h1.write("r1", 0, b"lost on h1 " * 1000)  # reaches h1's log and disk only
    h2.set("resource-r1/primary", "h2")
    wait_until(lambda: h2.indicator("r1", "is-primary") == "1", timeout=10, what="forced primary")
    wait_until(lambda: h2.res("r1", "replay-h2").startswith("log-000000002-h2,"), what="new logfile on h2")
    h2.write("r1", 4096, b"new on h2 " * 1000)
    wait_until(lambda: replayed_everything(h3, h2) and h2.res("r1", "replay-h2") != "log-000000002-h2,0,0",
               timeout=10, what="h3 to follow h2")
    assert md5(h3.disk) == md5(h2.disk)
    h1.heal()


def test_split_brain_stops_replay_and_is_reported_on_both_sides(synced):
    h1, h2, h3 = synced.hosts
    force_primary_during_partition(synced)
    # the old primary steps down when the newer primary link arrives, and refuses to replay
    wait_until(lambda: h1.indicator("r1", "is-primary") == "0", timeout=10, what="h1 to step down")
    wait_until(lambda: h1.indicator("r1", "msg-err-splitbrain-detected") != "OK", timeout=10,
               what="split brain message on h1")
    message = h1.indicator("r1", "msg-err-splitbrain-detected")
    assert "VERSION MISMATCH" in message and "version-000000001-h1" in message
    assert h1.res("r1", "replay-h1").startswith("log-000000001-h1,")
    assert md5(h1.disk) != md5(h2.disk)
    # the hosts that followed the new primary are fine
    assert h3.indicator("r1", "msg-err-splitbrain-detected") == "OK"
    for host in (h1, h2, h3):
        wait_until(lambda h=host: h.res("r1", "replay-h1") == h1.res("r1", "replay-h1"), timeout=10,
                   what="h1's replay link on %s" % host.name)
        rc, out, err = marsadm(host, "view-is-split-brain", "r1")
        assert (rc, out) == (0, "1\n"), (host.name, rc, out, err)
    # marsadm's planned handover only warns (the collection's handover module refuses)
    _rc, _out, err = marsadm(h1, "--timeout=1", "primary", "r1")
    # the split point is the common position "log-N-ORIGIN,POS", as marsadm's _parse_pos gives it, with
    # the age of its logfile (the real one: "after logfile 'log-000000004-vm1,0' age ~00:06:50")
    assert re.search(r"^WARNING: SPLIT BRAIN of resource 'r1' after logfile 'log-000000001-h1,[0-9]+'"
                     r" age ~[0-9]{2}:[0-9]{2}:[0-9]{2}$", err, re.M), err


def test_invalidate_on_the_loser_repairs_split_brain(synced):
    h1, h2, _h3 = synced.hosts
    force_primary_during_partition(synced)
    wait_until(lambda: h1.indicator("r1", "msg-err-splitbrain-detected") != "OK", timeout=10,
               what="split brain on h1")
    rc, out, err = marsadm(h1, "invalidate", "r1")
    assert rc == 0, out + err
    wait_until(lambda: h1.res("r1", "syncstatus-h1") == str(SIZE) and replayed_everything(h1, h2),
               timeout=30, what="full sync of h1")
    wait_until(lambda: md5(h1.disk) == md5(h2.disk), timeout=10, what="equal data")
    for host in synced.hosts:
        wait_until(lambda h=host: marsadm(h, "view-is-split-brain", "r1")[1] == "0\n", timeout=10,
                   what="no split brain on %s" % host.name)
    # the message outlives its cause by mars_keep_msg_s (10 s), as the kernel's do
    wait_until(lambda: h1.indicator("r1", "msg-err-splitbrain-detected") == "OK", timeout=15, what="message to go")
    # later writes reach the repaired host again
    before = h2.res("r1", "replay-h2")
    h2.write("r1", 8192, b"after repair " * 100)
    wait_until(lambda: h2.res("r1", "replay-h2") != before and replayed_everything(h1, h2), timeout=10,
               what="h1 to replay new writes")
    assert md5(h1.disk) == md5(h2.disk)


def test_leave_and_join_on_the_loser_repairs_split_brain(synced):
    h1, h2, _h3 = synced.hosts
    force_primary_during_partition(synced)
    wait_until(lambda: h1.indicator("r1", "msg-err-splitbrain-detected") != "OK", timeout=10,
               what="split brain on h1")
    for argv in (("down", "r1"), ("leave-resource", "r1")):
        rc, out, err = marsadm(h1, *argv)
        assert rc == 0, (argv, out + err)
    for host in synced.hosts:
        wait_until(lambda h=host: marsadm(h, "view-is-split-brain", "r1")[1] == "0\n", timeout=10,
                   what="no split brain on %s after leave" % host.name)
    h1.join_resource("r1", h1.disk, h2)
    wait_until(lambda: h1.res("r1", "syncstatus-h1") == str(SIZE) and replayed_everything(h1, h2),
               timeout=30, what="full sync of h1")
    wait_until(lambda: md5(h1.disk) == md5(h2.disk), timeout=10, what="equal data")
    assert marsadm(h2, "view-is-split-brain", "r1")[1] == "0\n"
