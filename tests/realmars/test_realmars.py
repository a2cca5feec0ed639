"""The whole collection on the real MARS kernel module and the real marsadm, in qemu VMs.

``make realmars`` runs this on the VM lab (lab/vmlab.py): three bullseye VMs with kernel
5.10.0-30-amd64 in two sites and a bullseye build container. The steps run in order on one lab
that the module fixture starts from bare VMs; each is checked with georep.mars.info and md5 of
the data, and its wall time goes to build/realmars/<fleet>.json for the report
(tools/realmars_report.py writes docs/realmars-report.md).

``GEOREP_REALMARS_FLEET=podman`` runs the same steps on a Podman lab with the emulator, for the
report's comparison column. The VM fleet needs GEOREP_MARS_GIT (the git directory of a clone of
github:schoebel/mars); without it every test here is skipped with that reason.

    GEOREP_MARS_GIT=/path/to/mars.git make realmars
"""

import json
import os
import re
import subprocess
import sys
import time

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
from labhelpers import Run  # noqa: E402  pylint: disable=wrong-import-position
FLEET = os.environ.get("GEOREP_REALMARS_FLEET", "vm")
RESULTS = os.path.join(REPO, "build", "realmars")
LOGS = os.path.join(RESULTS, "logs-" + FLEET)
MIB = 1024 * 1024
DATA = 16 * MIB  # TCG block I/O is slow: 16 MiB per write step

if FLEET == "vm" and not os.environ.get("GEOREP_MARS_GIT"):
    pytest.skip("the real MARS module needs its sources: GEOREP_MARS_GIT is not set (the git directory of a clone of "
                "github:schoebel/mars)", allow_module_level=True)
if os.geteuid() != 0:
    pytest.skip("the VM and Podman labs need root", allow_module_level=True)


class VmFleet:
    """The VM lab: vm1 (site-a), vm2 (site-b), vm3 (site-a); the controller runs in its netns."""

    hosts = ("vm1", "vm2", "vm3")
    inventory = os.path.join(REPO, "build", "inventories", "vm")
    disk, other_disk = "/dev/vdc", "/dev/vdd"

    def __init__(self):
        self.tool = [sys.executable, os.path.join(REPO, "lab", "vmlab.py")]

    def lab(self, *args, check=True, timeout=900):
        result = subprocess.run(self.tool + list(args), capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError("vmlab %s: rc %d %s" % (" ".join(args), result.returncode, result.stderr))
        return result

    def controller(self, argv):
        return ["nsenter", "--net=/run/netns/georep-vm"] + argv

    def on(self, host, command, timeout=600):
        return self.lab("ssh", host, "--", command, check=False, timeout=timeout)

    def fresh(self):
        self.lab("down", "--volumes")
        self.lab("up")


class PodmanFleet(VmFleet):
    """A named Podman lab (hosts rm1..3) with the emulator, for the comparison."""

    hosts = ("rm1", "rm2", "rm3")
    inventory = os.path.join(REPO, "build", "inventories", "rm")
    disk, other_disk = "/dev/vdc", "/dev/vdd"

    def __init__(self):
        super().__init__()
        self.tool = [sys.executable, os.path.join(REPO, "lab", "labctl.py"), "--name", "rm"]

    def controller(self, argv):
        return argv

    def on(self, host, command, timeout=600):
        return self.lab("exec", host, "--", "bash", "-c", command, check=False, timeout=timeout)


F = VmFleet() if FLEET == "vm" else PodmanFleet()
H1, H2, H3 = F.hosts
STEPS = []


def ansible_env():
    return dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "playbooks", "collections"))


def playbook(name, *extra, timeout=3600):
    argv = F.controller([os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", F.inventory,
                         "-e", "@" + fleet_vars(), os.path.join(REPO, "playbooks", name + ".yml")] + list(extra))
    result = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(), timeout=timeout, check=False)
    os.makedirs(LOGS, exist_ok=True)
    with open(os.path.join(LOGS, "%03d-%s.log" % (len(os.listdir(LOGS)), name)), "w", encoding="utf-8") as handle:
        handle.write(" ".join(argv) + "\n" + result.stdout + result.stderr)
    return Run(name, result.returncode, result.stdout + result.stderr)


