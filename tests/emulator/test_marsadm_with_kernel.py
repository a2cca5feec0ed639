"""The emulated marsadm driving the emulated kernel side (marsemu.kernel daemons over TCP): the
planned lifecycle of traces/real-mars-A on two hosts with loop devices as disks."""

import io
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


@pytest.mark.slow
def test_lifecycle_with_emulated_kernel(pair):
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
