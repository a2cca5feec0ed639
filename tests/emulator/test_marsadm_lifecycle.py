"""The emulated marsadm through a two-host lifecycle, with a tiny fake kernel (marsadm_fakes)
playing the module: join-cluster (new method), join-resource, planned handover, failover,
leave-resource/delete-resource/leave-cluster.  Expected outputs follow traces/real-mars-A."""

import os
import time

import pytest

from marsadm_fakes import FakeKernel, Host, LoopDevices

WAIT = ["--window=4", "--timeout=10"]


@pytest.fixture(name="pair")
def fixture_pair(tmp_path):
    hosts = Host(str(tmp_path), "hostA"), Host(str(tmp_path), "hostB")
    loops = LoopDevices(str(tmp_path))
    disks = loops.create(), loops.create()
    if None in disks:
        loops.cleanup()
        pytest.skip("no loop devices available")
    kernel = FakeKernel(list(hosts))
    kernel.start()
    yield hosts, disks, kernel, loops
    kernel.stop()
    loops.cleanup()


def settle(seconds=0.4):
    """Give the fake kernel a few passes (replication, indicators)."""
    time.sleep(seconds)


def ok(host, *argv):
    rc, out, err = host.run(*argv)
    assert rc == 0, "%s %s\n%s%s" % (host.name, " ".join(argv), out, err)
    return out, err


def build_cluster(hosts, disks):
    host_a, host_b = hosts
    ok(host_a, "--ip=10.9.0.1", "create-cluster")
    host_a.modprobe()
    host_b.modprobe()
    out, _err = ok(host_b, "--ip=10.9.0.2", *WAIT, "join-cluster", "hostA", "10.9.0.1")
    assert out.startswith("MARS kernel module is loaded, trying the new join-cluster method.\n")
    assert out.endswith("Successfully joined cluster, uuid='%s'\n" % host_a.link("uuid"))
    # written with the final links of join-cluster (trace A03: the stamp of defaults-vm2/sync-limit)
    assert host_b.link("todo-global/deleted-hostB") == "1"
    assert host_b.stamp("todo-global/deleted-hostB") == host_b.stamp("defaults-hostB/sync-limit")
    settle()
    ok(host_a, *WAIT, "create-resource", "r1", disks[0])
    settle()


