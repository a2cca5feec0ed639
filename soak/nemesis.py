"""The nemesis: a catalogue of faults and a seeded, bounded schedule of them.

A fault says how to inject it and how to heal it as ``labctl`` argument lists (the driver puts
``python3 lab/labctl.py [--name LAB]`` in front; never a shell string).  Two kinds have no labctl
side: ``controller`` (the driver kills the next playbook run after ``kill_after_s``; the operator
heals it by running that playbook again) and ``planned`` (a planned handover the operator is asked
to run; it hands the resource back once the fleet is healthy).

One fault is active at a time: ``labctl heal`` removes every network fault of the lab at once, and
a report reads more clearly when each recovery belongs to one fault.

The emulator's ``/mars`` space: ``marsemu.kernel.space`` derives the emergency level from the
free space of ``/mars`` against the limits ``/proc/sys/mars/required_free_space_{4..1}_gb``,
which are writable as on the real module.  Raising limit 4 above any disk's size jams the host
(level 4: primaries stop logging and leave a hole) without writing a byte; setting it back to the
default heals it, one level per pass (``mars_reset_emergency``).  A restart of the daemon resets
the limit, like an ``rmmod``.
"""

import random
from dataclasses import dataclass, field

EMERGENCY_LIMIT_GB = 1 << 20  # 1 PiB: more than any /mars has free
DEFAULT_LIMIT_GB = 2  # the module's default of required_free_space_4_gb (marsemu.kernel.space)
DAEMON_UNIT = "mars-emulator.service"


def _limit_4(host, gib):
    """Set the emergency limit 4 of HOST's /proc/sys/mars (marsemu.kernel.space reads it every pass)."""
    return ("exec", host, "--", "sysctl", "-q", "-w", "mars.required_free_space_4_gb=%d" % gib)


@dataclass(frozen=True)
class Fault:
    name: str
    kind: str  # network, host, site, daemon, space, controller, planned
    targets: tuple  # the hosts or sites it hits
    inject: tuple = ()  # labctl argv lists
    heal: tuple = ()  # labctl argv lists
    params: dict = field(default_factory=dict, hash=False)
    lost_hosts: tuple = ()  # hosts the controller cannot reach while it is active

    def to_dict(self):
        return {"name": self.name, "kind": self.kind, "targets": list(self.targets), "inject": [list(a) for a in self.inject],
                "heal": [list(a) for a in self.heal], "params": dict(self.params), "lost_hosts": list(self.lost_hosts)}


@dataclass(frozen=True)
class Slot:
    """Quiet for ``gap_s``, then the fault for ``hold_s``, then its heal."""
    index: int
    gap_s: float
    hold_s: float
    fault: Fault

    def to_dict(self):
        return {"index": self.index, "gap_s": self.gap_s, "hold_s": self.hold_s, "fault": self.fault.to_dict()}


def _site_pair(rng, layout):
    sites = sorted(layout["sites"])
    return tuple(sorted(rng.sample(sites, 2)))


def _host(rng, layout):
    return rng.choice(sorted(layout["hosts"]))


def _cut_site(rng, layout):
    """Partition one site from every other site (the geo link is gone, both sides stay up)."""
    site = rng.choice(sorted(layout["sites"]))
    inject = tuple(("partition", site, other) for other in sorted(layout["sites"]) if other != site)
    return Fault("partition_sites", "network", (site,), inject, (("heal",),))


def _cut_host(rng, layout):
    host = _host(rng, layout)
    inject = tuple(("partition", host, other) for other in sorted(layout["hosts"]) if other != host)
    return Fault("partition_host", "network", (host,), inject, (("heal",),))


def _geo(name, command, values, unit):
    def make(rng, layout):
        a, b = _site_pair(rng, layout)
        value = rng.choice(values)
        return Fault(name, "network", (a, b), ((command, a, b, str(value)),), (("heal",),), {unit: value})
    return make


def _host_pair(name, down, up, lost):
    def make(rng, layout):
        host = _host(rng, layout)
        return Fault(name, "host", (host,), ((down, host),), ((up, host),), lost_hosts=(host,) if lost else ())
    return make


def _site_down(name, down, up):
    def make(rng, layout):
        site = rng.choice(sorted(layout["sites"]))
        hosts = tuple(sorted(layout["sites"][site]))
        return Fault(name, "site", (site,), tuple((down, h) for h in hosts), tuple((up, h) for h in hosts), lost_hosts=hosts)
    return make


