"""report.md and the PNG from a synthetic event log: a site loss with failover, a planned handover, a killed run."""

from soak import events, report

T0 = 1000.0


def synthetic():
    log = [
        {"type": "soak_start", "t": T0, "seed": 5, "faults": 3, "lab": "lab"},
        {"type": "recovered", "t": T0 + 5, "fault": -1, "ok": True, "reason": "setup: healthy"},
        {"type": "writer_start", "t": T0 + 6, "resource": "r2", "host": "mars2", "writer": "w001mars2", "after_seq": 0},
        {"type": "fault_start", "t": T0 + 60, "fault": 0, "name": "crash_site", "kind": "site", "targets": ["site-b"], "params": {}},
        {"type": "op_start", "t": T0 + 100, "op": 1, "playbook": "failover.yml",
         "extra_vars": {"failover_lost_site": "site-b", "confirm_failover": "yes"}, "reason": "site site-b lost for 40 s"},
        {"type": "op_end", "t": T0 + 170, "op": 1, "playbook": "failover.yml", "rc": 0, "interrupted": False},
        {"type": "writer_start", "t": T0 + 180, "resource": "r2", "host": "mars3", "writer": "w002mars3", "after_seq": 540},
        {"type": "fault_end", "t": T0 + 240, "fault": 0, "name": "crash_site", "ok": True},
        {"type": "op_start", "t": T0 + 250, "op": 2, "playbook": "split_brain.yml", "extra_vars": {"split_brain_loser_site": "site-b"},
         "reason": "site site-b is back after a failover"},
        {"type": "op_end", "t": T0 + 300, "op": 2, "playbook": "split_brain.yml", "rc": 0, "interrupted": False},
        {"type": "check", "t": T0 + 301, "kind": "failover_rpo", "resource": "r2", "from_host": "mars2", "to_host": "mars3",
         "last_acked": 560, "resumed_after": 540, "bound_seq": 530, "lost_records": 20, "lost_bytes": 81920, "lost_before_fault": 3,
         "lost_during_outage": 17, "split_brain_writes": 0, "rpo_records": 20, "rpo_bytes": 81920, "ok": True, "findings": []},
        {"type": "op_start", "t": T0 + 320, "op": 3, "playbook": "handover.yml", "extra_vars": {"handover_resource": "r2", "handover_target": "mars2"},
         "reason": "r2: primary mars3, home mars2"},
        {"type": "op_end", "t": T0 + 360, "op": 3, "playbook": "handover.yml", "rc": 0, "interrupted": False},
        {"type": "check", "t": T0 + 370, "kind": "planned_rpo", "operation": "handover", "resource": "r2", "from_host": "mars3",
         "to_host": "mars2", "last_acked": 700, "resumed_after": 700, "lost_records": 0, "lost_bytes": 0, "ok": True, "findings": []},
        {"type": "recovered", "t": T0 + 380, "fault": 0, "ok": True, "reason": "healthy"},
        {"type": "fault_start", "t": T0 + 400, "fault": 1, "name": "interrupt_playbook", "kind": "controller", "targets": [],
         "params": {"playbook": "site.yml", "kill_after_s": 12.5}},
        {"type": "fault_end", "t": T0 + 400, "fault": 1, "name": "interrupt_playbook", "ok": True},
        {"type": "op_start", "t": T0 + 410, "op": 4, "playbook": "site.yml", "extra_vars": {}, "reason": "planned: site.yml"},
        {"type": "op_end", "t": T0 + 423, "op": 4, "playbook": "site.yml", "rc": -9, "interrupted": True},
        {"type": "op_start", "t": T0 + 430, "op": 5, "playbook": "site.yml", "extra_vars": {}, "reason": "the last site.yml run was interrupted"},
        {"type": "op_end", "t": T0 + 500, "op": 5, "playbook": "site.yml", "rc": 0, "interrupted": False},
        {"type": "recovered", "t": T0 + 510, "fault": 1, "ok": True, "reason": "healthy"},
        {"type": "fault_start", "t": T0 + 600, "fault": 2, "name": "emergency", "kind": "space", "targets": ["mars1"], "params": {}},
        {"type": "fault_end", "t": T0 + 660, "fault": 2, "name": "emergency", "ok": True},
        {"type": "recovered", "t": T0 + 1260, "fault": 2, "ok": False, "reason": "r1: mars2 needs a full sync after an emergency"},
        {"type": "check", "t": T0 + 1300, "kind": "lineage", "resource": "r1", "ok": False,
         "findings": ["r1: 2 acknowledged records missing on the primary (first seq 44)"]},
        {"type": "check", "t": T0 + 1301, "kind": "idempotent", "ok": True, "findings": []},
        {"type": "soak_end", "t": T0 + 1400, "reason": "all 3 faults injected"},
    ]
    for minute in range(0, 24):
        log.append({"type": "sample", "t": T0 + minute * 60, "roles": {"r1": "mars1", "r2": "mars3" if 3 <= minute < 6 else "mars2"},
                    "lag": {"r1": {"mars2": 4096 * (minute % 4)}, "r2": {}}, "unreachable": []})
    return sorted(log, key=lambda e: e["t"])


def test_summary_gives_rto_per_fault_and_collects_findings():
    summary = report.summarise(synthetic())
    faults = dict((f["fault"], f) for f in summary["faults"])
    assert (faults[0]["rto_s"], faults[0]["after_heal_s"]) == (320.0, 140.0)
    assert [o["playbook"] for o in faults[0]["ops"]] == ["failover.yml", "split_brain.yml", "handover.yml"]
    assert faults[1]["rto_s"] == 110.0 and faults[1]["ops"][0]["interrupted"]
    assert faults[2]["rto_s"] is None and not faults[2]["ok"]
    assert summary["findings"] == ["r1: 2 acknowledged records missing on the primary (first seq 44)",
                                   "fault 2 (emergency): not recovered: r1: mars2 needs a full sync after an emergency"]


def test_report_and_png_from_an_event_log(tmp_path):
    log = events.EventLog(str(tmp_path / "events.jsonl"))
    for event in synthetic():
        log.emit(event.pop("type"), **event)
    log.close()
    with open(tmp_path / "events.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"type": "sample", "t"')  # a soak killed mid-write
    summary = report.write(events.read_events(str(tmp_path / "events.jsonl")), str(tmp_path / "out"))
    text = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "**FAIL (2 findings)**" in text and "![timeline](timeline.png)" in text
    assert "| 0 | crash_site | site-b | 0:01:00 | 0:04:00 | 320 | 140 | failover.yml, split_brain.yml, handover.yml |" in text
    assert "| r2 | mars2 | mars3 | 560 | 540 | 20 | 81920 | 3 | 17 | 0 | 530 | yes |" in text
    assert "| handover | r2 | mars3 | mars2 | 700 | 700 | 0 | yes |" in text
    assert "| 0:07:03 | end site.yml | interrupted |" in text
    assert "site.yml (killed)" in text
    png = (tmp_path / "out" / "timeline.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10000
    assert len(summary["faults"]) == 3


def test_an_empty_log_still_gives_a_report(tmp_path):
    summary = report.write([], str(tmp_path))
    assert summary["findings"] == [] and (tmp_path / "report.md").exists() and (tmp_path / "timeline.png").exists()
