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
import subprocess

import pytest
import yaml

import labhelpers
from labctl import Lab
from labhelpers import REPO, Run, lab_fleet, labctl

pytestmark = pytest.mark.lab

LAB = os.environ.get("GEOREP_PB_LAB", "lab")
LAYOUT = Lab(name=LAB)
PREFIX = LAYOUT.prefix
H1, H2, H3 = HOSTS = tuple(LAYOUT.hosts)
INVENTORY = LAYOUT.inventory_dir
LOGS = os.path.join(REPO, "build", "pbtest-logs")
MIB4 = 4 * 1024 * 1024


def fleet():
    """The lab inventory's resources, for this lab's host names."""
    return lab_fleet(PREFIX)


def on(host, command, check=True, timeout=120):
    return labhelpers.on(host, command, check=check, timeout=timeout, lab=LAB).stdout


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
    return run


def readme_example(title):
    """The YAML block that follows the README heading with this title."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    section = text.split("\n## " + title + "\n", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_readme_first_example_hands_r1_over(state, tmp_path):
    """The README's first example, as a user would copy it, hands r1 over; a second run changes nothing."""
    example = tmp_path / "hand-r1-over.yml"
    example.write_text(readme_example("A first example: hand r1 over").replace("mars2", H2))
    assert info(H1)["resources"]["r1"]["is_primary"], "r1 must start on %s" % H1
    argv = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", INVENTORY, str(example)]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="default")
    for attempt in ("first", "again"):
        result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
        run = Run("readme-" + attempt, result.returncode, result.stdout + result.stderr)
        assert run.rc == 0 and run.recap[H2]["changed"] == (1 if attempt == "first" else 0), run
    assert info(H2)["resources"]["r1"]["is_primary"]
    run = playbook("handover", state["vars"], "-e", "handover_resource=r1", "-e", "handover_target=" + H1)  # back, for the tests below
    assert run.rc == 0 and info(H1)["resources"]["r1"]["is_primary"], run


def test_a_clean_clone_works_as_an_awx_project(state, tmp_path):
    """What AWX does with a project: a clean checkout, the collections of collections/requirements.yml
    in a directory of their own (AWX installs them from Galaxy; here they come from the ansible package),
    then playbooks of the checkout, which must find georep.mars in the checkout itself. ansible-core only
    (.venv-2.18 has no ansible package), cwd the checkout, so its ansible.cfg applies as in AWX."""
    project = tmp_path / "project"
    subprocess.run(["git", "clone", "-q", REPO, str(project)], check=True, timeout=120)
    requirements = tmp_path / "requirements_collections"
    with open(project / "collections" / "requirements.yml", encoding="utf-8") as handle:
        wanted = [c["name"] for c in yaml.safe_load(handle)["collections"]]
    shipped = os.path.join(REPO, ".venv", "lib", "python3.11", "site-packages", "ansible_collections")
    for name in wanted:
        namespace, collection = name.split(".")
        assert os.path.isdir(os.path.join(shipped, namespace, collection)), "the ansible package lacks " + name
        (requirements / "ansible_collections" / namespace).mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.join(shipped, namespace, collection), requirements / "ansible_collections" / namespace / collection)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(requirements), ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="default",
               ANSIBLE_HOST_KEY_CHECKING="False")
    ansible_playbook = os.path.join(REPO, ".venv-2.18", "bin", "ansible-playbook")
    for name in ("site", "split_brain", "decommission"):  # roles by FQCN, modules, filters
        result = subprocess.run([ansible_playbook, "-i", INVENTORY, "--syntax-check", "playbooks/%s.yml" % name],
                                cwd=project, capture_output=True, text=True, env=env, timeout=300, check=False)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    result = subprocess.run([ansible_playbook, "-i", INVENTORY, "-e", "@%s" % state["vars"], "-e", "handover_resource=r1", "-e", "handover_target=" + H1,
                             "playbooks/handover.yml"], cwd=project, capture_output=True, text=True, env=env, timeout=600, check=False)
    run = Run("awx-project-handover", result.returncode, result.stdout + result.stderr)
    assert run.rc == 0 and run.changed() == 0, run


def test_add_replica(state):
    refuses(state, "add_replica", "-e", "add_replica_resource=r2", "-e", "add_replica_host=" + H1)
    # the names of the first drafts are refused, not ignored
    run = refuses(state, "add_replica", "-e", "resource=r2", "-e", "host=" + H1, "-e", "disk=/dev/vdc")
    assert "resource is no longer read: use add_replica_resource" in run.output, run
    args = ("-e", "add_replica_resource=r2", "-e", "add_replica_host=" + H1, "-e", "add_replica_disk=/dev/vdc")
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
    args = ("-e", "migrate_resource=r3", "-e", "migrate_from_host=" + H2, "-e", "migrate_to_host=" + H1, "-e", "migrate_to_disk=/dev/vdd")
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


def test_resize(state):
    """r1 grows online from 64M to 128M on its primary; the data stays, a second run changes nothing."""
    refuses(state, "resize", "-e", "resize_resource=r1")
    args = ("-e", "resize_resource=r1", "-e", "resize_size=128M", "-e", "resize_timeout=20")
    refuses(state, "resize", *args)  # without the confirmation: it cannot be undone
    args += ("-e", "confirm_resize=yes")
    run = playbook("resize", state["vars"], *args)
    assert run.rc == 0 and run.recap[H1]["changed"] == 1, run
    for host in HOSTS:
        assert info(host)["resources"]["r1"]["size"] == 128 * 1024 * 1024
    assert on(H1, "blockdev --getsize64 /dev/mars/r1").strip() == str(128 * 1024 * 1024)
    assert md5(H1, "/dev/mars/r1") == state["sums"]["r1"]
    run = playbook("resize", state["vars"], *args)
    assert run.rc == 0 and run.changed() == 0, run


