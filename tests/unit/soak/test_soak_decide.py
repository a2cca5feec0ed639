"""The operator's decisions: constructed lab states (test_soak_decide.yaml) and info results on recorded real-MARS trees."""

import copy
import os

import pytest
import yaml

from soak import decide

HERE = os.path.dirname(os.path.abspath(__file__))
FLEET = {"sites": {"mars1": "site-a", "mars3": "site-a", "mars2": "site-b"},
         "resources": {"r1": {"replicas": ["mars1", "mars2", "mars3"], "primary": "mars1", "preferred_primaries": ["mars1", "mars2"]},
                       "r2": {"replicas": ["mars2", "mars3"], "primary": "mars2", "preferred_primaries": ["mars2", "mars3"]},
                       "r3": {"replicas": ["mars3", "mars2"], "primary": "mars3", "preferred_primaries": ["mars3", "mars2"]}}}
with open(os.path.join(HERE, "test_soak_decide.yaml"), encoding="utf-8") as _handle:
    CASES = yaml.safe_load(_handle)


def facts(name, host, primary):
    """A member's own georep.mars.info facts of a resource, healthy (plugins/modules/info.py RETURN)."""
    replicas = FLEET["resources"][name]["replicas"]
    return {"name": name, "exists": True, "size": 67108864, "member": True, "designated_primary": primary,
            "actual_primaries": [primary] if primary else [], "members": list(replicas), "role": "primary" if host == primary else "secondary",
            "is_primary": host == primary, "device": "/dev/mars/" + name, "device_present": host == primary, "disk": "/dev/vdb",
            "consistent": True, "sync_rest": 0, "sync_percent": 100.0, "fetch_rest": 0, "replay_rest": 0, "split_brain": False,
            "split_brain_pairs": [], "duplicate_logfiles": [], "logfile_gaps": [], "emergency": False, "needs_full_sync": False,
            "errors": {}, "hosts": dict((h, {"attached": True, "alive": True}) for h in replicas)}


def build(state):
    """host -> info result for a state of the lab fleet (see the head of test_soak_decide.yaml)."""
    primaries = dict((n, spec["primary"]) for n, spec in FLEET["resources"].items())
    primaries.update(state.get("primary", {}))
    missing = {tuple(pair) for pair in state.get("missing", [])}
    infos = {}
    for host in sorted(FLEET["sites"]):
        if host in state.get("unreachable", []):
            infos[host] = None
            continue
        seen = dict(primaries, **state.get("seen", {}).get(host, {}))
        resources = dict((n, facts(n, host, seen[n])) for n, spec in FLEET["resources"].items()
                         if host in spec["replicas"] and (n, host) not in missing)
        for name, extra in state.get("facts", {}).get(host, {}).items():
            resources[name].update(extra)
        cluster = dict({"module_loaded": True, "emergency_level": 0, "host": host}, **state.get("cluster", {}).get(host, {}))
        infos[host] = {"host": host, "cluster": cluster, "resources": resources, "dangers": []}
    return infos


def context_for(case):
    context = decide.new_context()
    context.update(copy.deepcopy(case.get("context", {})))
    return context


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_decide(case):
    decision = decide.decide(FLEET, build(case.get("state", {})), case.get("faults", []), context_for(case), case.get("now", 1000))
    got = decision.to_dict()
    for key, want in case["expect"].items():
        assert got[key] == want, "%s: %s is %r, expected %r (%s)" % (case["id"], key, got[key], want, got["reason"])


def test_observe_remembers_since_when_a_site_is_lost():
    context = decide.new_context()
    lost = build({"unreachable": ["mars2"]})
    context = decide.observe(context, FLEET, lost, 100)
    context = decide.observe(context, FLEET, lost, 130)
    assert context["lost_since"] == {"site-b": 100}
    assert decide.observe(context, FLEET, build({}), 140)["lost_since"] == {}
    alone = decide.observe(context, FLEET, build({"unreachable": ["mars1"]}), 150)
    assert alone["lost_since"] == {} and alone["host_lost_since"] == {"mars1": 150}  # mars3 is left
    assert decide.observe(alone, FLEET, build({"unreachable": ["mars1"]}), 170)["host_lost_since"] == {"mars1": 150}
    # the rest of its site goes too: the site is lost, not the host
    assert decide.observe(alone, FLEET, build({"unreachable": ["mars1", "mars3"]}), 180)["host_lost_since"] == {}