def test_lifecycle(pair):
    hosts, disks, _kernel, _loops = pair
    host_a, host_b = hosts
    build_cluster(hosts, disks)
    assert host_b.link("uuid") == host_a.link("uuid")
    assert host_b.link("ips/ip-hostB") == "10.9.0.2"
    assert host_a.link("ips/ip-hostB") == "10.9.0.2"
    assert host_a.run("view-is-primary", "r1")[1] == "1\n"
    assert host_a.run("view-device-present", "r1")[1] == "1\n"

    # join-resource: the links of 2.5 / trace A05
    out, _err = ok(host_b, *WAIT, "join-resource", "r1", disks[1])
    assert "ENABLING resource 'r1' at 'hostB'\n" in out
    assert "creating new replaylink '/mars/resource-r1/replay-hostB' -> 'log-000000001-hostA,0,0'\n" in out
    assert out.endswith("Successfully joined resource 'r1' to primary 'hostA'\n")
    assert host_b.link("resource-r1/data-hostB") == disks[1]
    assert host_b.link("resource-r1/device-hostB") == "r1"
    assert host_b.link("resource-r1/skip-check-hostB") == "1"
    assert host_b.link("resource-r1/version-000000001-hostB") == host_b.link("resource-r1/version-000000001-hostA")
    assert host_b.link("resource-r1/todo-hostB/attach") == "1"
    settle()
    view = {m: host_b.run(m, "r1")[1] for m in ("view", "view-is-member", "view-sync-rest", "view-is-consistent",
                                                "view-get-primary", "view-todo-primary", "view-is-primary")}
    assert view == {"view": "  r1 [2/2] UpToDate Replaying dCASFR Secondary hostA \n", "view-is-member": "1\n",
                    "view-sync-rest": "0\n", "view-is-consistent": "1\n", "view-get-primary": "hostA\n",
                    "view-todo-primary": "", "view-is-primary": "0\n"}
    assert host_a.run("view", "r1")[1] == ("  LocalDevice /dev/mars/r1 [Closed]\n"
                                           "  r1 [2/2] UpToDate Replicating DCASFR Primary hostA \n")

    # refusals on the wrong side
    rc, _out, err = host_a.run(*WAIT, "invalidate", "r1")
    assert rc == 2 and "DYING: operation 'invalidate' cannot be executed on actual primary\n" in err
    rc, _out, err = host_b.run(*WAIT, "--force", "primary", "r1")
    assert rc == 2 and "todo-switch 'fetch' must be off, but actually has value '1'" in err

    # planned handover to hostB (trace A09)
    out, _err = ok(host_b, *WAIT, "primary", "r1")
    for line in ("-------- PHASE 4 -------- leave primary state:\n",
                 "designated primary changed from 'hostA' to '(none)'\n",
                 "OK, other host (hostA) is not actual primary.\n",
                 "designated primary changed from 'hostA' to 'hostB'\n",
                 "device '/dev/mars/r1' is present\n",
                 "resume-replay-local on resource r1 is already activated\n"):
        assert line in out
    assert host_b.link("resource-r1/primary") == "hostB"
    assert host_b.link("resource-r1/userspace/last-primary") == "hostB"
    assert host_b.link("resource-r1/userspace/prev-primary") == "hostA"
    settle()
    assert host_b.run("view-is-primary", "r1")[1] == "1\n"
    assert host_a.run("view-is-primary", "r1")[1] == "0\n"
    assert host_a.run("view-role", "r1")[1] == "Secondary\n"

    # leave-resource on an attached secondary is refused (trace A11), works after down (A11c)
    rc, out, err = host_a.run("--window=2", "--timeout=10", "leave-resource", "r1")
    assert rc == 2
    assert out.endswith("FAILURE cmd='leave-resource' res='r1'\n")
    assert "WARNING: switch '/mars/resource-r1/todo-hostA/attach' is not off\n" in err
    assert ("DYING: Cannot execute leave-resource on resource r1: actual 'attach' must be off. Use 'detach' and/or"
            " wait until it has really succeeded. Also ensure that your command _can_ succeed.\n") in err
    out, _err = ok(host_a, *WAIT, "down", "r1")
    assert "OK at hostA: '/mars/resource-r1/actual-hostA/is-attached' has acceptable value '0'\n" in out
    out, err = ok(host_a, "--window=2", "--timeout=10", "leave-resource", "r1")
    assert "-------- PHASE 3 -------- purge logfiles:\n" in out
    for name in ("replay-hostA", "data-hostA", "syncstatus-hostA", "device-hostA", "actsize-hostA",
                 "todo-hostA/attach", "actual-hostA/if-on"):
        assert host_a.link("resource-r1/" + name) == ".deleted", name
    # non-empty dirs cannot be "deleted" (verified quirk)
    assert "WARNING: cannot finalize symlink '/mars/resource-r1/todo-hostA'\n" in err
    settle()
    assert host_a.run("view-is-member", "r1")[1] == "0\n", {
        k: v for k, v in host_a.snapshot().items() if k.startswith(("resource-r1/data", "resource-r1/replay"))}
    assert host_a.run("view", "r1")[1] == ""
    assert host_b.run("view-resource-peers", "r1")[1] == "hostB\n"

    # delete-resource only when empty; leave-cluster of the resource-less host
    rc, _out, err = host_b.run("delete-resource", "r1")
    assert rc == 2 and "first remove the hosts 'hostB' via leave-resource" in err
    out, _err = ok(host_a, *WAIT, "leave-cluster")
    assert host_a.link("ips/ip-hostA") == ".deleted"
    settle()
    assert host_b.run("lowlevel-ls-host-ips")[1] == "hostB 10.9.0.2\n"


def test_failover(pair):
    hosts, disks, _kernel, _loops = pair
    host_a, host_b = hosts
    build_cluster(hosts, disks)
    ok(host_b, *WAIT, "join-resource", "r1", disks[1])
    settle()
    ok(host_b, "pause-fetch", "r1")
    assert host_a.run("view-todo-primary", "r1")[1] == "1\n"
    out, err = ok(host_b, *WAIT, "--force", "primary", "r1")
    assert "WARNING: Using FORCE option -- hopefully you know what you are doing!\n" in err
    assert "-------- PHASE 4 -------- leave primary state:\n-------- PHASE 5" in out  # planned phases skipped
    assert "designated primary changed from 'hostA' to 'hostB'\n" in out
    # the implicit "up" switches fetch on again
    assert "successfully started resume-fetch-local on resource r1\n" in out
    assert host_b.link("resource-r1/todo-hostB/connect") == "1"


