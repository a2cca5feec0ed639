"""How the wall time of a no-op run grows with the number of resources (1, 10, 50) on 3 lab hosts.

For each N the bench makes a fresh lab (``labctl --name bench``), gives every host N small loop
disks (``/dev/benchK``), rolls out N resources replicated on all 3 hosts with ``site.yml``, and
then times what an operator repeats: a second, no-op ``site.yml`` (the scheduled proof that the
fleet matches the inventory) with the tasks it executed per host (ok + changed), a no-op run of
the ``resources`` role alone, and one ``georep.mars.info`` call. The goal (issue #15): the no-op
``site.yml`` with 50 resources per host takes at most 1.5 times as long as with 1.

Run as root: ``.venv/bin/python bench/noop_scaling.py [--vs REV] [N ...]`` (default 1 10 50;
N=50 takes several minutes to roll out). With ``--vs REV`` the same no-op runs of the collection
at git revision REV (a worktree under build/) alternate with the current ones on the same lab, so
both see the same load. Writes bench/results/noop_scaling.json; ``bench/report.py`` plots it.

Before the resources role made one module call per host (2026-11-25, load average ~10): the no-op
resources role took 18.8 s with 1 resource per host and 159.2 s with 50.
"""

import argparse
import os
import subprocess

from benchlib import REPO, SITE, BenchLab, Results, header, row

LAB = "bench"


def make_disks(lab, count):
    """Each host: COUNT sparse 8 MiB images behind loop devices, reachable as /dev/bench1..COUNT."""
    script = """
set -e
mkdir -p /var/lib/bench
for i in $(seq 1 %d); do
  img=/var/lib/bench/d$i.img; [ -e $img ] || truncate -s 8M $img
  nr=$(python3 -c 'import fcntl; c = open("/dev/loop-control", "rb"); print(fcntl.ioctl(c.fileno(), 0x4C82))')
  [ -e /dev/loop$nr ] || mknod /dev/loop$nr b 7 $nr
  losetup /dev/loop$nr $img
  ln -sfn /dev/loop$nr /dev/bench$i
done
""" % count
    for host in lab.hosts:
        lab.on(host, script)


def drop_disks(lab):
    # The loop devices belong to the machine's kernel, not to the containers: free them first.
    for host in lab.hosts:
        lab.on(host, "systemctl stop mars-emulator 2>/dev/null; for d in /dev/bench*; do [ -L $d ] && losetup -d $(readlink $d); done; true",
               check=False)


def worktree(rev):
    """The collection at REV, for --vs: a git worktree under build/, its collections path."""
    path = os.path.join(REPO, "build", "bench-vs")
    subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", path], capture_output=True, check=False)
    subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", path, rev], capture_output=True, check=True)
    return os.path.join(path, "playbooks", "collections")


def write_play(name, text):
    path = os.path.join(REPO, "build", name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--vs", metavar="REV", help="also time the collection at git revision REV, alternating")
    parser.add_argument("counts", type=int, nargs="*", default=[1, 10, 50], help="resources per host")
    args = parser.parse_args()
    old = worktree(args.vs) if args.vs else None
    lab = BenchLab(LAB)
    resources_only = write_play("bench-resources.yml", "---\n- name: The resources role alone\n  hosts: mars\n"
                                "  gather_facts: false\n  roles:\n    - role: georep.mars.resources\n")
    info_only = write_play("bench-info.yml", "---\n- name: Read every resource's state\n  hosts: mars\n"
                           "  gather_facts: false\n  tasks:\n    - name: Info\n      georep.mars.info:\n")
    results = Results("noop_scaling", counts=args.counts, vs=args.vs)
    columns = [("resources", "resources/host"), ("rollout_s", "rollout s"), ("noop_site_s", "no-op site s"),
               ("tasks", "tasks/host"), ("noop_resources_s", "no-op resources s"), ("info_s", "info s")]
    if old:
        columns += [("vs_noop_site_s", "vs: no-op site s"), ("vs_tasks", "vs: tasks/host"),
                    ("vs_noop_resources_s", "vs: no-op res s")]
    header(columns)
    for count in args.counts:
        drop_disks(lab)
        lab.down()
        lab.up()
        make_disks(lab, count)
        # One emulator for both revisions: another one would be installed, a change.
        fleet = {"mars_resources": [{"name": "b%d" % i, "disk": "/dev/bench%d" % i, "replicas": lab.hosts,
                                     "primary": lab.hosts[i % 3]} for i in range(1, count + 1)],
                 "mars_resources_timeout": 1800, "mars_kmod_emulator_source": os.path.join(REPO, "emulator")}
        values = {"resources": count, "rollout_s": lab.playbook(SITE, fleet)[0]}
        if old:
            # Alternate old and new so that both see the same load.
            values["vs_noop_site_s"], values["vs_tasks"] = lab.noop(SITE, fleet, collections=old)
        values["noop_site_s"], values["tasks"] = lab.noop(SITE, fleet)
        if old:
            values["vs_noop_resources_s"] = lab.noop(resources_only, fleet, collections=old)[0]
        values["noop_resources_s"] = lab.noop(resources_only, fleet)[0]
        values["info_s"] = lab.playbook(info_only, fleet)[0]
        results.add(**values)
        row(columns, values)
    rows = results.data["rows"]
    if len(rows) > 1:
        ratio = rows[-1]["noop_site_s"] / rows[0]["noop_site_s"]
        results.data["ratio"] = {"of": "no-op site.yml, %d vs %d resources per host" % (rows[-1]["resources"], rows[0]["resources"]),
                                 "value": round(ratio, 2), "goal": 1.5}
        print("no-op site.yml: %d resources per host take %.2f x the time of %d (goal <= 1.5)"
              % (rows[-1]["resources"], ratio, rows[0]["resources"]))
    drop_disks(lab)
    lab.down()
    print("written: %s" % results.save())


if __name__ == "__main__":
    main()
