"""Rollout and no-op time of ``site.yml`` against the number of hosts and Ansible's forks.

The bench makes one lab of its own (``labctl --name fleet --hosts 30 --sites 3``) and, for each
fleet size H (default 15, 9 and 3 hosts: the first H lab hosts, one 16 MiB resource per three
hosts, each replicated across the three sites):

* brings every lab host back to bare MARS (tests/integration/reset.yml: the emulator stopped,
  /mars and the disks' heads emptied; what site.yml installed stays, as on a re-provisioned
  fleet; the first rollout installs it),
* times the rollout (``site.yml`` at the largest forks value: a rollout of 30 hosts takes many
  minutes on 2 cores, so it is not repeated per forks value),
* times a no-op ``site.yml`` at each forks value F (default 5, 10, 30; ``changed=0`` or the bench
  stops).

For every run it also takes the controller's CPU time (ansible-playbook and its children) per wall
second: near the number of cores the controller is the bottleneck; far below, the hosts or ssh.

30 hosts (``--hosts 30``; labctl raises the machine's inotify instances for their systemd): before
the emulator's idle CPU was cut, their rollout did not finish on the 2-core machine (initial syncs
kept timing out at a load average of 40-50). After the cut, on 2026-12-07, 30 hosts rolled out in
600 s, but a no-op run at forks 5 took 35 minutes, so the default sizes stay 15, 9 and 3, and
``--add`` adds a run's rollout and no-op rows (other forks values) to the saved results.
A rollout that does not finish within ``--rollout-timeout`` is recorded as such with the emulated
hosts' CPU use.

Run as root: ``.venv/bin/python bench/fleet_scaling.py [--hosts 15 9 3] [--forks 5 10 30] [--rollout-timeout S] [--keep] [--add]
[--results NAME]``: the 30-host run was ``--hosts 30 --results fleet_scaling_30``.
Writes bench/results/fleet_scaling.json; ``bench/report.py`` plots it.
"""

import argparse
import os
import resource
import subprocess
import time

import yaml

from benchlib import REPO, SITE, BenchLab, Results, commit, header, row

LAB = "fleet"
RESET = os.path.join(REPO, "tests", "integration", "reset.yml")


