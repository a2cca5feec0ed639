"""The emulated marsadm driving the emulated kernel side (marsemu.kernel daemons over TCP): the
planned lifecycle of traces/real-mars-A on two hosts with loop devices as disks."""

import io
import os
import time

import pytest

from kernel_cluster import EmuHost, free_base_port, wait_until
from marsadm_fakes import LoopDevices
from marsemu.marsadm import main

WAIT = ["--window=10", "--timeout=30"]


def marsadm(host, *argv):
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(argv), stdout=out, stderr=err, root=host.paths.root, hostname=host.name)
    return rc, out.getvalue(), err.getvalue()


def ok(host, *argv):
    rc, out, err = marsadm(host, *argv)
    assert rc == 0, "%s %s\n%s%s" % (host.name, " ".join(argv), out, err)
    return out


def view(host, macro):
    return marsadm(host, macro, "r1")[1]


@pytest.fixture(name="pair")
def fixture_pair(tmp_path):
    port = free_base_port()
    hosts = EmuHost(str(tmp_path), "hostA", "127.0.0.11", port), EmuHost(str(tmp_path), "hostB", "127.0.0.12", port)
    loops = LoopDevices(str(tmp_path))
    disks = loops.create(), loops.create()
    try:
        if None in disks:
            pytest.skip("no loop devices available")
        yield hosts, disks
    finally:
        for host in hosts:
            host.stop()
        loops.cleanup()


def joined(pair):
    """hostA primary of r1, hostB joined and synced."""
    (host_a, host_b), (disk_a, disk_b) = pair
    ok(host_a, "--ip=127.0.0.11", "create-cluster")
    host_a.start()
    host_b.start()
    out = ok(host_b, "--ip=127.0.0.12", *WAIT, "join-cluster", "hostA", "127.0.0.11")
    assert out.endswith("Successfully joined cluster, uuid='%s'\n" % host_a.get("uuid"))
    ok(host_a, *WAIT, "create-resource", "r1", disk_a)
    ok(host_a, *WAIT, "wait-resource", "r1", "is-device")
    assert view(host_a, "view-is-primary") == "1\n"
    out = ok(host_b, *WAIT, "join-resource", "r1", disk_b)
    assert out.endswith("Successfully joined resource 'r1' to primary 'hostA'\n")
    wait_until(lambda: view(host_b, "view-sync-rest") == "0\n" and view(host_b, "view-is-consistent") == "1\n",
               timeout=60, interval=0.5, what="initial sync")
    wait_until(lambda: view(host_b, "view") == "  r1 [2/2] UpToDate Replaying dCASFR Secondary hostA \n",
               timeout=20, interval=0.5, what="secondary view line")
    return host_a, host_b


@pytest.mark.slow
def test_lifecycle_with_emulated_kernel(pair):
    host_a, host_b = joined(pair)

    out = ok(host_b, *WAIT, "primary", "r1")
    assert "designated primary changed from 'hostA' to 'hostB'\n" in out
    assert "device '/dev/mars/r1' is present\n" in out
    assert view(host_b, "view-is-primary") == "1\n"
    wait_until(lambda: view(host_a, "view-is-primary") == "0\n", timeout=20, what="old primary to leave")

    ok(host_a, *WAIT, "down", "r1")
    # the race guard wants the handover to be older than window/2
    time.sleep(1)
    ok(host_a, *WAIT, "leave-resource", "r1")
    wait_until(lambda: view(host_b, "view-resource-peers") == "hostB\n", timeout=20, what="membership on hostB")
    assert view(host_a, "view-is-member") == "0\n"


def deleted_link(host, rel):
    path = host.path("resource-r1/" + rel)
    return os.path.islink(path) and os.readlink(path) == ".deleted"


@pytest.mark.slow
def test_leave_and_rejoin_leave_the_tree_of_the_real_module(pair):
    host_a, host_b = joined(pair)
    ok(host_b, *WAIT, "down", "r1")
    ok(host_b, "--window=2", "--timeout=30", "leave-resource", "r1")
    # the module's last pass over the resource it left writes these as off, so the views print 0
    # there; the other indicators keep the .deleted of leave-resource (trace A12b)
    for macro in ("view-is-attach", "view-is-sync", "view-is-fetch", "view-is-replay"):
        wait_until(lambda m=macro: view(host_b, m) == "0\n", what="%s 0 after leaving" % macro)
    wait_until(lambda: host_a.get("resource-r1/actual-hostB/is-attached") == "0", what="hostA to see it")
    for name in ("is-primary", "if-on", "open-count", "ops-file_rate", "msg-inf-sync"):
        assert deleted_link(host_b, "actual-hostB/" + name), name
    assert (view(host_b, "view-is-member"), view(host_b, "view-role"), view(host_b, "view")) == ("0\n", "None\n", "")
    # rejoining: marsadm's mkdir keeps the .deleted links that replaced the empty dirs (hostA never had local-hostB)
    out = ok(host_b, *WAIT, "join-resource", "r1", pair[1][1])
    assert out.endswith("Successfully joined resource 'r1' to primary 'hostA'\n")
    for name in ("local-hostB", "defaults-hostB"):
        assert deleted_link(host_b, name), name
    assert os.path.isdir(host_a.path("resource-r1/defaults-hostB")) and not os.path.lexists(host_a.path("resource-r1/local-hostB"))
    wait_until(lambda: view(host_b, "view") == "  r1 [2/2] UpToDate Replaying dCASFR Secondary hostA \n",
               timeout=60, interval=0.5, what="hostB a member again")