def test_failover_of_a_site_and_split_brain_repair(state):
    """Last: r1 is handed to H2, H2's site is lost (crash), failover.yml promotes r1 on the survivors'
    preferred primary H1; H2 returns cut off and writes; healed, split_brain.yml discards H2's writes."""
    run = playbook("handover", state["vars"], "-e", "handover_resource=r1", "-e", "handover_target=" + H2)
    assert run.rc == 0, run
    sums = state["sums"]
    sums["r1"] = write_data(H2, "r1")
    for host in (H1, H3):
        wait_for_data(host, "/dev/vdb", sums["r1"])
    refuses(state, "failover", "-e", "failover_lost_site=site-b")
    refuses(state, "failover", "-e", "failover_lost_site=site-b", "-e", "failover_lost_host=" + H2, "-e", "confirm_failover=yes")
    labctl("--name", LAB, "partition", "site-a", "site-b")
    try:
        labctl("--name", LAB, "crash", H2)
        # H2 is all of site-b: the lost host and the lost site name the same hosts, and the second
        # run (by site) finds nothing left to do after the first (by host)
        confirm = ("-e", "confirm_failover=yes", "-e", "failover_window=10")
        run = playbook("failover", state["vars"], "-e", "failover_lost_host=" + H2, *confirm)
        assert run.rc == 0 and run.recap[H1]["changed"] >= 1, run
        facts = info(H1)["resources"]["r1"]
        assert facts["designated_primary"] == H1 and facts["is_primary"] and facts["device_present"], facts
        assert md5(H1, "/dev/mars/r1") == sums["r1"]
        run = playbook("failover", state["vars"], "-e", "failover_lost_site=site-b", *confirm)
        assert run.rc == 0 and run.changed() == 0, run
        new = write_data(H1, "r1")
        # the lost site comes back still cut off: H2 goes on as primary there and writes too
        labctl("--name", LAB, "start", H2)
        on(H2, "for i in $(seq 60); do test -b /dev/mars/r1 && exit 0; sleep 1; done; exit 1", timeout=90)
        write_data(H2, "r1")
    finally:
        labctl("--name", LAB, "heal")
        labctl("--name", LAB, "start", H2, check=False)
    on(H2, "for i in $(seq 60); do [ \"$(marsadm view-is-split-brain r1 2>/dev/null)\" = 1 ] && exit 0; sleep 1; done; exit 1",
       timeout=90)
    refuses(state, "split_brain", "-e", "split_brain_loser_site=site-b")
    args = ("-e", "split_brain_loser_site=site-b", "-e", "confirm_split_brain=yes")
    run = playbook("split_brain", state["vars"], *args)
    assert run.rc == 0 and run.recap[H2]["changed"] >= 1, run
    for host in HOSTS:
        assert not info(host)["resources"]["r1"]["split_brain"], host
    wait_for_data(H2, "/dev/vdb", new)
    assert md5(H1, "/dev/mars/r1") == new
    run = playbook("split_brain", state["vars"], *args)
    assert run.rc == 0 and run.changed() == 0, run


def test_migrate_the_primary_onto_a_host_that_left_before(state):
    """The football pattern with handover: r3 (primary H3) moves to H2, which left r3 in test_migrate."""
    sums = state["sums"]
    sums["r3"] = write_data(H3, "r3")
    args = ("-e", "migrate_resource=r3", "-e", "migrate_from_host=" + H3, "-e", "migrate_to_host=" + H2, "-e", "migrate_to_disk=/dev/vdd",
            "-e", "confirm_migrate=yes")
    run = playbook("migrate", state["vars"], *args)
    assert run.rc == 0, run
    facts = info(H2)["resources"]["r3"]
    assert facts["designated_primary"] == H2 and facts["is_primary"] and facts["device_present"], facts
    assert sorted(facts["members"]) == sorted([H1, H2]), facts
    assert not info(H3)["resources"]["r3"]["member"]
    assert md5(H2, "/dev/mars/r3") == sums["r3"]
    wait_for_data(H1, "/dev/vdd", sums["r3"])
    run = playbook("migrate", state["vars"], *args)
    assert run.rc == 0 and run.changed() == 0, run


def test_decommission_of_a_host(state):
    """Last: H3 (a replica of r1 only, by now) leaves every resource and the cluster for good."""
    refuses(state, "decommission", "-e", "decommission_host=" + H3)
    args = ("-e", "decommission_host=" + H3, "-e", "decommission_handover_to=" + H1, "-e", "confirm_decommission=yes")
    run = playbook("decommission", state["vars"], *args)
    assert run.rc == 0 and run.recap[H3]["changed"] >= 1, run
    for host in (H1, H2):
        facts = info(host)
        assert H3 not in facts["resources"]["r1"]["members"], facts["resources"]["r1"]
        assert on(host, "readlink /mars/ips/ip-%s || true" % H3).strip() in ("", ".deleted"), host
    state["sums"]["r1"] = write_data(H1, "r1")
    wait_for_data(H2, "/dev/vdb", state["sums"]["r1"])
    run = playbook("decommission", state["vars"], *args)
    assert run.rc == 0 and run.changed() == 0, run
