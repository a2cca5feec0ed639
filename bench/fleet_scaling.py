"""Rollout and no-op time of ``site.yml`` against the number of hosts and Ansible's forks.

The bench makes one lab of its own (``labctl --name fleet --hosts 30 --sites 3``) and, for each
fleet size H (default 3, 15 and 30 hosts: the first H lab hosts, one resource per three hosts, each
replicated across the three sites), and each forks value F (default 5, 10, 30):

* brings the H hosts back to bare MARS (tests/integration/reset.yml: the emulator stopped, /mars
  and the disks' heads emptied; what site.yml installed stays, as on a re-provisioned fleet),
* times the rollout (``site.yml --forks F``), then a second, no-op run (``changed=0`` or the bench
  stops), and samples the controller's CPU time against the wall time of each run: a controller
  that uses a core per wall second is the bottleneck; a low share means the hosts or ssh are.

Run as root: ``.venv/bin/python bench/fleet_scaling.py [--hosts 3 15 30] [--forks 5 10 30] [--keep]``.
Writes bench/results/fleet_scaling.json; ``bench/report.py`` plots it.
"""

import argparse
import os
import resource
import time

import yaml

from benchlib import REPO, SITE, BenchLab, Results, header, row

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
    """One 64 MiB resource per three consecutive hosts (one in each site), its primary the first."""
    return {"mars_resources": [{"name": "f%d" % (i // 3 + 1), "size": "64M", "disk": "/dev/vdb", "replicas": hosts[i:i + 3],
                                "primary": hosts[i]} for i in range(0, len(hosts) - 2, 3)]}


def controller_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(lab, path, variables, forks, noop=False):
    """(wall seconds, executed tasks per host, controller CPU seconds per wall second)."""
    cpu = controller_cpu()
    if noop:
        elapsed, tasks = lab.noop(path, variables, forks)
    else:
        elapsed, _out, tasks = lab.playbook(path, variables, forks)
    return elapsed, tasks, (controller_cpu() - cpu) / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[3, 15, 30])
    parser.add_argument("--forks", type=int, nargs="+", default=[5, 10, 30])
    parser.add_argument("--keep", action="store_true", help="keep the lab afterwards")
    args = parser.parse_args()
    lab = BenchLab(LAB, hosts=max(args.hosts), sites=3)
    results = Results("fleet_scaling", hosts=args.hosts, forks=args.forks)
    lab.up()
    columns = (("hosts", "hosts"), ("forks", "forks"), ("rollout_s", "rollout s"), ("rollout_cpu", "ctl CPU/s"),
               ("noop_s", "no-op s"), ("noop_tasks", "no-op tasks/host"), ("noop_cpu", "ctl CPU/s"))
    try:
        # The first rollout installs what site.yml installs (the emulator, units, scripts) on every
        # host; it is timed apart, so that every measured rollout below finds the same hosts.
        cold_s, _tasks, cold_cpu = timed(lab, SITE, fleet(lab.hosts), max(args.forks))
        results.data["cold_rollout"] = {"hosts": lab.size, "forks": max(args.forks), "seconds": cold_s, "cpu": cold_cpu}
        print("cold rollout of %d hosts at forks %d: %.1f s" % (lab.size, max(args.forks), cold_s))
        header(columns)
        for count in args.hosts:
            sub = sub_lab(lab, count)
            variables = fleet(sub.hosts)
            for forks in args.forks:
                lab.playbook(RESET, forks=max(args.forks))
                start = time.time()
                rollout, _tasks, rollout_cpu = timed(sub, SITE, variables, forks)
                noop, noop_tasks, noop_cpu = timed(sub, SITE, variables, forks, noop=True)
                results.add(hosts=count, forks=forks, resources=len(variables["mars_resources"]), rollout_s=rollout,
                            rollout_cpu=rollout_cpu, noop_s=noop, noop_tasks=noop_tasks, noop_cpu=noop_cpu, started=start)
                row(columns, results.data["rows"][-1])
    finally:
        if not args.keep:
            lab.down()
    print("written: %s" % results.save())


if __name__ == "__main__":
    main()
