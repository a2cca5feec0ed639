"""Molecule verifier for the default scenario: after site.yml, what an operator checks by hand."""

import os

import pytest

HOSTS = {"mol1": "10.78.0.11", "mol2": "10.78.0.12", "mol3": "10.78.0.13"}
PRIMARY = "mol1"
testinfra_hosts = ["ansible://all?ansible_inventory=" + os.environ.get("MOLECULE_INVENTORY_FILE", "")]


def marsadm(host, *args):
    return host.check_output("marsadm " + " ".join(args)).strip()


def test_mars_is_loaded(host):
    # The kernel module's interface (here the emulator's): present once MARS runs.
    assert host.file("/proc/sys/mars/version").exists
    assert host.run("mountpoint -q /mars").rc == 0


def test_every_host_is_a_cluster_member_with_its_address(host):
    members = {name[len("ip-"):]: host.check_output("readlink /mars/ips/" + name)
               for name in host.check_output("ls /mars/ips").split()}
    assert members == HOSTS


def test_r1_has_its_primary_and_replicas(host):
    name = host.check_output("uname -n")
    assert marsadm(host, "view-get-primary", "r1") == PRIMARY
    assert marsadm(host, "view-is-primary", "r1") == ("1" if name == PRIMARY else "0")
    assert sorted(marsadm(host, "view-resource-members", "r1").split()) == sorted(HOSTS)


def test_the_device_is_on_the_primary_only(host):
    name = host.check_output("uname -n")
    is_block_device = host.run("test -b /dev/mars/r1").rc == 0
    assert is_block_device == (name == PRIMARY)


def test_every_replica_is_synced_and_consistent(host):
    assert marsadm(host, "view-sync-rest", "r1") == "0"
    assert marsadm(host, "view-is-consistent", "r1") == "1"


@pytest.mark.parametrize("peer", sorted(HOSTS))
def test_peers_reach_the_mars_port(host, peer):
    # The firewall role lets cluster peers in on the MARS ports.
    assert host.run("timeout 3 bash -c 'exec 3<>/dev/tcp/%s/7777'" % HOSTS[peer]).rc == 0
