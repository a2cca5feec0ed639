"""The day-2 playbooks on the lab, each to its documented end state, checked with georep.mars.info
and with data checksums of /dev/mars/RES: add_replica, decommission (of a resource), rolling_upgrade,
migrate (of a secondary) and resize. Destructive playbooks must refuse without their confirmation
variable; a second run must report changed=0.

The tests run in order on one lab that the module fixture builds from scratch (down --volumes, up,
site.yml). The lab is chosen with GEOREP_PB_LAB: ``lab`` (default: hosts mars1..3,
inventories/lab) or NAME (hosts NAME1..3, build/inventories/NAME, made by ``labctl --name NAME up``).
GEOREP_PB_EMULATOR_SOURCE optionally installs the emulator from another tree (mars_kmod_emulator_source).
Every ansible-playbook output goes to build/pbtest-logs/.

    GEOREP_PB_LAB=pb .venv/bin/pytest -q tests/lab/test_playbooks.py
"""

import json
import os
import re
import subprocess

import pytest
import yaml

from labhelpers import REPO, labctl

pytestmark = pytest.mark.lab

LAB = os.environ.get("GEOREP_PB_LAB", "lab")
PREFIX = "mars" if LAB == "lab" else LAB
H1, H2, H3 = HOSTS = tuple("%s%d" % (PREFIX, i) for i in (1, 2, 3))
INVENTORY = os.path.join(REPO, "inventories", "lab") if LAB == "lab" else os.path.join(REPO, "build", "inventories", LAB)
LOGS = os.path.join(REPO, "build", "pbtest-logs")
MIB4 = 4 * 1024 * 1024
RECAP_RE = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", re.M)


def fleet():
    """The lab inventory's resources, for this lab's host names."""
    with open(os.path.join(REPO, "inventories", "lab", "group_vars", "all.yml"), encoding="utf-8") as handle:
        resources = yaml.safe_load(handle)["mars_resources"]
    for resource in resources:
        resource["replicas"] = [h.replace("mars", PREFIX) for h in resource["replicas"]]
        resource["preferred_primaries"] = [h.replace("mars", PREFIX) for h in resource.get("preferred_primaries", [])]
        resource["primary"] = resource["primary"].replace("mars", PREFIX)
    return resources


def on(host, command, check=True, timeout=120):
    result = labctl("--name", LAB, "exec", host, "--", "bash", "-c", command, check=False, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError("%s: '%s' failed: rc=%d\n%s%s" % (host, command, result.returncode, result.stdout, result.stderr))
    return result.stdout


class Run:
    def __init__(self, name, rc, output):
        self.name, self.rc, self.output = name, rc, output
        self.recap = {m.group(1): dict((k, int(v)) for k, v in (i.split("=") for i in m.group(2).split()))
                      for m in RECAP_RE.finditer(output)}

    def changed(self):
        return sum(counts["changed"] for counts in self.recap.values())

    def __str__(self):
        return "%s -> rc %d\n%s" % (self.name, self.rc, self.output[-5000:])


def playbook(name, varsfile, *extra, timeout=900):
    argv = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", INVENTORY, "-e", "@%s" % varsfile,
            os.path.join(REPO, "playbooks", name + ".yml")] + list(extra)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="default")
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    os.makedirs(LOGS, exist_ok=True)
    count = len(os.listdir(LOGS))
    with open(os.path.join(LOGS, "%03d-%s.log" % (count, name)), "w", encoding="utf-8") as handle:
        handle.write(" ".join(argv) + "\n" + result.stdout + result.stderr)
    return Run(name, result.returncode, result.stdout + result.stderr)


def info(host):
    """georep.mars.info's resources on one host (ad hoc, through the lab inventory)."""
    argv = [os.path.join(REPO, ".venv", "bin", "ansible"), "-i", INVENTORY, host, "-m", "georep.mars.info", "-o"]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return json.loads(result.stdout.split(" => ", 1)[1])  # "HOST | SUCCESS => {...}"


def md5(host, path, size=MIB4):
    return on(host, "head -c %d %s | md5sum" % (size, path)).split()[0]


def wait_for_data(host, path, want, seconds=90):
    """A replica has the data once the bytes are there (replay-rest 0 alone can be true too early)."""
    on(host, "for i in $(seq %d); do [ \"$(head -c %d %s | md5sum | cut -d' ' -f1)\" = '%s' ] && exit 0; sleep 1; done; exit 1"
       % (seconds, MIB4, path, want), check=False, timeout=seconds + 30)
    assert md5(host, path) == want, (host, path)


