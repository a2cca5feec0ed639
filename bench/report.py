"""Write bench/report.md and its plots (bench/plots/*.png) from the results in bench/results/.

Each bench writes bench/results/NAME.json; this script turns whichever of them exist into one
report: per bench its table, the goal it is measured against, and a plot. ``make bench`` runs
every bench and then this. Run alone: ``.venv/bin/python bench/report.py``.
"""

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position

BENCH = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(BENCH, "results")
PLOTS = os.path.join(BENCH, "plots")
MIB = 1024


def load(name):
    path = os.path.join(RESULTS, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def context(data):
    machine = data["machine"]
    return ("Measured %s on commit %s; %d cores (%s), %.0f GiB; load average %s before, %s after."
            % (data["date"], data["commit"], machine["cpus"], machine["cpu"], machine["memory_gib"],
               "/".join("%.1f" % x for x in data["load_before"]), "/".join("%.1f" % x for x in data.get("load_after", []))))


def md_table(columns, rows):
    lines = ["| " + " | ".join(heading for _key, heading in columns) + " |", "|" + "---:|" * len(columns)]
    for values in rows:
        cells = [values.get(key, "") for key, _heading in columns]
        lines.append("| " + " | ".join(("%.1f" % c) if isinstance(c, float) else str(c) for c in cells) + " |")
    return "\n".join(lines)


def line_plot(x, series, xlabel, ylabel="seconds"):
    """A figure of SERIES ((label, y values) pairs) against X, its y axis from 0: (figure, axes)."""
    figure, axes = plt.subplots(figsize=(6, 3.5))
    for label, y in series:
        axes.plot(x, y, marker="o", label=label)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_ylim(bottom=0)
    return figure, axes


def save(figure, name):
    """Write FIGURE (with a legend on each of its plots) to plots/NAME; the Markdown that shows it."""
    for axes in figure.axes:
        axes.legend()
    os.makedirs(PLOTS, exist_ok=True)
    figure.tight_layout()
    figure.savefig(os.path.join(PLOTS, name), dpi=90)
    plt.close(figure)
    return "![%s](plots/%s)" % (name[:-4].replace("_", " "), name)


def noop_section(data):
    rows = data["rows"]
    figure, _axes = line_plot([r["resources"] for r in rows],
                              [(label, [r[key] for r in rows]) for key, label in (("noop_site_s", "no-op site.yml"),
                                                                                  ("noop_resources_s", "no-op resources role"),
                                                                                  ("info_s", "one info call"))],
                              "resources per host (3 hosts)")
    text = ["## No-op run against resources per host (`noop_scaling.py`)", "", context(data), "",
            md_table([("resources", "resources/host"), ("rollout_s", "rollout s"), ("noop_site_s", "no-op site.yml s"),
                      ("tasks", "tasks/host"), ("noop_resources_s", "no-op resources role s"), ("info_s", "info s")], rows), ""]
    ratio = data.get("ratio")
    if ratio:
        text += ["Goal: the no-op `site.yml` with 50 resources per host takes at most %.1f x the time of 1. Measured: %s: **%.2f x** (%s)."
                 % (ratio["goal"], ratio["of"], ratio["value"], "met" if ratio["value"] <= ratio["goal"] else "NOT met"),
                 "Goal: at most 40 tasks per host whatever the number of resources. Measured: %s tasks per host (%s)."
                 % (", ".join(str(r["tasks"]) for r in rows), "met" if max(r["tasks"] for r in rows) <= 40 else "NOT met"), ""]
    return text + [save(figure, "noop_scaling.png"), ""]


def bottleneck(controller, hosts, cores):
    """Which side takes the machine's cores, from CPU seconds per wall second of each."""
    if hosts >= cores / 2 and hosts > 2 * controller:
        return "On %d cores the emulated hosts, not ssh or the controller, set the pace." % cores
    if controller >= cores / 2:
        return "On %d cores the controller (ansible-playbook and its ssh) sets the pace." % cores
    return "Neither takes half of the %d cores: the time goes to waiting (ssh round trips, the modules' own waits)." % cores


def fleet_section(data, name="fleet_scaling"):
    rows, rollouts = data["rows"], data.get("rollouts", [])
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    ordered = sorted(rollouts, key=lambda r: r["hosts"])
    done = [r for r in ordered if "seconds" in r]
    left.plot([r["hosts"] for r in done], [r["seconds"] for r in done], marker="o",
              label="forks %s" % ", ".join(sorted({str(r["forks"]) for r in ordered})))
    for forks in sorted({r["forks"] for r in rows}):
        mine = sorted((r for r in rows if r["forks"] == forks), key=lambda r: r["hosts"])
        right.plot([r["hosts"] for r in mine], [r["noop_s"] for r in mine], marker="o", label="forks %d" % forks)
    for axes, title in ((left, "rollout (site.yml)"), (right, "no-op site.yml")):
        axes.set_title(title)
        axes.set_xlabel("hosts")
        axes.set_ylabel("seconds")
        axes.set_ylim(bottom=0)
    hosts = sorted({r["hosts"] for r in rollouts})
    # rows added later (fleet_scaling --add) carry their own date and commit; the others are the first run's
    first = "%s, %s" % (data["date"], data["commit"])
    dated = [("measured", "measured")] if any("measured" in r for r in rows + rollouts) else []
    text = ["## Rollout and no-op against hosts and forks (`fleet_scaling.py`, %s hosts)" % ", ".join(map(str, hosts)), "",
            context(data), "",
            md_table([("hosts", "hosts"), ("resources", "resources"), ("forks", "forks"), ("seconds", "rollout s"),
                      ("cpu", "controller CPU s per s"), ("idle_hosts_cpu", "idle emulated hosts CPU s per s"),
                      ("unfinished_after_s", "unfinished after s"), ("installs", "installs too")] + dated,
                     [dict(r, measured=r.get("measured", first)) for r in ordered]), "",
            md_table([("hosts", "hosts"), ("forks", "forks"), ("noop_s", "no-op s"), ("noop_tasks", "no-op tasks/host"),
                      ("noop_cpu", "controller CPU s per s")] + dated,
                     [dict(r, measured=r.get("measured", first)) for r in sorted(rows, key=lambda r: (r["hosts"], r["forks"]))]), "",
            "Controller CPU s per s: the CPU time of ansible-playbook and its children per wall second (the machine has %d cores)."
            % data["machine"]["cpus"], ""]
    idle = [r for r in ordered if r.get("idle_hosts_cpu") is not None]
    if idle and rows:
        biggest, cores = idle[-1], data["machine"]["cpus"]
        controller = max(r["noop_cpu"] for r in rows)
        smallest = "; %.2f per host at %d hosts" % (idle[0]["idle_hosts_cpu"] / idle[0]["hosts"], idle[0]["hosts"]) \
            if idle[0]["hosts"] != biggest["hosts"] else ""
        text += ["Bottleneck: the controller used at most %.2f CPU s per s, while the emulated hosts, idle after the "
                 "rollout, took %.1f CPU s per s at %d hosts (%.2f per host%s). Each emulated module pulls the tree of every "
                 "other host every second, and the tree grows with the fleet, so the hosts' cost grows faster than the fleet. %s"
                 % (controller, biggest["idle_hosts_cpu"], biggest["hosts"], biggest["idle_hosts_cpu"] / biggest["hosts"],
                    smallest, bottleneck(controller, biggest["idle_hosts_cpu"], cores)), ""]
        by_forks = sorted((r["forks"], r["noop_s"]) for r in rows if r["hosts"] == biggest["hosts"])
        if len(by_forks) > 1:
            text += ["At %d hosts the no-op took %s s at forks %s: with the cores busy, each task in flight gets its "
                     "share of them, so more forks get more of the machine." % (
                         biggest["hosts"], "/".join("%.0f" % s for _f, s in by_forks), "/".join(str(f) for f, _s in by_forks)), ""]
    for count in sorted({r["hosts"] for r in rollouts}):
        missing = [str(f) for f in data["parameters"]["forks"] if not any(r["hosts"] == count and r["forks"] == f for r in rows)]
        if missing:
            text += ["Not measured at %d hosts: the no-op at forks %s." % (count, ", ".join(missing)), ""]
    unfinished = [r for r in ordered if "unfinished_after_s" in r]
    for r in unfinished:
        text += ["The rollout of %d hosts did not finish within %d s." % (r["hosts"], r["unfinished_after_s"]), ""]
    return text + [save(figure, name + ".png"), ""]


def handover_section(data):
    rows = data["rows"]
    figure, axes = line_plot([r["backlog_mib"] for r in rows],
                             [(label, [r[key] for r in rows]) for key, label in (("raw_s", "raw marsadm primary"),
                                                                                 ("module_s", "georep.mars.handover (ad hoc)"),
                                                                                 ("playbook_s", "handover.yml"))],
                             "MiB left to replay on the new primary")
    axes.axhline(data["ansible_startup_s"], color="grey", linestyle=":", label="trivial ad hoc task")
    paired = all("module_over_own_primary_s" in r for r in rows)
    worst = max(r["module_over_own_primary_s" if paired else "module_over_raw_s"] for r in rows)
    columns = [("backlog_mib", "backlog MiB"), ("raw_s", "raw marsadm s"), ("module_s", "module s"),
               ("playbook_s", "playbook s"), ("module_over_raw_s", "module - start-up - raw s")]
    if paired:
        columns += [("module_over_own_primary_s", "module - start-up - its marsadm primary s"),
                    ("playbook_over_own_primary_s", "playbook - start-up - its marsadm primary s")]
    text = ["## Handover against the backlog to replay (`handover.py`)", "", context(data), "",
            md_table(columns, rows), "",
            "Medians of %s rounds. The emulated `marsadm primary` alone varies by 1-2 s between runs (its phases poll once a "
            "second), so the columns \"its marsadm primary\" subtract, run by run, the `marsadm primary` that the module (or "
            "the playbook) ran itself, timed on the host as the raw way is." % data["parameters"]["rounds"], "",
            "Ansible's own start-up (a trivial ad hoc task): %.1f s. Goal: the module stays within 1 s of raw `marsadm primary` "
            "beyond that start-up. Measured: at most %.2f s%s (%s)." % (
                data["ansible_startup_s"], worst, " (paired)" if paired else "", "met" if worst <= 1 else "NOT met"), ""]
    site = data.get("site_wide")
    if isinstance(site, list) and site:
        text += ["Site-wide handover (`handover.yml -e handover_site=...`, one module call per host): its time should follow the "
                 "data to replay, not the number of resources. Measured %s." % data.get("site_wide_measured", "with the rows above"), "",
                 "| resources | MiB to replay each | MiB in all | seconds |", "|---:|---:|---:|---:|"]
        text += ["| %d | %d | %d | %.1f |" % (r["resources"], r["mib_each"], r["mib_total"], r["seconds"]) for r in site]
        text += [""]
    return text + [save(figure, "handover.png"), ""]


def shipping_section(data):
    rows = data["rows"]
    geo = [r for r in rows if r["rate_kib"]]
    hosts = sorted(k.split(" ", 1)[1] for k in rows[0] if k.startswith("ship "))
    text = ["## Log shipping against the link rate (`log_shipping.py`)", "", context(data), "",
            md_table([("link", "link"), ("tcp", "raw TCP MiB/s"), ("write", "write MiB/s")]
                     + [("ship " + h, "shipping to %s MiB/s" % h) for h in hosts],
                     [dict(r, link=("%.0f MiB/s" % (r["rate_kib"] / MIB)) if r["rate_kib"] else "local (veth)") for r in rows]), ""]
    if geo:
        x = [r["rate_kib"] / MIB for r in geo]
        figure, axes = line_plot(x, [("log shipping to " + host, [r["ship " + host] for r in geo]) for host in hosts],
                                 "link rate MiB/s (labctl rate)", "MiB/s")
        axes.plot(x, [r["tcp"] for r in geo], marker="s", color="grey", label="raw TCP")
        text += [save(figure, "log_shipping.png"), ""]
    return text


# Before the changes of issue #15, as measured then (the text and earlier reports); the sections
# above give the after. Kept here because the code that gave them is gone.
BEFORE = (
    ("no-op `resources` role, 3 hosts x 50 resources", "159.2 s (3 hosts x 1: 18.8 s), 2026-11-25, load ~10",
     "one module call and one disk measurement per host (`resource` option `resources`)"),
    ("no-op `site.yml`, 3 hosts x 3 resources", "70 tasks per host, 71 s", "file_set module, checks once in the first play, "
     "static imports: 40 tasks per host"),
    ("no-op `site.yml` on the lab (farm-bench, alternating, 2026-12-07)", "36.7 s (commit 79a4403)", "21.2 s (ratio 0.58)"),
    ("no-op `site.yml`, 3 hosts x 50 vs x 1 resources", "40.9 s vs 20.7 s: 1.97 x (2026-12-07 02:56, load 2-4); the "
     "resources role 11.9 s vs 2.4 s", "the `resource` module waits from the state it read last, so a settled resource costs no "
     "second read of /mars (it read the tree twice per resource): 45.0 s vs 38.1 s, 1.18 x (above, load 6-9 beside the soak); "
     "at 50, old and new alternating on one lab: 78.0 s -> 67.5 s, the resources role 19.6 s -> 7.3 s (load 10-12)"),
    ("idle CPU of the 3 lab hosts (3 resources, converged; containers' cpuacct over 60 s)", "7.3, 6.0 and 5.5 CPU s "
     "(commit a9101c3; old and new alternating on one lab, 2026-12-07 21:00)", "an unchanged indicator rewritten once per "
     "5 s (the real module's scan_interval_sec) instead of every 1 s pass: 3.9, 4.2 and 4.4 CPU s. `emulator_idle.py` (one "
     "resource per three hosts, so mostly the peers' tree exchange) shows no change beyond its noise: 3 hosts 0.026 and "
     "0.070 before, 0.054 and 0.038 CPU s/s after (results/emulator_idle-*-refresh*.json)"),
    ("the emulated MARS daemons' CPU in a fresh-clone CI run (`ci_cpu.py`'s accounting)", "152 CPU s (a9101c3)",
     "125 CPU s (d61d75c, the indicator refresh): 27 of the run's 1600 CPU s"),
    ("idle CPU of an emulated host (`emulator_idle.py`, 6 / 9 hosts)", "0.147 and 0.085 / 0.088 CPU s/s (starved: a new "
     "link took 2.0 s to reach every host)", "cached directory listings, in-place stamps, no pass per peer's actsize: 0.050 "
     "and 0.053 / 0.062 CPU s/s, a new link everywhere in 0.6-0.8 s (old and new alternating, load 6-15)"),
    ("handover: raw marsadm / module ad hoc / playbook", "4.3-5.3 s / 7.1-7.9 s (ad hoc start-up 2.0 s) / 8.6-8.8 s", "see above"),
    ("handover module - start-up - raw marsadm, 0 / 8 / 32 MiB to replay", "-0.81 / 0.21 / 1.20 s (commit 99a4ea6, 2 rounds, "
     "unpaired): the module waited for the replay before it ran marsadm", "the module waits only for the fetch and leaves the "
     "replay to marsadm's switch, which waits for it anyway: 0.64 / 0.38 / 0.85 s paired, 0.68 / -0.38 / 0.83 s unpaired "
     "(above, 5 rounds)"),
    ("site-wide handover: 1 x 30 MiB / 3 x 10 MiB / 3 x 30 MiB to replay", "6.7 / 14.1 / 15.6 s: one `marsadm primary` per "
     "resource in turn (commit 3266056, quiet, 1 round)", "one `marsadm primary R1,R2,R3` per host, whose phases run for all "
     "resources at once: see above (the same bench, quiet)"),
    ("`make test` from a fresh clone", "over 40 min", "25.3 min (1520 s) on 2026-12-07; 24.8 min (1486 s) with the lab "
     "tests beside the CPU-bound steps (the lab suite itself ran 10% slower); 20.0 min (1199 s) with the lab tests on two labs "
     "at once and Molecule in front, measured beside a chaos soak at load 7-13; 15.7 min (942 s) on a quiet machine "
     "(2026-12-07 09:32, commit 99a4ea6)"),
    ("`make test` from a fresh clone, later (AMD EPYC, quiet)", "17.5 min (1051 s, commit 73b37fa); CI's own runs: 14.8 min "
     "(889 s, 946fba4), 21.9 min (1316 s, dcaa330) and 17.7 min (1064 s, 6dfd8e4). The run keeps both cores busy from its first minute to its last "
     "(1.9 of 2 cores on average), so its time is the CPU it needs", "four labs at once instead of two: slower (every step "
     "slowed, stopped after 19 min). Commands on lab hosts straight to podman exec (0.14 instead of 0.23 CPU s each) and "
     "lab waits that poll less often the longer they wait: 16.9 min (1016 s, commit 713a0fb, 2026-12-07 15:30); the same "
     "code again: 18.9 min (1133 s, c5bda04, 16:00); with the fetch fix of session 11: 18.9 min (1133 s, 72ba2cf, "
     "18:04, Molecule roles failed early); with the kmod fix and its new Molecule case, all steps passing: 22.8 min "
     "(1365 s, 9566b62, 18:37; Molecule default 358 s and roles 405 s against 259 and 277 s before); the same code plus "
     "text: 23.8 min (1429 s, 70278a3, 19:06). Molecule default alone in between: 134 s. Later the same evening: 17.3 min "
     "(1038 s, a9101c3, 20:30; CI's own run of it: 1146 s); with the indicator refresh of the emulator: 17.7 min (1064 s, "
     "d61d75c, 21:08); with the race fix in the emulator tests' replayed_everything: 17.0 min (1021 s, dee489f, 22:00, "
     "`ci_cpu.py`, section above)"),
)


def ci_cpu_section(data):
    return ["## Where a CI run's CPU goes (`ci_cpu.py`)", "", context(data), "",
            "`%s`: exit %d, %d s wall, the machine's CPU %d s (%.2f of %d cores), the processes' own %d s."
            % (data["parameters"]["command"], data["returncode"], data["wall_s"], data["machine_cpu_s"],
               data["machine_cpu_s"] / data["wall_s"], data["machine"]["cpus"], data["processes_cpu_s"]), "",
            md_table([("command", "command"), ("cpu_s", "CPU s"), ("processes", "processes")], data["rows"]), ""]


def before_section():
    lines = ["## Before and after", "", "| what | before | change, after |", "|---|---|---|"]
    lines += ["| %s | %s | %s |" % row for row in BEFORE]
    return lines + [""]


SECTIONS = (("noop_scaling", noop_section), ("fleet_scaling", fleet_section),
            ("fleet_scaling_30", lambda data: fleet_section(data, "fleet_scaling_30")), ("handover", handover_section),
            ("log_shipping", shipping_section), ("ci_cpu", ci_cpu_section))


def main():
    text = ["# Benchmarks", "", "Written by `bench/report.py` from bench/results/*.json (`make bench` runs every bench, then this).",
            "Benchmarks print numbers; they are not timed tests. Each section names its machine, load and commit.", ""]
    missing = []
    for name, section in SECTIONS:
        data = load(name)
        if data and data["rows"]:
            text += section(data)
        else:
            missing.append(name)
    if missing:
        text += ["Not measured yet: %s." % ", ".join(missing), ""]
    text += before_section()
    with open(os.path.join(BENCH, "report.md"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(text))
    print("written: bench/report.md (%d of %d benches)" % (len(SECTIONS) - len(missing), len(SECTIONS)))


if __name__ == "__main__":
    main()
