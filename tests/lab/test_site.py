"""The rollout on bare lab hosts: check mode changes nothing, a run converges to a synced cluster
with the lab's three resources, a second run and a check run report changed=0.

Runs on a lab of its own name (GEOREP_SITE_LAB, default ``lab``: the default lab, recreated bare
by this test), with the fleet description of inventories/lab rewritten for that lab's host names.
"""

import os
import re
import subprocess

import pytest
import yaml

import labhelpers
from labctl import Lab
from labhelpers import REPO, lab_fleet, labctl

LAB = os.environ.get("GEOREP_SITE_LAB", "lab")
LAYOUT = Lab(name=LAB)
PREFIX = LAYOUT.prefix
HOSTS = LAYOUT.hosts
INVENTORY = LAYOUT.inventory_dir
# The inventory's fleet, for this lab's host names.
FLEET = lab_fleet(PREFIX)


def on(host, command, check=True):
    return labhelpers.on(host, command, check=check, lab=LAB).stdout


def site(tmp_path, *extra):
    varsfile = tmp_path / "fleet.yml"
    varsfile.write_text(yaml.safe_dump({"mars_resources": FLEET}))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", INVENTORY, "-e", "@%s" % varsfile,
                             os.path.join(REPO, "playbooks", "site.yml")] + list(extra),
                            capture_output=True, text=True, env=env, timeout=1200, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    changed = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.M)}
    assert set(HOSTS) <= set(changed), result.stdout[-3000:]
    return changed, result.stdout


def site_refuses(tmp_path, fleet, *extra):
    """A rollout with FLEET fails before any change; returns its output."""
    varsfile = tmp_path / "bad-fleet.yml"
    varsfile.write_text(yaml.safe_dump({"mars_resources": fleet}))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", INVENTORY, "-e", "@%s" % varsfile,
                             os.path.join(REPO, "playbooks", "site.yml")] + list(extra),
                            capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode != 0, result.stdout[-3000:]
    return result.stdout


def mars_tree(host):
    """The /mars tree without what the kernel refreshes by itself (alive and indicator links)."""
    return on(host, "cd /mars 2>/dev/null && find . -path '*/actual-*' -prune -o -printf '%p %l\\n' | sort || true")


@pytest.fixture(scope="module")
def bare_lab():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    labctl("--name", LAB, "down", "--volumes")
    labctl("--name", LAB, "up")
    return HOSTS


def test_bad_inventory_fails_before_any_change(bare_lab, tmp_path):
    first, second = FLEET[0], FLEET[1]
    bad = [first, dict(first), dict(first, name="r8", preferred_primaries=[HOSTS[0], HOSTS[2]]),
           dict(second, name="r9", replicas=[HOSTS[0], "nohost"], primary=HOSTS[0], preferred_primaries=[])]
    output = site_refuses(tmp_path, bad, "-e", "mars_replication_ip=10.77.0.300")
    for message in ("resource '%s': defined twice" % first["name"],
                    "resource 'r8': preferred_primaries names two hosts in site",
                    "resource 'r9': replica host 'nohost' is not in the cluster",
                    "host '%s': mars_replication_ip '10.77.0.300' is not an IPv4 address" % HOSTS[0]):
        assert message in output, output[-3000:]
    # an IPv6 address: MARS replicates over IPv4 only
    output = site_refuses(tmp_path, FLEET, "-e", "mars_replication_ip=fd00::11")
    assert ("host '%s': mars_replication_ip 'fd00::11' is IPv6, but MARS replicates over IPv4 only" % HOSTS[0]
            in " ".join(output.split())), output[-3000:]
    # a firewall peer that is no IPv4 network
    output = site_refuses(tmp_path, FLEET, "-e", '{"mars_firewall_extra_peers": ["fd00::/64"]}')
    assert "are not IPv4 addresses or networks: fd00::/64" in " ".join(output.split()), output[-3000:]
    # a size the disks cannot hold
    output = site_refuses(tmp_path, [dict(first, size="2G")] + FLEET[1:])
    assert ("host '%s', resource '%s': disk '%s' on %s has 1073741824 bytes, less than the 2147483648 bytes of resource"
            % (first["primary"], first["name"], first["disk"], first["primary"])) in " ".join(output.split()), output[-3000:]
    for host in bare_lab:
        assert on(host, "ls -A /mars").strip() == "", "a refused rollout wrote to /mars on %s" % host
        on(host, "test ! -e /usr/sbin/marsadm && test ! -e /usr/lib/georep-mars-emulator")


