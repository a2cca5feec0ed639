"""The checker on constructed ack logs and scans: RPO of planned and forced primary changes, the final state."""

import json

from soak import checker


def ack_log(writer, host, after=0, after_writer=None, acks=(), stop="signal SIGTERM", scan=None, t0=100.0, torn=False):
    """An ack log as recordio.AckLog writes it; ``acks``: (seq, t) pairs."""
    lines = [dict(event="start", writer=writer, host=host, resource="r1", after_seq=after, after_writer=after_writer, block=4096,
                  scan=scan or {"holes": 0, "beyond_hole": 0, "misplaced": 0}, t=t0)]
    lines += [dict(seq=s, t=t) for s, t in acks]
    if stop:
        lines.append(dict(event="stop", reason=stop, last_acked=acks[-1][0] if acks else after, t=t0 + 1000))
    text = "".join(json.dumps(line) + "\n" for line in lines)
    return text + ('{"seq": 99, "t"' if torn else "")


def acks(first, last, t0, step=1.0):
    return [(s, t0 + (s - first) * step) for s in range(first, last + 1)]


def test_ack_log_parsing_skips_a_torn_last_line():
    run = checker.WriterRun(ack_log("w1", "mars1", acks=acks(1, 5, 10), stop=None, torn=True))
    assert (run.writer, run.last_acked, run.skipped, run.stop) == ("w1", 5, 1, None)
    assert run.stop_reason.startswith("no stop line")
    assert run.acked_by(12.5) == 3 and run.acked_by(0) == 0


def test_planned_handover_without_loss_passes():
    old = checker.WriterRun(ack_log("w1", "mars1", acks=acks(1, 50, 10)))
    new = checker.WriterRun(ack_log("w2", "mars2", after=50, after_writer="w1"))
    result = checker.check_planned(old, new, "handover")
    assert result["ok"] and result["lost_records"] == 0 and result["findings"] == []


def test_planned_handover_that_lost_records_fails():
    old = checker.WriterRun(ack_log("w1", "mars1", acks=acks(1, 50, 10)))
    new = checker.WriterRun(ack_log("w2", "mars2", after=47, after_writer="w1"))
    result = checker.check_planned(old, new, "handover")
    assert not result["ok"] and (result["lost_records"], result["lost_bytes"]) == (3, 3 * 4096)
    assert "lost 3 acknowledged records (seq 48..50)" in result["findings"][0]


def test_resuming_on_another_stream_is_a_finding():
    old = checker.WriterRun(ack_log("w1", "mars1", acks=acks(1, 50, 10)))
    new = checker.WriterRun(ack_log("w2", "mars2", after=50, after_writer="w9"))
    assert "is from writer w9, expected w1" in checker.check_planned(old, new, "restart")["findings"][0]


def test_records_above_a_hole_on_the_new_primary_are_a_finding():
    old = checker.WriterRun(ack_log("w1", "mars1", acks=acks(1, 50, 10)))
    new = checker.WriterRun(ack_log("w2", "mars2", after=50, after_writer="w1", scan={"holes": 1, "beyond_hole": 4}))
    assert "4 valid records above a hole" in checker.check_planned(old, new, "handover")["findings"][0]


def test_forced_failover_counts_the_loss_by_when_it_was_acked():
    # acked 1..100 at t=10..109; the fault at t=80 (seq 71 was the last before it), failover at t=100
    old = checker.WriterRun(ack_log("w1", "mars2", acks=acks(1, 100, 10)))
    new = checker.WriterRun(ack_log("w2", "mars3", after=65, after_writer="w1"))
    result = checker.check_forced(old, new, fault_at=80.5, failover_at=100.5, bound_seq=60)
    assert result["ok"]
    assert (result["lost_records"], result["lost_before_fault"], result["lost_during_outage"], result["split_brain_writes"]) == (35, 6, 20, 9)
    assert (result["rpo_records"], result["rpo_bytes"]) == (26, 26 * 4096)


def test_forced_failover_may_not_lose_what_the_survivor_had_replayed():
    old = checker.WriterRun(ack_log("w1", "mars2", acks=acks(1, 100, 10)))
    new = checker.WriterRun(ack_log("w2", "mars3", after=40, after_writer="w1"))
    result = checker.check_forced(old, new, fault_at=80.5, failover_at=100.5, bound_seq=60)
    assert not result["ok"] and "it had replayed up to seq 60" in result["findings"][0]


def test_replayed_bound_from_lag_samples():
    old = checker.WriterRun(ack_log("w1", "mars2", acks=acks(1, 100, 10)))
    # at t=50 the survivor lagged 3 blocks and a header (4 records behind at most) behind seq 36, acked 5 s before (slack)
    samples = [(30.0, 0), (50.0, 3 * 4096 + 100), (90.0, 0)]
    assert checker.replayed_bound(old, samples, before=80.0) == 32
    assert checker.replayed_bound(old, samples, before=80.0, slack_s=0) == 37
    assert checker.replayed_bound(old, [], before=80.0) is None


def test_lineage_follows_each_run_up_to_where_the_next_resumed():
    runs = [checker.WriterRun(ack_log("w1", "mars2", acks=acks(1, 30, 10), t0=9)),
            checker.WriterRun(ack_log("w2", "mars3", after=25, after_writer="w1", acks=acks(26, 40, 50), t0=49)),
            checker.WriterRun(ack_log("w3", "mars2", after=40, after_writer="w2", acks=acks(41, 45, 70), t0=69))]
    scan = {"window_low": 1, "contiguous_to": 45, "segments": [{"writer": "w1", "first": 1, "last": 25},
                                                               {"writer": "w2", "first": 26, "last": 40},
                                                               {"writer": "w3", "first": 41, "last": 45}]}
    assert checker.check_lineage("r1", scan, runs)["ok"]
    scan["segments"][-1]["last"] = 43
    result = checker.check_lineage("r1", scan, runs)
    assert not result["ok"] and "2 acknowledged records missing on the primary (first seq 44)" in result["findings"][0]


def test_replicas_must_equal_the_primary():
    assert checker.check_replicas("r1", "mars1:/dev/mars/r1", {"mars1:/dev/mars/r1": "a", "mars1": "a", "mars2": "a"})["ok"]
    result = checker.check_replicas("r1", "mars1:/dev/mars/r1", {"mars1:/dev/mars/r1": "a", "mars1": "a", "mars2": "b"})
    assert result["findings"] == ["r1: mars2 differs from the primary mars1:/dev/mars/r1 (md5 b, primary a)"]


def test_final_info_lists_what_is_not_settled():
    infos = {"mars1": {"resources": {"r1": {"member": True, "consistent": True, "split_brain": False, "fetch_rest": 0}}, "dangers": []},
             "mars2": {"resources": {"r1": {"member": True, "consistent": True, "split_brain": True, "replay_rest": 4096}},
                       "dangers": ["r1: split brain"]},
             "mars3": None}
    findings = checker.check_info(infos)["findings"]
    assert findings == ["r1 on mars2: split_brain is True", "r1 on mars2: replay_rest is 4096 bytes", "mars2: r1: split brain",
                        "mars3: unreachable"]


def test_second_site_run_must_change_nothing():
    assert checker.check_idempotent({"mars1": {"ok": 40, "changed": 0, "failed": 0}})["ok"]
    result = checker.check_idempotent({"mars1": {"ok": 40, "changed": 2, "failed": 0}})
    assert result["findings"] == ["mars1: changed=2 in the second site.yml run"]
    assert not checker.check_idempotent({})["ok"]
