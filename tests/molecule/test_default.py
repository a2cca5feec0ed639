"""Molecule verifier for the default scenario: what a user would check by hand on each host."""

import os

import pytest

HOSTS = {"mol1": ("10.78.0.11", "site-a"), "mol2": ("10.78.0.12", "site-b"), "mol3": ("10.78.0.13", "site-a")}
testinfra_hosts = ["ansible://all?ansible_inventory=" + os.environ.get("MOLECULE_INVENTORY_FILE", "")]


def test_hostname_and_ip(host):
    name = host.check_output("uname -n")
    assert name in HOSTS
    assert HOSTS[name][0] in host.check_output("ip -4 -o addr show")


def test_systemd_is_pid1_and_running(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), state


def test_site_file_written_by_converge(host):
    name = host.check_output("uname -n")
    assert host.file("/etc/georep-site").content_string == HOSTS[name][1] + "\n"


@pytest.mark.parametrize("peer", sorted(HOSTS))
def test_peers_reachable_over_tcp(host, peer):
    assert host.run("timeout 3 bash -c 'exec 3<>/dev/tcp/%s/22'" % HOSTS[peer][0]).rc == 0


def test_mars_volume_mounted(host):
    assert host.file("/mars").is_directory
    assert host.run("mountpoint -q /mars").rc == 0