def test_join_resource_refusals(pair):
    hosts, disks, _kernel, loops = pair
    host_a, host_b = hosts
    build_cluster(hosts, disks)
    assert host_a.run("view-is-primary", "r1")[1] == "1\n"
    small = loops.create(32)
    if not small:
        pytest.skip("no third loop device")
    before = host_b.snapshot()
    rc, out, err = host_b.run(*WAIT, "join-resource", "r1", small)
    assert rc == 2
    assert "WARNING: size of new device is only 33554432, but should be 67108864\n" in err
    assert "DYING: refusing to join due to bad size\n" in err
    assert out.endswith("FAILURE cmd='join-resource' res='r1'\n")
    assert host_b.link("resource-r1/data-hostB") is None
    assert host_b.link("resource-r1/replay-hostB") is None
    # only the guest activation (device-hostB, actual-hostB/if-on) was written, as by the real marsadm
    new = {k for k, v in host_b.snapshot().items() if before.get(k) != v and v[0] == "l"}
    assert {k for k in new if "hostB" in k and k.startswith("resource-r1/")} <= {
        "resource-r1/device-hostB", "resource-r1/actual-hostB/if-on"}

    rc, out, err = host_b.run(*WAIT, "join-resource", "r1", "/dev/no-such-disk")
    assert rc == 2
    assert "DYING: Device argument '/dev/no-such-disk' does not exist or is no usable block device.\n" in err
    assert host_a.link("resource-r1/data-hostB") is None


def test_resize(pair):
    hosts, disks, _kernel, _loops = pair
    host_a, host_b = hosts
    host_a.run("--ip=10.9.0.1", "create-cluster")
    host_a.modprobe()
    host_b.modprobe()
    ok(host_b, "--ip=10.9.0.2", *WAIT, "join-cluster", "hostA", "10.9.0.1")
    ok(host_a, "create-resource", "r1", disks[0], "r1", "32M")
    settle()
    ok(host_b, *WAIT, "join-resource", "r1", disks[1])
    settle()
    for _retry in range(50):  # the fake kernel publishes /sys/…/mars!r1/size once hostA is primary
        if os.path.exists(host_a.paths.device_size_file("r1")):
            break
        time.sleep(0.1)
    rc, _out, err = host_b.run(*WAIT, "resize", "r1")
    assert rc == 2 and "DYING: Operation 'resize' only works at the primary side\n" in err
    rc, _out, err = host_a.run(*WAIT, "resize", "r1", "128M")
    assert rc == 2
    assert "DYING: new size 134217728 is higher than the possible size (minimum of all volumes) 67108864" in err
    out, _err = ok(host_a, *WAIT, "resize", "r1")
    assert "old_size=33554432\npossible_size=67108864\nnew_size=67108864\n" in out
    assert "Device size is now 67108864.\n" in out
    assert host_a.link("resource-r1/size") == "67108864"
    assert host_a.link("resource-r1/syncstatus-hostA") == "67108864"
    rc, _out, err = host_a.run(*WAIT, "resize", "r1", "32M")
    assert rc == 2 and "DYING: only increases of the size are possible!\n" in err


