"""The lab itself: hosts, faults and bad input behave as README promises."""

import os
import subprocess

from labhelpers import LABCTL, labctl, on


def reachable(src, dst_ip):
    return on(src, "timeout 2 bash -c 'exec 3<>/dev/tcp/%s/22'" % dst_ip, check=False).returncode == 0


def test_three_hosts_in_two_sites_with_fixed_addresses(lab):
    for index, host in enumerate(lab, start=1):
        assert on(host, "uname -n").stdout.strip() == host
        assert "10.77.0.%d/24" % (10 + index) in on(host, "ip -4 -o addr show").stdout
        assert on(host, "systemctl is-system-running", check=False).stdout.strip() in ("running", "degraded")
        assert on(host, "test -b /dev/vdb && test -b /dev/vde && test -c /dev/fuse && mountpoint -q /mars").returncode == 0
    inventory = open(os.path.join(os.path.dirname(LABCTL[1]), "..", "inventories", "lab", "hosts.yml"), encoding="utf-8").read()
    assert "site_a" in inventory and "site_b" in inventory


def test_machine_disks_are_not_visible_in_hosts(lab):
    # Only the lab's own loop disks: a role that formats a disk can never hit the machine's.
    devices = on(lab[0], "ls /dev").stdout.split()
    assert "vda" not in devices and "sda" not in devices and "nvme0n1" not in devices


def test_partition_cuts_both_directions_and_heal_restores(healed):
    assert reachable("mars1", "10.77.0.12") and reachable("mars2", "10.77.0.11")
    labctl("partition", "mars1", "mars2")
    assert not reachable("mars1", "10.77.0.12")
    assert not reachable("mars2", "10.77.0.11")
    assert reachable("mars1", "10.77.0.13"), "a partition between two hosts must not cut the third"
    labctl("heal")
    assert reachable("mars1", "10.77.0.12") and reachable("mars2", "10.77.0.11")


def test_site_partition_cuts_every_cross_site_link(healed):
    labctl("partition", "site-a", "site-b")
    assert not reachable("mars1", "10.77.0.12")
    assert not reachable("mars3", "10.77.0.12")
    assert reachable("mars1", "10.77.0.13"), "hosts inside one site still reach each other"


def test_crash_and_start_keep_mars_and_disks(healed):
    on("mars3", "echo kept > /mars/lab-crash-test && dd if=/dev/urandom of=/dev/vdc bs=64k count=1 status=none && sync")
    before = on("mars3", "md5sum < /dev/vdc").stdout
    labctl("crash", "mars3")
    status = labctl("status").stdout  # read once: podman moves a killed container from stopped to exited
    assert "exited" in status or "stopped" in status, status
    labctl("start", "mars3")
    assert on("mars3", "cat /mars/lab-crash-test").stdout.strip() == "kept"
    assert on("mars3", "md5sum < /dev/vdc").stdout == before
    assert reachable("mars1", "10.77.0.13"), "a restarted host keeps its IP and MAC"
    on("mars3", "rm -f /mars/lab-crash-test")


def test_freeze_hangs_ssh_and_thaw_releases(healed):
    labctl("freeze", "mars2")
    assert on("mars1", "timeout 3 ssh -o BatchMode=yes -o ConnectTimeout=2 -o StrictHostKeyChecking=no 10.77.0.12 true",
              check=False).returncode != 0
    labctl("thaw", "mars2")
    assert on("mars2", "true").returncode == 0


def test_unknown_command_is_one_line_and_rc_2():
    result = labctl("explode", check=False)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "explode" in result.stderr


def test_unknown_host_is_one_line_and_rc_2():
    for args in (("crash", "mars9"), ("partition", "mars1", "nohost"), ("exec", "mars7", "--", "true")):
        result = labctl(*args, check=False)
        assert result.returncode == 2, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "unknown lab host" in lines[0], lines


def test_without_root_says_so():
    # labctl is fed on stdin to the system's python3: user nobody may not read a clone in a private
    # directory (CI clones into one), and the check under test comes before any file of the lab.
    with open(LABCTL[1], encoding="utf-8") as source:
        result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-", "status"],
                                stdin=source, capture_output=True, text=True, check=False, cwd="/")
    assert result.returncode == 2
    assert "needs root" in result.stderr


def test_without_podman_says_how_to_install_it():
    env = dict(os.environ, PATH="/nonexistent")
    result = subprocess.run(LABCTL + ["status"], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 2
    assert "podman" in result.stderr and "make deps" in result.stderr
