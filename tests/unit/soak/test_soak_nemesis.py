"""The fault catalogue and the schedule: deterministic from the seed, bounded, every fault paired with its heal."""

import labctl
from soak import nemesis

LABCTL = labctl.parser()

LAYOUT = {"hosts": ["mars1", "mars2", "mars3"], "sites": {"site-a": ["mars1", "mars3"], "site-b": ["mars2"]},
          "resources": {"r1": {"replicas": ["mars1", "mars2", "mars3"], "primary": "mars1"},
                        "r2": {"replicas": ["mars2", "mars3"], "primary": "mars2"},
                        "r3": {"replicas": ["mars3", "mars2"], "primary": "mars3"}}}

# what undoes each labctl command
HEALS = {"partition": "heal", "delay": "heal", "loss": "heal", "rate": "heal", "crash": "start", "freeze": "thaw",
         "isolate": "unisolate"}


def schedule(seed=7, count=200, budget=10 ** 6, **kw):
    return nemesis.make_schedule(seed, count, budget, LAYOUT, **kw)


def test_same_seed_same_schedule_other_seed_other_schedule():
    assert [s.to_dict() for s in schedule(seed=7)] == [s.to_dict() for s in schedule(seed=7)]
    assert [s.to_dict() for s in schedule(seed=7)] != [s.to_dict() for s in schedule(seed=8)]


def test_bounded_in_count_and_time():
    assert len(schedule(count=10)) == 10
    slots = schedule(count=100, budget=3600, recovery_s=120)
    assert 0 < len(slots) < 100
    assert sum(s.gap_s + s.hold_s + 120 for s in slots) <= 3600
    for slot in schedule():
        low, high = nemesis.CATALOGUE[slot.fault.name][2]
        assert low <= slot.hold_s <= high and 10 <= slot.gap_s <= 60


def test_pace_scales_gaps_and_holds_of_the_same_faults():
    full, half = schedule(count=30), schedule(count=30, pace=0.5)
    assert [s.fault.to_dict() for s in full] == [s.fault.to_dict() for s in half]
    for slow, fast in zip(full, half):
        assert abs(fast.gap_s - slow.gap_s / 2) <= 0.1 and abs(fast.hold_s - slow.hold_s / 2) <= 0.1
    assert len(schedule(count=100, budget=3600, recovery_s=60, pace=0.5)) > len(schedule(count=100, budget=3600, recovery_s=60))


def test_every_kind_appears_in_a_long_schedule():
    assert {s.fault.name for s in schedule()} == set(nemesis.CATALOGUE)


def test_a_single_site_lab_gets_no_geo_link_faults():
    one_site = dict(LAYOUT, sites={"site-a": ["mars1", "mars2", "mars3"]})
    names = {s.fault.name for s in nemesis.make_schedule(1, 200, 10 ** 6, one_site)}
    assert names and not names & {"partition_sites", "delay_geo", "loss_geo", "rate_geo"}


def test_every_fault_is_paired_with_its_heal():
    for slot in schedule():
        check_pairing(slot.fault)


def check_pairing(fault):
    if fault.kind in ("controller", "planned"):
        # no labctl side: the driver kills a run / the operator runs a playbook, and the operator heals it
        assert not fault.inject and not fault.heal and fault.params["playbook"].endswith(".yml"), fault
        return
    assert fault.inject and fault.heal, fault
    for argv in fault.inject + fault.heal:
        assert all(isinstance(word, str) for word in argv), argv
        LABCTL.parse_args(list(argv))  # labctl accepts it (SystemExit otherwise)
    commands = {argv[0] for argv in fault.inject}
    if commands == {"exec"}:
        # kill -9 of the daemon -> start it; the emergency limit up -> back to the default
        assert [a[:4] for a in fault.inject] == [a[:4] for a in fault.heal] and fault.inject != fault.heal, fault
    else:
        assert {argv[0] for argv in fault.heal} == {HEALS[c] for c in commands}, fault
        if "heal" not in {argv[0] for argv in fault.heal}:  # host steps: the same hosts come back
            assert [a[1:] for a in fault.inject] == [a[1:] for a in fault.heal], fault


def test_site_faults_lose_every_host_of_the_site():
    for slot in schedule():
        if slot.fault.kind == "site":
            assert list(slot.fault.lost_hosts) == LAYOUT["sites"][slot.fault.targets[0]]


def test_emergency_raises_a_limit_instead_of_filling_a_disk():
    fault = next(s.fault for s in schedule() if s.fault.name == "emergency")
    assert fault.inject[0][-1] == "mars.required_free_space_4_gb=%d" % nemesis.EMERGENCY_LIMIT_GB
    assert fault.heal[0][-1] == "mars.required_free_space_4_gb=2"


def test_reset_steps_undo_every_host_fault_and_parse():
    steps = nemesis.reset_steps(LAYOUT)
    for argv in steps:
        LABCTL.parse_args(list(argv))
    for host in LAYOUT["hosts"]:
        assert {("start", host), ("thaw", host), ("unisolate", host)} <= set(steps)
    assert steps[0] == ("heal",)


def test_the_heal_restores_the_emulators_default_limit():
    from marsemu.kernel import procsys, space  # pylint: disable=import-outside-toplevel
    assert nemesis.DEFAULT_LIMIT_GB == space.DEFAULT_LIMIT_GB == int(dict(procsys.DEFAULTS)["required_free_space_4_gb"])
    # the fault's limit jams any /mars smaller than a PiB (limits in GiB, free space in KiB)
    assert space.mode_for((1 << 40) - 1, [nemesis.EMERGENCY_LIMIT_GB, 2, 2, 2])[0] == 4