def test_after_run_remembers_failover_repair_interruption_and_requests():
    context = decide.new_context()
    failover = decide.Decision("run", "", "failover.yml", {"failover_lost_site": "site-b", "confirm_failover": "yes"})
    assert decide.after_run(context, failover, -9, True, 10)["failed_over"] == {}
    context = decide.after_run(context, failover, 0, False, 10)
    assert context["failed_over"] == {"site-b": 10} and not context["last_run"]["interrupted"]
    by_host = decide.Decision("run", "", "failover.yml", {"failover_lost_host": "mars1", "confirm_failover": "yes"})
    assert decide.after_run(context, by_host, 0, False, 11)["failed_over_hosts"] == {"mars1": 11}
    repair = decide.Decision("run", "", "split_brain.yml", {"split_brain_loser": "mars1", "confirm_split_brain": "yes"})
    assert decide.after_run(decide.after_run(context, by_host, 0, False, 11), repair, 0, False, 12)["failed_over_hosts"] == {}
    repair = decide.Decision("run", "", "split_brain.yml", {"split_brain_loser_site": "site-b", "confirm_split_brain": "yes"})
    assert decide.after_run(context, repair, 0, False, 20)["failed_over"] == {}
    context["requests"] = [{"playbook": "handover.yml", "extra_vars": {"handover_resource": "r2", "handover_target": "mars3"}}]
    handover = decide.Decision("run", "", "handover.yml", {"handover_resource": "r2", "handover_target": "mars3"})
    assert decide.after_run(context, handover, 2, False, 30)["requests"] == context["requests"]  # failed: asked again
    assert decide.after_run(context, handover, 0, False, 30)["requests"] == []
    assert context["failed_over"] == {"site-b": 10}, "after_run must not change its input"


def test_writers_run_on_the_primary_with_its_device_up_outside_a_failed_over_site():
    assert decide.writer_hosts(FLEET, build({}), decide.new_context()) == {"r1": "mars1", "r2": "mars2", "r3": "mars3"}
    state = {"primary": {"r2": "mars3"}, "seen": {"mars2": {"r2": "mars2"}}, "facts": {"mars3": {"r3": {"device_present": False}}}}
    context = dict(decide.new_context(), failed_over={"site-b": 1})
    assert decide.writer_hosts(FLEET, build(state), context) == {"r1": "mars1", "r2": "mars3"}


# ---------------------------------------------------------------- recorded trees
# The two-host traces (traces/real-mars-A: vm1, vm2) as a fleet of two sites.
PAIR = {"sites": {"vm1": "site-a", "vm2": "site-b"}, "resources": {"r1": {"replicas": ["vm1", "vm2"], "primary": "vm1"}}}


def info_case_patch(case_id):
    """The tree_patch of a case of the info module's tests: the same hand-made state, spelled once."""
    with open(os.path.join(HERE, "..", "plugins", "modules", "test_info.yaml"), encoding="utf-8") as handle:
        return next(case["tree_patch"] for case in yaml.safe_load(handle) if case["id"] == case_id)


EMERGENCY_HOLE = info_case_patch("emergency_hole_needs_full_sync_although_consistent")  # log 6 missing
SPLIT_BRAIN = info_case_patch("split_brain_two_primaries_duplicate_logfile")  # vm2 forced primary while cut off, wrote log 5


def recorded(recorded_info, tree, patch=None):
    return dict((host, recorded_info({"host": host, "tree": "%s.%s" % (tree, host), "tree_patch": patch or []})) for host in ("vm1", "vm2"))


def test_recorded_synced_pair_is_healthy(recorded_info):
    assert decide.decide(PAIR, recorded(recorded_info, "A06-synced"), [], decide.new_context(), 0).action == "none"


def test_recorded_lag_after_a_write_waits(recorded_info):
    decision = decide.decide(PAIR, recorded(recorded_info, "A07-after-write"), [], decide.new_context(), 0)
    assert (decision.action, decision.reason) == ("wait", "r1: vm2 lags 9885700 bytes")


def test_recorded_split_brain_is_repaired_on_the_host_that_is_not_primary(recorded_info):
    infos = recorded(recorded_info, "A10-after", SPLIT_BRAIN)
    decision = decide.decide(PAIR, infos, [], decide.new_context(), 0)
    assert decide.primary_view(PAIR, infos, decide.new_context()) == {"r1": "vm1"}
    assert (decision.playbook, decision.extra_vars["split_brain_loser"], decision.stop_writers) == ("split_brain.yml", "vm2", [("r1", "vm2")])


def test_recorded_emergency_hole_is_resynced(recorded_info):
    decision = decide.decide(PAIR, recorded(recorded_info, "A11-after", EMERGENCY_HOLE), [], decide.new_context(), 0)
    assert (decision.playbook, decision.extra_vars) == ("resync.yml", {"confirm_resync": "yes"})