def test_site_rollout(bare_lab, tmp_path):
    # 1. --check on bare hosts: no failure and nothing on the hosts changes.
    site(tmp_path, "--check")
    for host in bare_lab:
        assert on(host, "ls -A /mars").strip() == "", "check mode wrote to /mars on %s" % host
        on(host, "test ! -e /usr/sbin/marsadm && test ! -e /usr/lib/georep-mars-emulator")
        assert "mars" not in on(host, "ls /etc/systemd/system")

    # 2. The rollout: every resource synced and consistent on every replica, same data.
    site(tmp_path)
    for resource in FLEET:
        name, primary = resource["name"], resource["primary"]
        assert on(primary, "marsadm view-is-primary %s" % name).strip() == "1"
        assert on(primary, "test -b /dev/mars/%s && echo yes" % name).strip() == "yes"
        size = 64 * 1024 * 1024
        on(primary, "dd if=/dev/urandom of=/dev/mars/%s bs=1M count=4 oflag=direct status=none" % name)
        want = on(primary, "head -c %d /dev/mars/%s | md5sum" % (size, name))
        for replica in resource["replicas"]:
            if replica == primary:
                continue
            # A secondary only knows of the new writes once the primary's logfile has been seen
            # and fetched, so "nothing left to replay" alone can be true too early: wait for the data.
            on(replica, "for i in $(seq 90); do [ \"$(head -c %d %s | md5sum)\" = '%s' ] && exit 0; sleep 1; done; exit 1"
               % (size, resource["disk"], want.strip()), check=False)
            assert on(replica, "head -c %d %s | md5sum" % (size, resource["disk"])) == want, (name, replica)
            assert on(replica, "marsadm view-replay-rest %s; marsadm view-is-consistent %s" % (name, name)).split() == ["0", "1"]

    # 3. A second run changes nothing.
    changed, output = site(tmp_path)
    assert all(changed[h] == 0 for h in bare_lab), output[-4000:]

    # 4. --check on the converged fleet reports no change and changes nothing.
    before = {h: mars_tree(h) for h in bare_lab}
    changed, output = site(tmp_path, "--check")
    assert all(changed[h] == 0 for h in bare_lab), output[-4000:]
    assert {h: mars_tree(h) for h in bare_lab} == before


def test_handover_through_ansible_runner(bare_lab, tmp_path):
    """AWX runs playbooks through ansible-runner with extra vars only: do the same."""
    private = tmp_path / "runner"
    (private / "env").mkdir(parents=True)
    (private / "inventory").mkdir()
    (private / "env" / "extravars").write_text(yaml.safe_dump({"handover_resource": "r1", "handover_target": HOSTS[1], "mars_resources": FLEET}))
    (private / "env" / "envvars").write_text(yaml.safe_dump({"ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg")}))
    os.symlink(os.path.join(REPO, "playbooks"), private / "project")
    for name in ("hosts.yml", "group_vars"):
        os.symlink(os.path.join(INVENTORY, name), private / "inventory" / name)
    env = dict(os.environ, PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""))
    result = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-runner"), "run", str(private), "-p", "handover.yml"],
                            capture_output=True, text=True, timeout=900, env=env, check=False)
    assert result.returncode == 0, result.stdout[-4000:]
    assert (private / "artifacts").is_dir()
    status = next((private / "artifacts").iterdir()) / "status"
    assert status.read_text().strip() == "successful"
    assert on(HOSTS[1], "marsadm view-is-primary r1").strip() == "1"
    assert on(HOSTS[0], "marsadm view-is-primary r1").strip() == "0"
