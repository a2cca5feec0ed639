"""Logfile rotation and deletion on the emulated kernel side, driven by the emulated marsadm:
``log-rotate`` starts the next logfile, replay follows it on every secondary, and ``log-delete``
removes the logfiles every member has replayed, on every host, without their being fetched again."""

import io
import os
import time

from kernel_cluster import replayed_everything, wait_for_merge, wait_for_pass, wait_until
from marsemu.common import lamport_now
from marsemu.marsadm import main
from test_kernel_roles import md5


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
