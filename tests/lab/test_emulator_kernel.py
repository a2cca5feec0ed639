"""The emulated MARS kernel side on the Podman lab hosts (installed with emulator/install.sh).

The basic tests need only the lab.  The lifecycle test also needs the real marsadm Perl script,
named by ``MARS_REAL_MARSADM`` on this machine; it is copied to /tmp on the lab hosts.
"""

import os
import subprocess

import pytest

from labhelpers import HOSTS, REPO, labctl, on

MARSADM = os.environ.get("MARS_REAL_MARSADM", "")


def podman(*args):
    subprocess.run(["podman"] + list(args), check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module", name="emulator")
def fixture_emulator(lab):
    """Install the emulator (kernel side) on every lab host, from this work tree."""
    for host in lab:
        on(host, "rmmod mars 2>/dev/null; rm -rf /usr/lib/georep-mars-emulator", check=False)
        podman("cp", os.path.join(REPO, "emulator"), "%s:/usr/lib/georep-mars-emulator" % host)
        on(host, "sh /usr/lib/georep-mars-emulator/install.sh")
    yield lab
    for host in lab:
        on(host, "rmmod mars", check=False)


@pytest.fixture(name="clean")
def fixture_clean(emulator):
    """Every host unloaded with an empty /mars before and after the test."""
    wipe = "rmmod mars; rm -rf /mars/* /dev/mars/*; rm -f /tmp/marsadm-real"
    for host in emulator:
        on(host, wipe, check=False)
    yield emulator
    labctl("heal")
    for host in emulator:
        on(host, wipe, check=False)


def test_modprobe_and_rmmod_map_to_the_unit(clean):
    host = clean[0]
    on(host, "test ! -d /proc/sys/mars")
    # the trigger is a FUSE file, one trigger per write() as in the kernel (not the FIFO fallback)
    on(host, "modprobe mars && test -d /proc/sys/mars && grep -q ' /proc/sys/mars/trigger fuse ' /proc/mounts")
    # the real sysctls still work under the emulator's /proc/sys
    assert on(host, "sysctl -n kernel.hostname").stdout.strip() == host
    assert on(host, "grep -c lamport_now= /proc/sys/mars/lamport_clock").stdout.strip() == "1"
    on(host, "test -L /mars/actual-%s/time" % host)
    on(host, "rmmod mars && test ! -d /proc/sys/mars")


def test_crash_and_restart_keep_the_tree(clean):
    host = clean[0]
    on(host, "modprobe mars && mkdir -p /mars/userspace && ln -s kept /mars/userspace/probe")
    on(host, "kill -9 $(systemctl show -p MainPID --value mars-emulator); sleep 1; test ! -d /proc/sys/mars")
    on(host, "modprobe mars && test \"$(readlink /mars/userspace/probe)\" = kept")


@pytest.mark.skipif(not MARSADM or not os.path.exists(MARSADM), reason="set MARS_REAL_MARSADM to the real marsadm")
def test_real_marsadm_cluster_sync_and_handover(clean):
    first, second, third = HOSTS
    for host in HOSTS:
        podman("cp", MARSADM, "%s:/tmp/marsadm-real" % host)
    adm = "cd / && perl /tmp/marsadm-real --timeout=60 "
    on(first, adm + "create-cluster && modprobe mars")
    for host in (second, third):
        assert "Successfully joined cluster" in on(host, "modprobe mars && " + adm + "join-cluster " + first).stdout
    on(first, "head -c 32M /dev/urandom | dd of=/dev/vdb bs=1M oflag=direct 2>/dev/null")
    on(first, adm + "create-resource r1 /dev/vdb r1 128M && " + adm + "wait-resource r1 is-device")
    for host in (second, third):
        on(host, adm + "join-resource r1 /dev/vdb")
    for host in (second, third):
        on(host, "for i in $(seq 60); do [ \"$(%s view-sync-rest r1 2>/dev/null)\" = 0 ] && exit 0; sleep 1; done; exit 1" % adm)
        assert on(host, adm + "view-is-consistent r1 2>/dev/null").stdout.strip() == "1"
    sums = {on(h, "dd if=/dev/vdb bs=1M count=128 iflag=direct 2>/dev/null | md5sum").stdout for h in HOSTS}
    assert len(sums) == 1
    # the write path: ordinary writes to /dev/mars/r1 are logged, fetched and replayed
    on(first, "yes MARS-lab-pattern | head -c 16M > /tmp/pattern && dd if=/tmp/pattern of=/dev/mars/r1 bs=1M oflag=direct status=none")
    replay = "readlink /mars/resource-r1/replay-%s"
    on(first, "for i in $(seq 30); do [ \"$(%s)\" != log-000000001-%s,0,0 ] && exit 0; sleep 1; done; exit 1" % (replay % first, first))
    for host in (second, third):
        on(host, "for i in $(seq 60); do [ \"$(%s)\" = \"$(readlink /mars/resource-r1/replay-%s)\" ] && exit 0; sleep 1; done; exit 1"
           % (replay % host, first))
    sums = {on(h, "dd if=/dev/vdb bs=1M count=128 iflag=direct 2>/dev/null | md5sum").stdout for h in HOSTS}
    assert len(sums) == 1

    out = on(second, adm + "primary r1").stdout
    assert "designated primary changed from '%s' to '%s'" % (first, second) in out
    on(second, "test -b /dev/mars/r1")
    on(first, "test ! -e /dev/mars/r1")
    assert on(first, adm + "view-is-primary r1 2>/dev/null").stdout.strip() == "0"


@pytest.mark.skipif(not MARSADM or not os.path.exists(MARSADM), reason="set MARS_REAL_MARSADM to the real marsadm")
def test_sync_stalls_on_a_cut_link_and_an_open_device_holds_the_handover(clean):
    first, second = HOSTS[:2]
    for host in (first, second):
        podman("cp", MARSADM, "%s:/tmp/marsadm-real" % host)
        # 8 MiB/s: the 128 MiB sync takes long enough to cut the link in the middle
        on(host, "echo 'MARS_EMULATOR_ARGS=--sync-rate 8192' > /etc/default/mars-emulator")
    adm = "cd / && perl /tmp/marsadm-real --timeout=60 "
    syncstatus = "readlink /mars/resource-r1/syncstatus-%s" % second
    try:
        on(first, adm + "create-cluster && modprobe mars")
        on(second, "modprobe mars && " + adm + "join-cluster " + first)
        on(first, adm + "create-resource r1 /dev/vdb r1 128M && " + adm + "wait-resource r1 is-device")
        on(second, adm + "join-resource r1 /dev/vdb")
        on(second, "for i in $(seq 30); do [ \"$(%s)\" -gt 0 ] && exit 0; sleep 0.5; done; exit 1" % syncstatus)
        labctl("partition", first, second)
        on(second, "sleep 6")  # the sync notices the cut (network timeout) and retries in vain
        stalled = int(on(second, syncstatus).stdout)
        on(second, "sleep 3")
        assert int(on(second, syncstatus).stdout) == stalled < 128 * 1024 * 1024
        labctl("heal")
        on(second, "for i in $(seq 60); do [ \"$(%s)\" = %d ] && exit 0; sleep 1; done; exit 1" % (syncstatus, 128 * 1024 * 1024),
           timeout=120)
        sums = {on(h, "dd if=/dev/vdb bs=1M count=128 iflag=direct 2>/dev/null | md5sum").stdout for h in (first, second)}
        assert len(sums) == 1

        # a mounted /dev/mars/r1 on the primary: marsadm refuses the handover until it is unmounted
        on(first, "mkdir -p /mnt/r1 && mount -o ro,noload /dev/mars/r1 /mnt/r1 || "
                  "(mkfs.ext4 -q /dev/mars/r1 && mount /dev/mars/r1 /mnt/r1)")
        on(first, "for i in $(seq 10); do [ \"$(readlink /mars/resource-r1/actual-%s/open-count)\" = 1 ] && exit 0; sleep 1; done; exit 1"
           % first)
        refused = on(second, adm + "primary r1", check=False)
        assert refused.returncode != 0 and "in use" in refused.stdout + refused.stderr
        assert on(first, "rmmod mars", check=False).returncode != 0  # in use, like the real module
        on(first, "umount /mnt/r1")
        assert "designated primary changed" in on(second, adm + "primary r1").stdout
        on(second, "test -b /dev/mars/r1")
    finally:
        labctl("heal")
        for host in (first, second):
            on(host, "umount /mnt/r1 2>/dev/null; rm -f /etc/default/mars-emulator", check=False)
