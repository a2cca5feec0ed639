"""The driver wired to a fake lab (soak_fakelab): faults, operator decisions, writer runs, checks and report, end to end."""

import argparse

from soak import driver, events, nemesis, report

from soak_fakelab import Clock, FakeLab

FLEET = {"sites": {"mars1": "site-a", "mars3": "site-a", "mars2": "site-b"},
         "resources": {"r1": {"replicas": ["mars1", "mars2", "mars3"], "primary": "mars1"},
                       "r2": {"replicas": ["mars2", "mars3"], "primary": "mars2"},
                       "r3": {"replicas": ["mars3", "mars2"], "primary": "mars3"}}}
LAYOUT = {"hosts": ["mars1", "mars2", "mars3"], "sites": {"site-a": ["mars1", "mars3"], "site-b": ["mars2"]}, "resources": FLEET["resources"]}
SLOTS = [
    nemesis.Slot(0, 20, 120, nemesis.Fault("crash_site", "site", ("site-b",), (("crash", "mars2"),), (("start", "mars2"),),
                                           lost_hosts=("mars2",))),
    nemesis.Slot(1, 20, 0, nemesis.Fault("planned_handover", "planned", ("mars2",), params={
        "playbook": "handover.yml", "extra_vars": {"handover_resource": "r1", "handover_target": "mars2"}})),
    nemesis.Slot(2, 20, 0, nemesis.Fault("interrupt_playbook", "controller", (), params={"playbook": "site.yml", "kill_after_s": 5})),
    nemesis.Slot(3, 20, 20, nemesis.Fault("crash_host", "host", ("mars1",), (("crash", "mars1"),), (("start", "mars1"),),
                                          lost_hosts=("mars1",))),
]


def opts(**over):
    values = dict(seed=1, faults=len(SLOTS), lab="lab", soak_id="t1", max_minutes=300, final_s=600, recovery_s=900, grace_s=30,
                  sample_s=10, max_runs=8, writer_backoff_s=0, rate=5)
    values.update(over)
    return argparse.Namespace(**values)


def run_soak(tmp_path, **over):
    clock = Clock()
    lab = FakeLab(FLEET, clock)
    log = events.EventLog(str(tmp_path / "events.jsonl"), clock=clock)
    reason = driver.Soak(lab, FLEET, LAYOUT, SLOTS, log, opts(**over), clock=clock, sleep=clock.sleep).run()
    log.close()
    return reason, lab, events.read_events(str(tmp_path / "events.jsonl"))


def test_the_operator_recovers_every_fault_and_every_check_passes(tmp_path):
    reason, lab, log = run_soak(tmp_path)
    assert reason is None
    runs = [c for c in lab.calls if str(c[0]).endswith(".yml")]
    assert runs == [
        ["failover.yml", {"failover_lost_site": "site-b", "confirm_failover": "yes"}],
        ["split_brain.yml", {"split_brain_loser_site": "site-b", "confirm_split_brain": "yes"}],
        ["handover.yml", {"handover_resource": "r2", "handover_target": "mars2"}],  # back home
        ["handover.yml", {"handover_resource": "r1", "handover_target": "mars2"}],  # planned
        ["handover.yml", {"handover_resource": "r1", "handover_target": "mars1"}],  # back home
        ["site.yml", {}], ["site.yml", {}],  # killed, then run again
        ["site.yml", {}], ["site.yml", {}]]  # after the faults: heal, then changed=0
    recovered = [e for e in log if e["type"] == "recovered"]
    assert [(e["fault"], e["ok"]) for e in recovered] == [(-1, True), (0, True), (1, True), (2, True), (3, True), (-2, True)]
    checks = [e for e in log if e["type"] == "check"]
    assert [c for c in checks if not c["ok"]] == []
    kinds = sorted((c["kind"], c.get("operation"), c.get("resource")) for c in checks if c["kind"] in ("failover_rpo", "planned_rpo"))
    assert kinds == [("failover_rpo", None, "r2"), ("planned_rpo", "handover", "r1"), ("planned_rpo", "handover", "r1"),
                     ("planned_rpo", "handover", "r2"), ("planned_rpo", "restart", "r1")]
    assert sorted(c["kind"] for c in checks if c["kind"] not in ("failover_rpo", "planned_rpo")) == \
        ["final_info", "idempotent"] + ["lineage"] * 3 + ["replicas_equal"] * 3
    summary = report.write(log, str(tmp_path / "report"))
    assert summary["findings"] == [] and (tmp_path / "report" / "timeline.png").exists()


def test_the_deadline_stops_injecting_and_still_checks(tmp_path):
    reason, _lab, log = run_soak(tmp_path, max_minutes=9, final_s=600)
    assert reason.startswith("deadline: ")
    assert not [e for e in log if e["type"] == "fault_start"]
    assert any(e["type"] == "check" and e["kind"] == "final_info" for e in log)
    assert log[-1]["type"] == "soak_end"


def test_a_writer_that_fails_in_its_scan_is_no_run_of_the_chain(tmp_path):
    """Seen on the lab: a writer started just after the module was killed stops with EIO before its
    start line. It wrote nothing; the run after it resumes where the run before it ended. Here the
    first writer of r2 on mars3 after the failover fails so."""
    clock = Clock()
    lab = FakeLab(FLEET, clock)
    lab.failing_starts = [("mars3", "r2")]
    log_path = str(tmp_path / "events.jsonl")
    log = events.EventLog(log_path, clock=clock)
    driver.Soak(lab, FLEET, LAYOUT, SLOTS[:1], log, opts(faults=1), clock=clock, sleep=clock.sleep).run()
    log.close()
    log = events.read_events(log_path)
    assert [c for c in log if c["type"] == "check" and not c["ok"]] == []
    assert report.summarise(log)["findings"] == []
    failed = [e for e in log if e["type"] == "writer_failed"]
    assert len(failed) == 1 and "Input/output error" in failed[0]["reason"]
    assert failed[0]["writer"] not in [e["writer"] for e in log if e["type"] == "writer_start"]