def test_invalidate_logrotate_and_purges(pair):
    hosts, disks, _kernel, _loops = pair
    host_a, host_b = hosts
    build_cluster(hosts, disks)
    ok(host_b, *WAIT, "join-resource", "r1", disks[1])
    settle(1.0)

    # invalidate on the secondary: switches off, syncstatus 0, new replay/version/skip-check, switches on;
    # skip-check gets the primary's logfile number as its replay link spells it (join strips the zeros)
    ok(host_b, "--window=2", "--timeout=10", "pause-sync", "r1")
    out, _err = ok(host_b, "--window=2", "--timeout=10", "invalidate", "r1")
    assert out.count("successfully started invalidate on resource r1\n") == 8
    assert "creating new replaylink '/mars/resource-r1/replay-hostB' -> 'log-000000001-hostA,0,0'\n" in out
    # skip-check: the logfile number as the primary's replay link spells it (the real marsadm 84810029)
    for name, value in (("syncstatus-hostB", None), ("replay-hostB", "log-000000001-hostA,0,0"),
                        ("skip-check-hostB", "000000001"), ("todo-hostB/attach", "1"), ("todo-hostB/sync", "1"),
                        ("todo-hostB/connect", "1"), ("todo-hostB/allow-replay", "1")):
        if value is not None:
            assert host_b.link("resource-r1/" + name) == value, name
    settle()

    # log-rotate on the primary: only when the newest logfile is not empty
    out, err = ok(host_a, "log-rotate", "r1")
    assert out == "get logfiles '/mars/resource-r1/log-*-hostA'\nfound 1 logfiles.\n"
    assert err == "WARNING: deprecated: please use 'cron' instead\n"
    assert host_a.link("resource-r1/maxnr") == "1"
    with open(host_a.mars("resource-r1", "log-000000001-hostA"), "ab") as handle:
        handle.write(b"x" * 4096)
    ok(host_a, "log-rotate", "r1")
    assert host_a.snapshot()["resource-r1/log-000000002-hostA"] == ("f", 0)
    assert host_a.link("resource-r1/maxnr") == "2"
    # on a secondary log-rotate only warns (and under cron it is silent)
    rc, _out, err = host_b.run("log-rotate", "r1")
    assert rc == 0 and "WARNING: For operation 'log-rotate' I need to be primary\n" in err

    # err-purge-all marks the host's msg-err-* links .deleted
    msg = host_b.mars("resource-r1", "actual-hostB", "msg-err-replay-stop")
    os.symlink("1795628741.000000000 1795628741.000000000 replay stopped", msg)
    assert host_b.run("--timeout=0", "view-the-err-msg", "r1")[1] == \
        "err-replay-stop: 1795628741.000000000 1795628741.000000000 replay stopped\n"
    ok(host_b, "err-purge-all", "r1")
    assert host_b.link("resource-r1/actual-hostB/msg-err-replay-stop") == ".deleted"
    assert host_b.run("view-the-err-msg", "r1")[1] == ""


def marsadm_links(snapshot):
    """The part of a snapshot that marsadm (not the kernel) writes."""
    kernel = ("actual-", "actsize-", "syncstatus-", "replay-", "version-", "syncpos-")
    return {k: v for k, v in snapshot.items()
            if v[0] == "l" and not any(part.startswith(kernel) for part in k.split("/"))}


def test_handover_link_set(pair):
    hosts, disks, _kernel, _loops = pair
    host_a, host_b = hosts
    build_cluster(hosts, disks)
    ok(host_b, *WAIT, "join-resource", "r1", disks[1])
    settle(1.0)
    before = marsadm_links(host_b.snapshot())
    ok(host_b, *WAIT, "primary", "r1")
    after = marsadm_links(host_b.snapshot())
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    assert changed == {"resource-r1/primary": ("l", "hostB"),
                       "resource-r1/userspace/last-primary": ("l", "hostB"),
                       "resource-r1/userspace/prev-primary": ("l", "hostA")}
    settle()
    assert host_a.link("resource-r1/primary") == "hostB"


def test_view_while_syncing(pair):
    hosts, disks, kernel, _loops = pair
    host_a, host_b = hosts
    kernel.sync_enabled = False
    build_cluster(hosts, disks)
    ok(host_b, *WAIT, "join-resource", "r1", disks[1])
    settle()
    assert host_b.run("view", "r1")[1] == (
        "  r1 [2/2] InConsistent Replaying dcAsFR Secondary hostA \n"
        # marsadm's bar is one character longer at 0% (">" plus 20 dots)
        "     syncing: [>....................]  0.00%  (0/64)MiB  rate: 0.00 B/sec  remaining: --:--:-- hrs\n"
        "       > sync: 0.000/64.000 MiB rate: 0 B/sec  remaining: --:--:-- hrs\n")
    assert host_b.run("view-sync-rest", "r1")[1] == "67108864\n"
    assert host_b.run("view-is-consistent", "r1")[1] == "0\n"
    rc, _out, err = host_b.run(*WAIT, "primary", "r1")
    assert rc == 2 and "DYING: Refusing to switch inconsistent host 'hostB' to primary\n" in err
    assert host_a.link("resource-r1/primary") == "hostA"