def write_data(host, resource):
    on(host, "dd if=/dev/urandom of=/dev/mars/%s bs=1M count=4 oflag=direct status=none" % resource)
    return md5(host, "/dev/mars/" + resource)


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    """A fresh lab after site.yml, with known data on every resource, replicated everywhere."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    labctl("--name", LAB, "down", "--volumes")
    labctl("--name", LAB, "up")
    varsfile = tmp_path_factory.mktemp("pb") / "fleet.yml"
    extra = {"mars_resources": fleet()}
    if os.environ.get("GEOREP_PB_EMULATOR_SOURCE"):
        extra["mars_kmod_emulator_source"] = os.environ["GEOREP_PB_EMULATOR_SOURCE"]
    varsfile.write_text(yaml.safe_dump(extra))
    run = playbook("site", varsfile, timeout=1200)
    assert run.rc == 0, run
    sums = {}
    for resource in fleet():
        name, primary = resource["name"], resource["primary"]
        sums[name] = write_data(primary, name)
        for replica in resource["replicas"]:
            if replica != primary:
                wait_for_data(replica, resource["disk"], sums[name])
    return {"vars": varsfile, "sums": sums}


def refuses(state, name, *extra):
    run = playbook(name, state["vars"], *extra)
    assert run.rc != 0 and run.recap.get("localhost", {}).get("failed") == 1, run
    assert not any(h in run.recap for h in HOSTS), run


def test_add_replica(state):
    refuses(state, "add_replica", "-e", "resource=r2", "-e", "host=" + H1)
    args = ("-e", "resource=r2", "-e", "host=" + H1, "-e", "disk=/dev/vdc")
    run = playbook("add_replica", state["vars"], *args)
    assert run.rc == 0 and run.recap[H1]["changed"] == 1, run
    facts = info(H1)["resources"]["r2"]
    assert facts["member"] and facts["consistent"] and facts["sync_rest"] == 0, facts
    assert sorted(facts["members"]) == sorted([H1, H2, H3]), facts
    wait_for_data(H1, "/dev/vdc", state["sums"]["r2"])
    run = playbook("add_replica", state["vars"], *args)
    assert run.rc == 0 and run.changed() == 0, run


def test_decommission_resource(state):
    refuses(state, "decommission", "-e", "decommission_resource=r2")
    run = playbook("decommission", state["vars"], "-e", "decommission_resource=r2", "-e", "confirm_decommission=yes")
    assert run.rc == 0 and all(run.recap[h]["changed"] == 1 for h in HOSTS), run
    for host in HOSTS:
        facts = info(host)["resources"].get("r2", {})
        assert not facts.get("member"), (host, facts)
        # leave-resource does not touch the disk
        assert md5(host, "/dev/vdc") == state["sums"]["r2"], host
        on(host, "test ! -e /dev/mars/r2")
    run = playbook("decommission", state["vars"], "-e", "decommission_resource=r2", "-e", "confirm_decommission=yes")
    assert run.rc == 0 and run.changed() == 0, run


def test_rolling_upgrade(state):
    """Every host looks outdated (another digest): each is upgraded in turn, primaries come back."""
    refuses(state, "rolling_upgrade")
    for host in HOSTS:
        on(host, "echo old > /usr/lib/georep-mars-emulator/.georep-mars-digest")
    run = playbook("rolling_upgrade", state["vars"], "-e", "confirm_upgrade=yes")
    assert run.rc == 0, run
    assert "r1 -> " in run.output and "r3 -> " in run.output, run  # the primaries moved meanwhile
    digests = {on(h, "cat /usr/lib/georep-mars-emulator/.georep-mars-digest").strip() for h in HOSTS}
    assert len(digests) == 1 and "old" not in digests
    for name, primary in (("r1", H1), ("r3", H3)):
        facts = info(primary)["resources"][name]
        assert facts["is_primary"], (name, facts)
        assert md5(primary, "/dev/mars/" + name) == state["sums"][name]
    for host in HOSTS:
        for name, facts in info(host)["resources"].items():
            if facts.get("member"):
                assert facts["consistent"] and facts["replay_rest"] == 0, (host, name, facts)
    run = playbook("rolling_upgrade", state["vars"], "-e", "confirm_upgrade=yes")
    assert run.rc == 0 and run.changed() == 0, run


def test_migrate_secondary(state):
    """r3's copy moves from H2 to H1 (H3 stays primary): join, sync, leave."""
    args = ("-e", "resource=r3", "-e", "from_host=" + H2, "-e", "to_host=" + H1, "-e", "to_disk=/dev/vdd")
    refuses(state, "migrate", *args)
    sums = state["sums"]
    sums["r3"] = write_data(H3, "r3")
    run = playbook("migrate", state["vars"], *args, "-e", "confirm_migrate=yes")
    assert run.rc == 0, run
    facts = info(H1)["resources"]["r3"]
    assert facts["member"] and facts["consistent"] and sorted(facts["members"]) == sorted([H1, H3]), facts
    assert not info(H2)["resources"]["r3"]["member"]
    wait_for_data(H1, "/dev/vdd", sums["r3"])
    assert md5(H3, "/dev/mars/r3") == sums["r3"]
    run = playbook("migrate", state["vars"], *args, "-e", "confirm_migrate=yes")
    assert run.rc == 0 and run.changed() == 0, run


@pytest.mark.xfail(reason="the emulated kernel does not grow /dev/mars/RES when the resource size grows, so "
                          "marsadm resize waits for the new device size in vain", strict=False)
def test_resize(state):
    """Last: a failed resize leaves r1 with the new size in /mars and the old device."""
    refuses(state, "resize", "-e", "resource=r1")
    args = ("-e", "resource=r1", "-e", "size=128M", "-e", "resize_timeout=20")
    run = playbook("resize", state["vars"], *args)
    assert run.rc == 0 and run.recap[H1]["changed"] == 1, run
    for host in HOSTS:
        assert info(host)["resources"]["r1"]["size"] == 128 * 1024 * 1024
    assert on(H1, "blockdev --getsize64 /dev/mars/r1").strip() == str(128 * 1024 * 1024)
    assert md5(H1, "/dev/mars/r1") == state["sums"]["r1"]
    run = playbook("resize", state["vars"], *args)
    assert run.rc == 0 and run.changed() == 0, run
