"""LabClient without a lab: the argv lists it builds, the output it parses, the process group it kills."""

import json
import subprocess
import sys

import pytest

from soak import __main__ as soak_main
from soak import lab as labclient, nemesis


@pytest.fixture
def client(tmp_path, monkeypatch):
    calls = []

    def run(argv, **kwargs):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "active\ninactive\n", "")

    monkeypatch.setattr(labclient.subprocess, "run", run)
    lab = labclient.LabClient("/repo", "soak", ["soak1", "soak2", "soak3"], "/repo/build/inventories/soak", str(tmp_path))
    lab.calls = calls
    return lab


def test_lab_commands_are_argv_lists_for_the_named_lab(client):  # pylint: disable=redefined-outer-name
    client.apply([("partition", "site-a", "site-b"), ("heal",)])
    client.start_writer("soak1", "r1", "s1", "w001soak1", 5, 900)
    assert client.active_writers("soak1", ["r1", "r2"]) == ["r1"]
    prefix = [sys.executable, "/repo/lab/labctl.py", "--name", "soak"]
    assert client.calls[0] == prefix + ["partition", "site-a", "site-b"]
    assert client.calls[1] == prefix + ["heal"]
    assert client.calls[3] == prefix + ["exec", "soak1", "--", "systemd-run", "--unit", "georep-soak-writer-r1", "--collect", "--quiet",
                                        "python3", "/usr/local/lib/georep-soak/recordio.py", "write", "/dev/mars/r1", "--resource", "r1",
                                        "--soak", "s1", "--writer", "w001soak1", "--ack-log", "/var/lib/georep-soak/ack-w001soak1.jsonl",
                                        "--rate", "5", "--max-seconds", "900"]
    assert client.calls[4][-4:] == ["systemctl", "is-active", "georep-soak-writer-r1", "georep-soak-writer-r2"]


def test_info_results_from_one_line_output():
    output = "\n".join([
        'soak1 | SUCCESS => {"changed": false, "host": "soak1", "resources": {"r1": {"member": true}}}',
        "soak2 | UNREACHABLE!: Failed to connect to the host via ssh: Connection timed out",
        'soak3 | FAILED! => {"msg": "The command action failed to execute in the expected time frame (30) and was terminated"}'])
    assert labclient.parse_oneline(output, ["soak1", "soak2", "soak3"]) == {
        "soak1": {"changed": False, "host": "soak1", "resources": {"r1": {"member": True}}}, "soak2": None, "soak3": None}


def test_recap_counts():
    output = "PLAY RECAP ***\nmars1                      : ok=40   changed=0    unreachable=0    failed=0    skipped=3    rescued=0    ignored=0\n"
    assert labclient.recap_counts(output)["mars1"]["changed"] == 0 and labclient.recap_counts(output)["mars1"]["ok"] == 40


def test_a_killed_run_is_killed_with_its_process_group(tmp_path):
    lab = labclient.LabClient(str(tmp_path), "lab", [], "inventory", str(tmp_path))
    child = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"
    rc, _output, killed, timed_out, seconds = lab._run_group([sys.executable, "-c", child], 60, "run.log", kill_after=0.5)  # pylint: disable=protected-access
    assert (rc, killed, timed_out) == (-9, True, False) and seconds < 10
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    rc, _output, killed, timed_out, _seconds = lab._run_group(sleeper, 0.5, "run.log")  # pylint: disable=protected-access
    assert (rc, killed, timed_out) == (-9, False, True)


def test_layout_of_the_lab_and_of_a_named_lab():
    _lab, layout, fleet = soak_main.lab_layout("lab")
    assert layout["sites"] == {"site-a": ["mars1", "mars3"], "site-b": ["mars2"]}
    assert fleet["resources"]["r2"] == {"replicas": ["mars2", "mars3"], "primary": "mars2", "preferred_primaries": ["mars2", "mars3"]}
    lab, layout, fleet = soak_main.lab_layout("soak")
    assert lab.inventory_dir.endswith("build/inventories/soak") and layout["hosts"] == ["soak1", "soak2", "soak3"]
    assert fleet["mars_resources"][0]["replicas"] == ["soak1", "soak2", "soak3"] and fleet["sites"]["soak2"] == "site-b"


def test_a_named_lab_gives_every_playbook_its_renamed_resources(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(labclient.LabClient, "_run_group", lambda self, argv, *a, **k: seen.append(argv) or (0, "", False, False, 1.0))
    lab = labclient.LabClient("/repo", "soak", [], "inv", str(tmp_path), vars_file="/out/fleet-vars.json")
    lab.playbook("handover.yml", {"handover_resource": "r1", "handover_target": "soak2"}, 60)
    assert seen[0][1:] == ["-i", "inv", "playbooks/handover.yml", "-e", "@/out/fleet-vars.json",
                           "-e", '{"handover_resource": "r1", "handover_target": "soak2"}']


def test_schedule_command_prints_one_slot_per_line(capsys):
    assert soak_main.main(["schedule", "--faults", "3", "--seed", "2", "--max-minutes", "120"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(json.loads(line)["fault"]["name"] in nemesis.CATALOGUE for line in lines)
