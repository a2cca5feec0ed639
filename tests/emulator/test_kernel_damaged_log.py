"""A crashed primary's torn logfile tail, after a forced failover (found by the chaos soak, #16).

The crash state: the primary h1 logged a last record R, its secondary h2 fetched and replayed R,
then h1 lost power before its next pass had published R in ``replay-h1``/``version-1-h1`` and
before R's page reached its disk: its own copy of the logfile ends in zeros where R was.  h2 is
made primary by force and writes on.  When h1 comes back as a secondary, its replay stops at the
zeros ("bad record magic"), and its version chain ends before R while h2's includes R.

MARS repairs that itself (``mars_main.c``: a secondary whose log is damaged fetches that logfile
again from a peer, ``_update_file`` with ``start_pos = 0``): h1 must end up with h2's data and no
error, without an operator.
"""

import io
import time

from kernel_cluster import replayed_everything, wait_until
from marsemu.kernel.logfile import encode_write
from marsemu.marsadm import main
from test_kernel_roles import md5

LOG1 = "resource-r1/log-000000001-h1"


def marsadm(host, *argv):
    out, err = io.StringIO(), io.StringIO()
    rc = main(["--window=10", "--timeout=20"] + list(argv), stdout=out, stderr=err,
              root=host.paths.root, hostname=host.name)
    return rc, out.getvalue(), err.getvalue()


def crash_with_a_torn_tail(h1, h2):
    """Log R on h1, give it to h2 as a fetch would, kill h1 before it publishes R, and tear R in h1's log.

    h1 is frozen while R is logged, so its ``replay-h1`` and ``version-1-h1`` stay before R, as
    after a power cut right after the write; h2's copy of the logfile gets R's bytes directly.
    """
    torn_at = h1.size_of(LOG1)
    h1.cut()
    h1.write("r1", 1 << 20, b"R" * 3440)
    with open(h1.path(LOG1), "rb") as log:
        log.seek(torn_at)
        record = log.read()
    with open(h2.path(LOG1), "ab") as copy:
        copy.write(record)
    wait_until(lambda: h2.res("r1", "replay-h2") == "log-000000001-h1,%d,0" % h1.size_of(LOG1),
               timeout=10, what="h2 to replay R")
    h1.kill9()
    with open(h1.path(LOG1), "r+b") as log:
        log.seek(torn_at)
        log.write(bytes(len(record)))
    return torn_at


def fail_over_to_h2(h2, h3):
    """Forced failover to h2 while h1 is down; h2 writes on in its own logfile and h3 follows."""
    h2.set("resource-r1/primary", "h2")
    wait_until(lambda: h2.indicator("r1", "is-primary") == "1", timeout=10, what="forced primary")
    wait_until(lambda: h2.res("r1", "replay-h2").startswith("log-000000002-h2,"), what="new logfile on h2")
    h2.write("r1", 2 << 20, b"after the failover " * 1000)
    wait_until(lambda: replayed_everything(h3, h2) and not h2.res("r1", "replay-h2").endswith(",0,0"),
               timeout=10, what="h3 to follow h2")


def bring_back_h1(h1, h2):
    """h1 returns knowing the failover (its primary link as h2's) and must catch up with h2."""
    h1.set("resource-r1/primary", "h2", h2.stamp("resource-r1/primary"))
    h1.start()
    wait_until(lambda: replayed_everything(h1, h2), timeout=20, what="h1 to replay up to h2's log end")


def test_the_old_primary_repairs_its_torn_logfile_from_the_new_primary(synced):
    h1, h2, h3 = synced.hosts
    torn_at = crash_with_a_torn_tail(h1, h2)
    fail_over_to_h2(h2, h3)
    bring_back_h1(h1, h2)
    assert h1.size_of(LOG1) == h2.size_of(LOG1) > torn_at
    assert md5(h1.disk) == md5(h2.disk) == md5(h3.disk)
    for number in ("000000001", "000000002"):
        for host in (h1, h3):
            assert host.res("r1", "version-%s-%s" % (number, host.name)) == h2.res("r1", "version-%s-h2" % number)
    wait_until(lambda: h1.indicator("r1", "msg-err-replay-stop") == "OK", timeout=10, what="the replay error to clear")
    rc, out, _err = marsadm(h1, "view-is-split-brain", "r1")
    assert (rc, out) == (0, "0\n")


def test_a_forced_primary_first_replays_what_it_has_fetched(synced):
    """h2 holds R (fetched, not yet replayed) when it is made primary by force: MARS replays the
    logfiles present before it opens its own, so R is on h2's disk and in its version chain, and
    h3, which replayed R, stays on h2's history."""
    h1, h2, h3 = synced.hosts
    h1.cut()
    h1.write("r1", 1 << 20, b"R" * 3440)
    with open(h1.path(LOG1), "rb") as log:
        log.seek(h2.size_of(LOG1))
        record = log.read()
    h2.kill9()  # R arrives while h2 is down: nothing replays it before h2 becomes primary
    for host in (h2, h3):
        with open(host.path(LOG1), "ab") as copy:
            copy.write(record)
    wait_until(lambda: h3.res("r1", "replay-h3") == "log-000000001-h1,%d,0" % h1.size_of(LOG1),
               timeout=10, what="h3 to replay R")
    h1.kill9()
    h2.set("resource-r1/primary", "h2")
    h2.extra_args += ["--primary-delay", "0"]
    h2.start()
    wait_until(lambda: h2.res("r1", "replay-h2").startswith("log-000000002-h2,"), what="new logfile on h2")
    assert h2.res("r1", "version-000000001-h2") == h3.res("r1", "version-000000001-h3")
    with open(h2.disk, "rb") as disk:
        disk.seek(1 << 20)
        assert disk.read(3440) == b"R" * 3440
    h2.write("r1", 2 << 20, b"after the failover " * 1000)
    wait_until(lambda: replayed_everything(h3, h2), timeout=10, what="h3 to follow h2")
    assert h3.indicator("r1", "msg-err-splitbrain-detected") == "OK"
    assert md5(h3.disk) == md5(h2.disk)


def test_the_old_primary_skips_a_torn_tail_nobody_else_has(synced):
    """R was logged on h1 but reached neither its disk nor any peer before the crash, and its copy
    is torn.  h2's forced primary logfile continues from before R, so h1 switches over to it at the
    damaged record ("exceptional switchover") instead of waiting for a copy nobody has."""
    h1, h2, h3 = synced.hosts
    torn_at = h1.size_of(LOG1)
    h1.cut()  # frozen: nothing of R is published or fetched
    records, _seq = encode_write(1 << 20, b"R" * 3440, time.time_ns(), 10 ** 6)
    with open(h1.path(LOG1), "ab") as log:
        log.write(bytes(len(records)))  # torn: the record's page never reached h1's /mars
    h1.kill9()
    fail_over_to_h2(h2, h3)
    assert h2.res("r1", "version-000000001-h2").split(",")[2].startswith("%d:" % torn_at)
    bring_back_h1(h1, h2)
    assert md5(h1.disk) == md5(h2.disk) == md5(h3.disk)
    assert h1.res("r1", "version-000000002-h1") == h2.res("r1", "version-000000002-h2")
    rc, out, _err = marsadm(h1, "view-is-split-brain", "r1")
    assert (rc, out) == (0, "0\n")