def _kill_daemon(rng, layout):
    host = _host(rng, layout)
    return Fault("kill_daemon", "daemon", (host,), (("exec", host, "--", "systemctl", "kill", "--signal=SIGKILL", DAEMON_UNIT),),
                 (("exec", host, "--", "systemctl", "start", DAEMON_UNIT),))


def _emergency(rng, layout):
    host = _host(rng, layout)
    return Fault("emergency", "space", (host,), (_limit_4(host, EMERGENCY_LIMIT_GB),), (_limit_4(host, DEFAULT_LIMIT_GB),),
                 {"limit_gb": EMERGENCY_LIMIT_GB})


def _interrupt(rng, layout):
    return Fault("interrupt_playbook", "controller", (), params={"playbook": "site.yml", "kill_after_s": round(rng.uniform(5, 60), 1)})


def _handover(rng, layout):
    names = sorted(layout["resources"])
    name = rng.choice(names)
    replicas = sorted(h for h in layout["resources"][name]["replicas"] if h != layout["resources"][name]["primary"])
    target = rng.choice(replicas)
    return Fault("planned_handover", "planned", (target,), params={
        "playbook": "handover.yml", "extra_vars": {"handover_resource": name, "handover_target": target}})


# name -> (make, weight, (min hold, max hold) in seconds).  Site losses hold long enough, about
# half of the time, for the operator's guard and failover.yml's MARS window (60 s) to pass.
CATALOGUE = {
    "partition_sites": (_cut_site, 3, (20, 180)),
    "partition_host": (_cut_host, 2, (20, 120)),
    "delay_geo": (_geo("delay_geo", "delay", (50, 200, 500), "ms"), 2, (30, 120)),
    "loss_geo": (_geo("loss_geo", "loss", (5, 20, 50), "percent"), 2, (30, 120)),
    "rate_geo": (_geo("rate_geo", "rate", (64, 256, 1024), "kbytes"), 2, (30, 120)),
    "crash_host": (_host_pair("crash_host", "crash", "start", True), 2, (10, 120)),
    "freeze_host": (_host_pair("freeze_host", "freeze", "thaw", True), 2, (5, 45)),
    "isolate_site": (_site_down("isolate_site", "isolate", "unisolate"), 2, (30, 240)),
    "crash_site": (_site_down("crash_site", "crash", "start"), 1, (30, 240)),
    "kill_daemon": (_kill_daemon, 2, (5, 60)),
    "emergency": (_emergency, 2, (20, 90)),
    "interrupt_playbook": (_interrupt, 1, (0, 0)),
    "planned_handover": (_handover, 2, (0, 0)),
}


def make_schedule(seed, count, budget_s, layout, gap_s=(10, 60), recovery_s=240, kinds=None, pace=1.0):
    """Up to ``count`` slots whose gaps, holds and a recovery allowance each fit in ``budget_s``.

    ``layout``: ``{"hosts": [...], "sites": {site: [hosts]}, "resources": {name: {"replicas", "primary"}}}``.
    The same seed and layout give the same schedule.  ``kinds`` limits the catalogue to these names.
    ``pace`` scales every gap and hold (0.5: twice as many faults in the same time, fewer of the site
    losses outlast the operator's guard and the MARS window).
    """
    rng = random.Random(seed)
    names = sorted(n for n in CATALOGUE if kinds is None or n in kinds)
    if len(layout["sites"]) < 2:
        names = [n for n in names if n not in ("partition_sites", "delay_geo", "loss_geo", "rate_geo")]
    weights = [CATALOGUE[n][1] for n in names]
    slots, used = [], 0.0
    for index in range(count):
        name = rng.choices(names, weights)[0]
        make, _weight, (low, high) = CATALOGUE[name]
        gap = round(rng.uniform(*gap_s) * pace, 1)
        hold = round(rng.uniform(low, high) * pace, 1)
        if used + gap + hold + recovery_s > budget_s:
            break
        used += gap + hold + recovery_s
        slots.append(Slot(index, gap, hold, make(rng, layout)))
    return slots


def reset_steps(layout):
    """labctl steps that undo anything any fault may have left, for the end of the soak (each may
    fail harmlessly when there is nothing to undo)."""
    steps = [("heal",)]
    for host in sorted(layout["hosts"]):
        steps += [("start", host), ("thaw", host), ("unisolate", host), _limit_4(host, DEFAULT_LIMIT_GB),
                  ("exec", host, "--", "systemctl", "start", DAEMON_UNIT)]
    return steps
