"""The emulator's write path on 3 lab hosts, driven with marsadm as an operator would (issue 4):
replication of writes, anytime consistency while the geo link is cut, no lost acknowledged write
after a crash, split brain after a forced primary, and emergency mode repaired with the resync playbook.

The cluster is made from bare hosts (tests/integration reset + install) with our marsadm:
mars1 primary of r1 on /dev/vdb (64 MiB), mars2 and mars3 secondaries.
"""

import concurrent.futures
import hashlib
import os
import re
import subprocess

import pytest

from labhelpers import REPO, labctl, on, wait_until

H1, H2, H3 = HOSTS = ("mars1", "mars2", "mars3")
IPS = {"mars1": "10.77.0.11", "mars2": "10.77.0.12", "mars3": "10.77.0.13"}
SIZE = 64 * 1024 * 1024
MARSADM = "marsadm --timeout=60 --window=30"
BLOCK = 4096
SLOTS = 32  # the recorded writes go to 4 KiB blocks 0, 2, 4, ... of the first 256 KiB
REGION = 2 * SLOTS * BLOCK


def playbook(path, *args):
    """Run a playbook on the lab inventory; returns the total of changed tasks in its recap."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i",
                             os.path.join(REPO, "inventories", "lab"), os.path.join(REPO, path)] + list(args),
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return sum(int(n) for n in re.findall(r"^\S+\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.M))


def marsadm(host, *args, check=True, timeout=120):
    return on(host, "%s %s" % (MARSADM, " ".join(args)), check=check, timeout=timeout)


def view(host, macro, res="r1"):
    return on(host, "marsadm view-%s %s" % (macro, res)).stdout.strip()


def md5_on(host, path, length=SIZE):
    blocks = length // BLOCK
    return on(host, "dd if=%s bs=%d count=%d iflag=direct status=none | md5sum" % (path, BLOCK, blocks)).stdout.split()[0]


def data_md5(host, length=SIZE):
    """The data of r1 on HOST: its device on the primary, its disk elsewhere."""
    path = "/dev/mars/r1" if view(host, "is-primary") == "1" else "/dev/vdb"
    return md5_on(host, path, length)


def caught_up(primary, others=(H2, H3)):
    wanted = on(primary, "readlink /mars/resource-r1/replay-%s" % primary).stdout.strip()
    return all(view(h, "replay-rest") == "0" and
               on(h, "readlink /mars/resource-r1/replay-%s" % h).stdout.strip() == wanted for h in others)


# ------------------------------------------------------------------ a recorded write sequence

def record(index):
    """The k-th recorded write: which 4 KiB slot, what content (slots repeat: order matters)."""
    slot = (index * 7) % SLOTS
    return slot * 2 * BLOCK, (b"write %05d " % index * 400)[:BLOCK]


def states(count):
    """md5 of the region after each prefix of the first COUNT writes (the region starts zeroed)."""
    region = bytearray(REGION)
    result = [hashlib.md5(region).hexdigest()]
    for index in range(count):
        offset, data = record(index)
        region[offset:offset + BLOCK] = data
        result.append(hashlib.md5(region).hexdigest())
    return result


def write_records(host, first, last):
    """Writes FIRST..LAST-1 to /dev/mars/r1, each acknowledged (O_DIRECT) before the next."""
    assert BLOCK == 4096 and SLOTS == 32  # the shell below repeats record()
    on(host, "for i in $(seq %d %d); do "
             "head -c 4096 < <(while :; do printf 'write %%05d ' $i; done) | "
             "dd of=/dev/mars/r1 bs=4096 seek=$(( (i * 7 %% 32) * 2 )) iflag=fullblock oflag=direct conv=notrunc "
             "status=none; done" % (first, last - 1), timeout=180)


def region_md5(host, path="/dev/vdb"):
    return md5_on(host, path, REGION)


def settled_region_samples(host, final, seconds):
    """Every settled read of the region of HOST's disk until it shows FINAL or SECONDS pass, read in a
    loop inside the host (a loaded machine would make reads through podman exec too rare).

    One read takes 64 block reads while replay goes on, so it can mix blocks from before and after
    a write. Replay only moves each block forward, so two equal reads in a row are the disk as it
    was between them: a real state of the disk, which must be an earlier state of the primary."""
    read = "dd if=/dev/vdb bs=%d count=%d iflag=direct status=none | md5sum | cut -d' ' -f1" % (BLOCK, REGION // BLOCK)
    script = ("end=$(( $(date +%%s) + %d )); while [ $(date +%%s) -lt $end ]; do a=$(%s); b=$(%s); "
              "if [ \"$a\" = \"$b\" ]; then echo $a; [ \"$a\" = %s ] && exit 0; fi; done; exit 0") % (seconds, read, read, final)
    return on(host, script, timeout=seconds + 60).stdout.split()


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module", name="cluster")
def fixture_cluster(lab):
    """Bare hosts → cluster of 3 with r1 synced (our marsadm, the emulated module)."""
    labctl("heal")
    playbook("tests/integration/reset.yml")
    playbook("tests/integration/install.yml")
    bootstrap()
    yield lab
    labctl("heal")
    if not os.environ.get("GEOREP_KEEP_LAB"):  # keep the state for a post-mortem
        playbook("tests/integration/reset.yml")


def bootstrap():
    marsadm(H1, "--ip=%s" % IPS[H1], "create-cluster")
    on(H1, "modprobe mars")
    for host in (H2, H3):
        on(host, "modprobe mars")
        marsadm(host, "join-cluster", H1, IPS[H1])
    marsadm(H1, "create-resource", "r1", "/dev/vdb", "r1", str(SIZE))
    wait_until(lambda: view(H1, "is-primary") == "1", what="mars1 primary")
    on(H1, "dd if=/dev/zero of=/dev/mars/r1 bs=%d count=1 oflag=direct status=none" % REGION)
    for host in (H2, H3):
        marsadm(host, "join-resource", "r1", "/dev/vdb")
    for host in (H2, H3):
        wait_until(lambda h=host: view(h, "sync-rest") == "0" and view(h, "is-consistent") == "1", timeout=120,
                   what="sync of %s" % host)
    wait_until(lambda: caught_up(H1), what="replay")


@pytest.fixture(name="healthy")
def fixture_healthy(cluster):
    """mars1 primary, everything replayed and equal; faults removed afterwards."""
    wait_until(lambda: caught_up(H1), what="a healthy cluster before the test")
    yield cluster
    labctl("heal")
    for host in HOSTS:
        labctl("thaw", host, check=False)
    labctl("up")


# ------------------------------------------------------------------ tests

def test_ten_mib_written_reach_both_secondaries(healthy):
    on(H1, "dd if=/dev/urandom of=/dev/mars/r1 bs=1M count=10 seek=1 oflag=direct status=none")
    wait_until(lambda: caught_up(H1), timeout=90, what="replay-rest 0 on both secondaries")
    assert data_md5(H1) == data_md5(H2) == data_md5(H3)


def test_cut_link_secondaries_lag_and_stay_consistent(healthy):
    written = 12 * SLOTS  # about 1.6 MB of log: more than one 1 MiB fetch chunk
    expected = states(written)
    on(H1, "dd if=/dev/zero of=/dev/mars/r1 bs=%d count=1 oflag=direct status=none" % REGION)
    wait_until(lambda: caught_up(H1), what="zeroed region replicated")
    assert region_md5(H2) == expected[0]
    for host in (H2, H3):
        labctl("partition", H1, host)
    write_records(H1, 0, written)  # the primary keeps serving writes
    assert region_md5(H1, "/dev/mars/r1") == expected[written]
    samples = [region_md5(h) for h in (H2, H3)]
    assert expected[written] not in samples, "the secondaries got writes through a cut link"
    # heal into a slow link (256 KiB/s) and sample the secondaries while they catch up; the samples are
    # taken inside each host, so that a loaded machine does not make them too rare to see a step
    labctl("heal")
    for host in (H2, H3):
        labctl("rate", H1, host, "256")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = dict((host, pool.submit(settled_region_samples, host, expected[-1], 120)) for host in (H2, H3))
        latest = dict((host, run.result()) for host, run in runs.items())
    for host, seen_there in latest.items():
        samples += seen_there
        latest[host] = seen_there[-1] if seen_there else None
    assert set(latest.values()) == {expected[-1]}, "secondaries did not catch up: %s" % latest
    bad = [md5 for md5 in samples if md5 not in expected]
    assert not bad, "%d of %d samples are no earlier state of the primary" % (len(bad), len(samples))
    seen = sorted(set(expected.index(md5) for md5 in samples))
    print("states seen on the secondaries (of %d writes): %s" % (written, seen))
    assert len(seen) > 2, "no intermediate state was seen"


def test_kill_of_the_primary_daemon_loses_no_acknowledged_write(healthy):
    expected = states(SLOTS)
    on(H1, "dd if=/dev/zero of=/dev/mars/r1 bs=%d count=1 oflag=direct status=none" % REGION)
    wait_until(lambda: caught_up(H1), what="zeroed region replicated")
    write_records(H1, 0, SLOTS)
    on(H1, "pkill -9 -f marsemu.kernel")
    # every acknowledged write is on the primary's own disk
    assert region_md5(H1) == expected[SLOTS]
    for host in (H2, H3):
        assert region_md5(host) in expected
    on(H1, "systemctl reset-failed mars-emulator.service; modprobe mars")
    wait_until(lambda: view(H1, "is-primary") == "1" and on(H1, "test -b /dev/mars/r1", check=False).returncode == 0,
               what="the primary back after the restart")
    assert region_md5(H1, "/dev/mars/r1") == expected[SLOTS]
    wait_until(lambda: caught_up(H1), what="secondaries after the restart")
    assert region_md5(H2) == region_md5(H3) == expected[SLOTS]


def force_split_brain():
    """mars1 cut off and writing; mars2 forced primary and writing; then the link comes back."""
    for host in (H2, H3):
        labctl("partition", H1, host)
    on(H1, "dd if=/dev/urandom of=/dev/mars/r1 bs=64k count=16 seek=100 oflag=direct status=none")
    marsadm(H2, "disconnect", "r1")
    marsadm(H2, "primary", "--force", "r1")
    wait_until(lambda: view(H2, "is-primary") == "1", what="forced primary mars2")
    marsadm(H2, "connect", "r1")
    on(H2, "dd if=/dev/urandom of=/dev/mars/r1 bs=64k count=16 seek=200 oflag=direct status=none")
    labctl("heal")
    for host in HOSTS:
        wait_until(lambda h=host: view(h, "is-split-brain") == "1", timeout=60, what="split brain seen on %s" % host)
    wait_until(lambda: view(H1, "is-primary") == "0", what="mars1 to step down")


def test_forced_primary_split_brain_repaired_by_invalidate_and_by_leave_join(healthy):
    force_split_brain()
    assert data_md5(H1) != data_md5(H2)
    message = on(H1, "readlink /mars/resource-r1/actual-mars1/msg-err-splitbrain-detected").stdout
    assert "SPLIT BRAIN" in message
    marsadm(H1, "invalidate", "r1")
    wait_until(lambda: caught_up(H2, (H1, H3)), timeout=120, what="mars1 resynced")
    for host in HOSTS:
        wait_until(lambda h=host: view(h, "is-split-brain") == "0", timeout=60, what="no split brain on %s" % host)
    assert data_md5(H1) == data_md5(H2) == data_md5(H3)
    # again, now repaired the other way: leave and join
    marsadm(H1, "primary", "r1")
    wait_until(lambda: view(H1, "is-primary") == "1", what="mars1 primary again")
    wait_until(lambda: caught_up(H1), what="healthy again")
    force_split_brain()
    marsadm(H1, "down", "r1")
    marsadm(H1, "leave-resource", "r1")
    for host in (H2, H3):
        wait_until(lambda h=host: view(h, "is-split-brain") == "0", timeout=60, what="no split brain on %s" % host)
    marsadm(H1, "join-resource", "r1", "/dev/vdb")
    wait_until(lambda: caught_up(H2, (H1, H3)), timeout=120, what="mars1 rejoined")
    assert data_md5(H1) == data_md5(H2) == data_md5(H3)
    # back to the starting point for the next tests
    marsadm(H1, "primary", "r1")
    wait_until(lambda: view(H1, "is-primary") == "1" and caught_up(H1), what="mars1 primary at the end")


def test_emergency_mode_leaves_a_gap_that_invalidate_repairs(healthy):
    free_gib = int(on(H1, "df --output=avail -B1G /mars | tail -1").stdout.strip())
    on(H1, "echo %d > /proc/sys/mars/required_free_space_4_gb" % (free_gib + 2))  # /mars looks full
    try:
        wait_until(lambda: view(H1, "is-emergency") == "1", what="emergency mode")
        assert "stopped transaction logging" in on(
            H1, "readlink /mars/resource-r1/actual-mars1/msg-err-emergency").stdout
        # the primary keeps serving writes, unlogged
        on(H1, "dd if=/dev/urandom of=/dev/mars/r1 bs=64k count=8 seek=300 oflag=direct status=none")
    finally:
        on(H1, "echo 2 > /proc/sys/mars/required_free_space_4_gb")
    wait_until(lambda: view(H1, "is-emergency") == "0", what="end of emergency mode")
    on(H1, "dd if=/dev/urandom of=/dev/mars/r1 bs=64k count=8 seek=400 oflag=direct status=none")
    wait_until(lambda: caught_up(H1), what="secondaries across the hole")
    for host in (H2, H3):
        # UpToDate and nothing to replay, yet the unlogged writes are missing; the warning tells
        assert "not consecutive" in on(host, "readlink /mars/resource-r1/actual-%s/msg-wrn-log-consecutive" % host).stdout
        assert data_md5(host) != data_md5(H1)
    # the resync playbook finds both flagged secondaries (check mode changes nothing)
    assert playbook("playbooks/resync.yml", "-e", "confirm_resync=yes", "--check") == 2
    assert data_md5(H2) != data_md5(H1)
    assert playbook("playbooks/resync.yml", "-e", "confirm_resync=yes") == 2
    wait_until(lambda: caught_up(H1), timeout=120, what="full sync after invalidate")
    assert data_md5(H1) == data_md5(H2) == data_md5(H3)
    assert playbook("playbooks/resync.yml", "-e", "confirm_resync=yes") == 0


def members(host, what="resource-members r1"):
    return on(host, "marsadm view-%s" % what).stdout.split()


def test_lifecycle_handover_third_resource_and_decommission(healthy):
    """The rest of the reference's lifecycle (section 5) with our marsadm, each step checked by views."""
    md5 = data_md5(H1)
    # planned handover mars1 -> mars2
    marsadm(H2, "primary", "r1")
    for host in HOSTS:
        wait_until(lambda h=host: view(h, "get-primary") == H2, what="mars2 designated on %s" % host)
    wait_until(lambda: view(H2, "is-primary") == "1" and view(H2, "device-present") == "1", what="mars2 primary")
    assert view(H1, "is-primary") == "0"
    assert data_md5(H2) == md5
    # a second resource on two hosts, then decommissioned: last member leaves and deletes it
    marsadm(H2, "create-resource", "r2", "/dev/vdc", "r2", str(SIZE))
    wait_until(lambda: view(H2, "is-primary", "r2") == "1", what="r2 primary on mars2")
    marsadm(H3, "join-resource", "r2", "/dev/vdc")
    wait_until(lambda: view(H3, "sync-rest", "r2") == "0" and view(H3, "is-consistent", "r2") == "1", timeout=120,
               what="r2 synced on mars3")
    assert members(H1, "resource-members r2") == [H2, H3]
    marsadm(H3, "down", "r2")
    marsadm(H3, "leave-resource", "r2")
    wait_until(lambda: members(H2, "resource-members r2") == [H2], what="mars3 gone from r2")
    marsadm(H2, "secondary", "r2")
    marsadm(H2, "down", "r2")
    marsadm(H2, "leave-resource", "r2")
    marsadm(H2, "delete-resource", "r2")
    for host in HOSTS:
        wait_until(lambda h=host: on(h, "test -d /mars/resource-r2", check=False).returncode != 0 or
                   not members(h, "resource-members r2"), what="r2 deleted on %s" % host)
    # decommission of a node: mars3 leaves r1 and the cluster, the others forget it
    marsadm(H3, "down", "r1")
    marsadm(H3, "leave-resource", "r1")
    wait_until(lambda: members(H2) == [H1, H2], what="mars3 gone from r1")
    marsadm(H3, "leave-cluster")  # (lowlevel-delete-host is only needed for a node that is dead)
    for host in (H1, H2):
        # (view-cluster-members keeps a deleted peer for a while, as marsadm does after a leave-cluster)
        wait_until(lambda h=host: H3 not in on(h, "marsadm lowlevel-ls-host-ips").stdout, what="mars3 gone on %s" % host)
    # the remaining pair still replicates
    on(H2, "dd if=/dev/urandom of=/dev/mars/r1 bs=64k count=16 seek=500 oflag=direct status=none")
    wait_until(lambda: caught_up(H2, (H1,)), what="mars1 to replay after the decommission")
    assert data_md5(H1) == data_md5(H2)