def fleet_vars():
    """One resource on all three hosts, as both fleets define it."""
    path = os.path.join(RESULTS, "fleet-%s.yml" % FLEET)
    if not os.path.exists(path):
        os.makedirs(RESULTS, exist_ok=True)
        resources = [{"name": "r1", "size": "64M", "disk": F.disk, "replicas": list(F.hosts), "primary": H1,
                      "preferred_primaries": [H1, H2]}]
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump({"mars_resources": resources}, handle)
    return path


def info(host):
    argv = F.controller([os.path.join(REPO, ".venv", "bin", "ansible"), "-i", F.inventory, host,
                         "-m", "georep.mars.info", "-o"])
    result = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(), timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return json.loads(result.stdout.split(" => ", 1)[1])


def on(host, command, timeout=600):
    result = F.on(host, command, timeout=timeout)
    assert result.returncode == 0, "%s: %s: rc %d %s %s" % (host, command, result.returncode, result.stdout, result.stderr)
    return result.stdout


# O_DIRECT: the real module writes a secondary's disk with bios that bypass the page cache, so a
# buffered read there can return blocks cached before the replay (the emulator writes through it).
READ = "dd if=%s bs=1M count=%d iflag=direct status=none | md5sum"


def md5(host, path, size=DATA):
    return on(host, READ % (path, size // MIB)).split()[0]


def wait_for_data(host, path, want, seconds=600):
    """A replica has the data once the bytes are there on its disk."""
    F.on(host, "for i in $(seq %d); do [ \"$(%s | cut -d' ' -f1)\" = '%s' ] && exit 0; sleep 2; done; exit 1"
         % (seconds // 2, READ % (path, DATA // MIB), want), timeout=seconds + 120)
    assert md5(host, path) == want, (host, path)


def write_data(host, resource="r1"):
    on(host, "dd if=/dev/urandom of=/dev/mars/%s bs=1M count=%d oflag=direct status=none" % (resource, DATA // MIB))
    return md5(host, "/dev/mars/" + resource)


def wait_until(host, condition, seconds=300):
    result = F.on(host, "for i in $(seq %d); do %s && exit 0; sleep 2; done; exit 1" % (seconds // 2, condition), timeout=seconds + 60)
    assert result.returncode == 0, "%s: not within %d s: %s" % (host, seconds, condition)


class Step:
    """Times one step of the report; a step that raises is recorded as failed."""

    def __init__(self, name):
        self.name, self.started = name, None

    def __enter__(self):
        self.started = time.monotonic()
        return self

    def __exit__(self, kind, value, trace):
        STEPS.append({"step": self.name, "passed": kind is None, "seconds": round(time.monotonic() - self.started, 1)})
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, FLEET + ".json"), "w", encoding="utf-8") as handle:
            json.dump({"fleet": FLEET, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "steps": STEPS}, handle, indent=1)
        return False


@pytest.fixture(scope="module")
def sums():
    """Bare hosts: VMs freshly booted from the image (nothing of MARS on them), or new containers."""
    with Step("lab up (bare hosts)"):
        F.fresh()
    return {}


def test_site_from_bare_hosts(sums):
    with Step("site.yml from bare hosts"):
        run = playbook("site")
        assert run.rc == 0, run
        for host in F.hosts:
            facts = info(host)["resources"]["r1"]
            assert facts["member"] and not facts["split_brain"], (host, facts)
        assert info(H1)["resources"]["r1"]["is_primary"]
    with Step("write 16 MiB on the primary, replicated"):
        sums["r1"] = write_data(H1)
        for host in (H2, H3):
            wait_for_data(host, F.disk, sums["r1"])


@pytest.mark.skipif(FLEET != "vm", reason="the binary package is a DKMS thing; the emulator has none")
def test_the_vms_run_the_module_of_the_build_hosts_package(sums):
    """Built once on the build container; the VMs have neither compiler nor headers nor dkms."""
    run_log = sorted(n for n in os.listdir(LOGS) if n.endswith("-site.log"))[0]
    with open(os.path.join(LOGS, run_log), encoding="utf-8") as handle:
        first_site = handle.read()
    assert re.search(r"^vmbuilder\s+: ok=\d+\s+changed=[1-9]", first_site, re.M), "the build host built nothing"
    packages = [n for n in os.listdir("/var/lib/georep-mars-lab/vm/packages") if n.endswith(".deb")]
    assert packages == ["mars-modules-5.10.0-30-amd64_0.1a177qio510_amd64.deb"], packages
    for host in F.hosts:
        assert on(host, "dpkg-query -W -f '${Status}' mars-modules-5.10.0-30-amd64") == "install ok installed"
        assert on(host, "command -v dkms gcc cc || true").strip() == "", host
        assert not F.on(host, "test -e /lib/modules/5.10.0-30-amd64/build").returncode == 0, host
        assert on(host, "modinfo -F filename mars").strip() == "/lib/modules/5.10.0-30-amd64/updates/georep-mars/mars.ko"
        loaded = on(host, "cat /sys/module/mars/version")
        assert loaded.startswith("0.1a177qio510 WIP-qio-for-5.10-84810029 for 5.10.0-30-amd64"), (host, loaded)
        assert on(host, "modinfo -F vermagic mars").startswith("5.10.0-30-amd64 SMP mod_unload modversions"), host


def test_site_again_changes_nothing(sums):
    with Step("site.yml again (changed=0)"):
        run = playbook("site")
        assert run.rc == 0 and run.changed() == 0, run


@pytest.mark.skipif(FLEET != "vm", reason="kernels and packages are a DKMS thing")
def test_a_host_of_another_kernel_is_told_what_is_missing(sums):
    """No package for 5.10.0-31: with building off, the role names the missing package; with
    building on, the VM (no headers, no mirror) says which headers are missing."""
    base = ["-e", "mars_kmod_kernel_version=5.10.0-31-amd64", "-e", "mars_kmod_check_kernel_range=false",
            "--limit", H3]
    path = os.path.join(RESULTS, "kmod-only.yml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("- hosts: mars\n  gather_facts: true\n  roles: [georep.mars.kmod]\n")
    argv = F.controller([os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", F.inventory, path] + base)
    run = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(), timeout=600, check=False)
    flat = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0
    assert "no binary package of MARS 0.1a177qio510 for kernel 5.10.0-31-amd64 of vm3" in flat, flat[-3000:]
    run = subprocess.run(argv + ["-e", "mars_kmod_build_missing=true"], capture_output=True, text=True, env=ansible_env(),
                         timeout=600, check=False)
    flat = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0
    assert "The headers of kernel 5.10.0-31-amd64 are missing on vm3" in flat, flat[-3000:]


def test_handover(sums):
    with Step("handover.yml r1 to the other site"):
        run = playbook("handover", "-e", "handover_resource=r1", "-e", "handover_target=" + H2)
        assert run.rc == 0, run
        facts = info(H2)["resources"]["r1"]
        assert facts["is_primary"] and facts["designated_primary"] == H2, facts
        assert md5(H2, "/dev/mars/r1") == sums["r1"]
    with Step("handover.yml again (changed=0)"):
        run = playbook("handover", "-e", "handover_resource=r1", "-e", "handover_target=" + H2)
        assert run.rc == 0 and run.changed() == 0, run
    sums["r1"] = write_data(H2)
    for host in (H1, H3):
        wait_for_data(host, F.disk, sums["r1"])


def test_failover_of_a_lost_site_and_split_brain_repair(sums):
    """site-b (H2, the primary) is cut off and crashes; failover.yml promotes H1. H2 returns
    still cut off and writes; after the heal, split_brain.yml discards H2's writes."""
    F.lab("partition", "site-a", "site-b")
    try:
        F.lab("crash", H2)
        with Step("failover.yml of the lost site"):
            run = playbook("failover", "-e", "failover_lost_site=site-b", "-e", "confirm_failover=yes", "-e", "failover_window=30")
            assert run.rc == 0 and run.recap[H1]["changed"] >= 1, run
            facts = info(H1)["resources"]["r1"]
            assert facts["designated_primary"] == H1 and facts["is_primary"] and facts["device_present"], facts
            assert md5(H1, "/dev/mars/r1") == sums["r1"]
        with Step("failover.yml again (changed=0)"):
            run = playbook("failover", "-e", "failover_lost_site=site-b", "-e", "confirm_failover=yes", "-e", "failover_window=30")
            assert run.rc == 0 and run.changed() == 0, run
        sums["r1"] = write_data(H1)
        with Step("lost host boots, cut off, writes"):
            F.lab("start", H2)
            wait_until(H2, "test -b /dev/mars/r1")
            write_data(H2)
    finally:
        F.lab("heal")
        F.lab("start", H2, check=False)
    with Step("split brain seen after the heal"):
        wait_until(H2, "[ \"$(marsadm view-is-split-brain r1 2>/dev/null)\" = 1 ]")
    with Step("split_brain.yml (site-b loses)"):
        run = playbook("split_brain", "-e", "split_brain_loser_site=site-b", "-e", "confirm_split_brain=yes")
        assert run.rc == 0 and run.recap[H2]["changed"] >= 1, run
        for host in F.hosts:
            assert not info(host)["resources"]["r1"]["split_brain"], host
        wait_for_data(H2, F.disk, sums["r1"])
        assert md5(H1, "/dev/mars/r1") == sums["r1"]
    with Step("split_brain.yml again (changed=0)"):
        run = playbook("split_brain", "-e", "split_brain_loser_site=site-b", "-e", "confirm_split_brain=yes")
        assert run.rc == 0 and run.changed() == 0, run


def test_resize(sums):
    with Step("resize.yml 64M to 128M"):
        run = playbook("resize", "-e", "resize_resource=r1", "-e", "resize_size=128M", "-e", "confirm_resize=yes")
        assert run.rc == 0, run
        for host in F.hosts:
            assert info(host)["resources"]["r1"]["size"] == 128 * MIB, host
        assert on(H1, "blockdev --getsize64 /dev/mars/r1").strip() == str(128 * MIB)
        assert md5(H1, "/dev/mars/r1") == sums["r1"]
    with Step("resize.yml again (changed=0)"):
        run = playbook("resize", "-e", "resize_resource=r1", "-e", "resize_size=128M", "-e", "confirm_resize=yes")
        assert run.rc == 0 and run.changed() == 0, run


def test_decommission_of_a_host(sums):
    with Step("decommission.yml of a host"):
        args = ("-e", "decommission_host=" + H3, "-e", "decommission_handover_to=" + H1, "-e", "confirm_decommission=yes")
        run = playbook("decommission", *args)
        assert run.rc == 0 and run.recap[H3]["changed"] >= 1, run
        for host in (H1, H2):
            facts = info(host)
            assert H3 not in facts["resources"]["r1"]["members"], facts["resources"]["r1"]
        sums["r1"] = write_data(H1)
        wait_for_data(H2, F.disk, sums["r1"])
    with Step("decommission.yml again (changed=0)"):
        run = playbook("decommission", *args)
        assert run.rc == 0 and run.changed() == 0, run


@pytest.mark.skipif(FLEET != "vm", reason="the VM lab's own faults")
def test_vm_lab_faults_partition_delay_and_heal(sums):
    """A partition cuts both directions between two VMs and no other link; a delay shows in ping's
    round trip; heal undoes both."""
    def reachable(src, dst):
        return F.on(src, "timeout 3 bash -c 'exec 3<>/dev/tcp/%s/22'" % dst, timeout=60).returncode == 0

    ip2, ip3 = "10.99.0.12", "10.99.0.13"
    assert reachable(H1, ip2) and reachable(H1, ip3)
    F.lab("partition", H1, H2)
    try:
        assert not reachable(H1, ip2) and not reachable(H2, "10.99.0.11")
        assert reachable(H1, ip3)
    finally:
        F.lab("heal")
    assert reachable(H1, ip2)
    F.lab("delay", H1, H3, "200")
    try:
        rtt = float(on(H1, "ping -c 3 -q %s | tail -1" % ip3).split("=")[1].split("/")[1])
        assert rtt >= 200, rtt
    finally:
        F.lab("heal")
    rtt = float(on(H1, "ping -c 3 -q %s | tail -1" % ip3).split("=")[1].split("/")[1])
    assert rtt < 100, rtt