def sub_lab(lab, count):
    """The lab's first COUNT hosts (sites as the lab assigns them) with an inventory of their own."""
    with open(os.path.join(lab.inventory, "hosts.yml"), encoding="utf-8") as handle:
        full = yaml.safe_load(handle)
    sub = BenchLab(LAB, hosts=lab.size, sites=lab.sites)
    sub.hosts = lab.hosts[:count]
    wanted = set(sub.hosts)
    sites = full["all"]["children"]["mars"]["children"]
    kept = {site: {"hosts": {h: v for h, v in group["hosts"].items() if h in wanted}} for site, group in sites.items()}
    path = os.path.join(REPO, "build", "inventories", "%s-%d" % (LAB, count))
    os.makedirs(path, exist_ok=True)
    if not os.path.exists(os.path.join(path, "group_vars")):
        os.symlink(os.path.join(REPO, "inventories", "lab", "group_vars"), os.path.join(path, "group_vars"))
    with open(os.path.join(path, "hosts.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump({"all": {"children": {"mars": {"children": {s: g for s, g in kept.items() if g["hosts"]}}}}}, handle)
    sub.inventory = path
    return sub


def fleet(hosts):
    """One 16 MiB resource per three consecutive hosts (one in each site), its primary the first."""
    return {"mars_resources": [{"name": "f%d" % (i // 3 + 1), "size": "16M", "disk": "/dev/vdb", "replicas": hosts[i:i + 3],
                                "primary": hosts[i]} for i in range(0, len(hosts) - 2, 3)]}


def emulator_load(lab):
    """CPU seconds per wall second of each host's emulated kernel module (the first three hosts), and their sum
    estimated for all hosts: how much of the machine the hosts themselves take."""
    per_host = []
    for host in lab.hosts[:3]:
        out = lab.on(host, "pid=$(systemctl show -p MainPID --value mars-emulator); t1=$(cut -d' ' -f14,15 /proc/$pid/stat); "
                           "sleep 5; t2=$(cut -d' ' -f14,15 /proc/$pid/stat); echo $t1 $t2")
        u1, s1, u2, s2 = map(int, out.split())
        per_host.append((u2 + s2 - u1 - s1) / os.sysconf("SC_CLK_TCK") / 5)
    return {"per_host_cpu": per_host, "all_hosts_cpu_estimate": sum(per_host) / len(per_host) * len(lab.hosts)}


def controller_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(lab, path, variables, forks, noop=False, timeout=None):
    """(wall seconds, executed tasks per host, controller CPU seconds per wall second)."""
    cpu = controller_cpu()
    if noop:
        elapsed, tasks = lab.noop(path, variables, forks)
    else:
        elapsed, _out, tasks = lab.playbook(path, variables, forks, timeout=timeout)
    return elapsed, tasks, (controller_cpu() - cpu) / elapsed


def now():
    """When and on which commit a row was measured (rows added later to saved results carry their own)."""
    return "%s, %s" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), commit())


def noops(results, sub, forks_values):
    """Time a no-op site.yml on SUB at each forks value and add the rows (with when they were measured)."""
    columns = (("hosts", "hosts"), ("forks", "forks"), ("noop_s", "no-op s"), ("noop_tasks", "no-op tasks/host"),
               ("noop_cpu", "ctl CPU s/s"))
    header(columns)
    variables = fleet(sub.hosts)
    for forks in forks_values:
        noop, noop_tasks, noop_cpu = timed(sub, SITE, variables, forks, noop=True)
        results.add(hosts=len(sub.hosts), forks=forks, resources=len(variables["mars_resources"]), noop_s=noop,
                    noop_tasks=noop_tasks, noop_cpu=noop_cpu, measured=now())
        row(columns, results.data["rows"][-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[15, 9, 3])
    parser.add_argument("--forks", type=int, nargs="+", default=[5, 10, 30])
    parser.add_argument("--rollout-timeout", type=int, default=1200, help="seconds a rollout may take before the bench records it as unfinished")
    parser.add_argument("--keep", action="store_true", help="keep the lab afterwards")
    parser.add_argument("--results", default="fleet_scaling",
                        help="name of the results file (bench/results/NAME.json; the report shows fleet_scaling_30 too)")
    parser.add_argument("--add", action="store_true",
                        help="add this run's rollouts and rows to the saved results instead of starting them anew")
    args = parser.parse_args()
    lab = BenchLab(LAB, hosts=max(args.hosts), sites=3)
    if args.add:
        results = Results.resume(args.results)
        results.data["parameters"]["forks"] = sorted(set(results.data["parameters"]["forks"]) | set(args.forks))
    else:
        results = Results(args.results, hosts=args.hosts, forks=args.forks)
        results.data["rollouts"] = []
    installed = False
    lab.up()
    try:
        for count in sorted(args.hosts, reverse=True):
            sub = sub_lab(lab, count)
            variables = fleet(sub.hosts)
            # Bare MARS on every lab host, also those this size leaves out: a leftover cluster
            # there would keep talking to the hosts under test.
            lab.playbook(RESET, forks=max(args.forks))
            first, installed = not installed, True
            rollout = {"hosts": count, "forks": max(args.forks), "resources": len(variables["mars_resources"]), "installs": first,
                       "measured": now()}
            results.data["rollouts"].append(rollout)
            try:
                seconds, _tasks, cpu = timed(sub, SITE, variables, max(args.forks), timeout=args.rollout_timeout)
            except subprocess.TimeoutExpired:
                rollout["unfinished_after_s"] = args.rollout_timeout
                results.data["emulator_load"] = emulator_load(sub)
                print("rollout of %d hosts did not finish within %d s; emulator CPU: %s" % (count, args.rollout_timeout, results.data["emulator_load"]))
                results.save()
                continue
            rollout.update(seconds=seconds, cpu=cpu, idle_hosts_cpu=emulator_load(sub)["all_hosts_cpu_estimate"])
            print("rollout of %d hosts at forks %d: %.1f s (controller CPU %.2f s/s)%s"
                  % (count, max(args.forks), seconds, cpu, ", installing the emulator and files too" if first else ""))
            noops(results, sub, args.forks)
    finally:
        if not args.keep:
            lab.down()
    print("written: %s" % results.save())


if __name__ == "__main__":
    main()
