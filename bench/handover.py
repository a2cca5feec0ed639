"""Handover time against the backlog to replay: raw ``marsadm primary``, the module, the playbook.

The bench makes a lab of its own (``labctl --name hob``: hob1 and hob3 in site-a, hob2 in
site-b), rolls out three 64 MiB resources r1..r3 replicated on hob1 and hob2 (primary hob1) with
``site.yml``, and then, for each backlog B (default 0, 8 and 32 MiB) and each way of switching:

* pauses replay of r1 on hob2, writes B MiB of random data to ``/dev/mars/r1`` on hob1, resumes
  replay and at once hands r1 over to hob2, timed:
  - raw: ``marsadm primary r1`` on hob2, timed on the host itself;
  - module: ``ansible hob2 -m georep.mars.handover -a name=r1`` (Ansible's start-up included);
  - playbook: ``playbooks/handover.yml -e handover_resource=r1 -e handover_target=hob2``;
* hands r1 back to hob1 with raw marsadm (not timed).

A trivial ad hoc task (``ansible.builtin.ping``) gives Ansible's own start-up; the goal of issue
#15 is module - ping - raw <= 1 s. The emulated ``marsadm primary`` itself varies by 1-2 s from run
to run (its phases poll once a second), more than the overhead to measure. So the module and the
playbook run marsadm through a wrapper on hob2 that times each ``primary`` call there as the raw way
does, and each run also gives its own overhead: its seconds - ping - its marsadm primary's seconds. Last, site-wide handovers (``handover.yml -e
handover_site=site-b``): T MiB to replay in 1 resource, the same T MiB spread over 3 resources, and
T MiB in each of 3. It runs one module call per host, so its time should follow the data to
replay, not the number of resources: the first two alike, the third longer.

Run as root: ``.venv/bin/python bench/handover.py [--backlogs 0 8 32] [--rounds 2] [--site-total 30]
[--keep]``.
Writes bench/results/handover.json; ``bench/report.py`` plots it.
"""

import argparse
import os
import statistics

from benchlib import REPO, SITE, BenchLab, Results, header, row

LAB = "hob"
OLD, NEW = "hob1", "hob2"
NAMES = ["r1", "r2", "r3"]
HANDOVER = os.path.join(REPO, "playbooks", "handover.yml")


def fleet(preferred_new=()):
    """r1..r3 on hob1 and hob2, primary hob1; the resources in PREFERRED_NEW prefer hob2 (site-b), the
    others have only hob1 as a preferred primary (a site-wide handover takes every resource with a
    preferred primary in the site)."""
    return {"mars_resources": [{"name": name, "size": "64M", "disk": disk, "replicas": [OLD, NEW], "primary": OLD,
                                "preferred_primaries": [NEW, OLD] if name in preferred_new else [OLD]}
                               for name, disk in zip(NAMES, ["/dev/vdb", "/dev/vdc", "/dev/vdd"])]}


def backlog(lab, names, mib):
    """Leave MIB MiB of each resource's log unreplayed on the new primary, then let replay go on (the
    handover that follows at once must wait for it)."""
    for name in names:
        lab.on(NEW, "marsadm pause-replay %s" % name)
        if mib:
            lab.on(OLD, "head -c %dM /dev/urandom | dd of=/dev/mars/%s bs=1M oflag=direct status=none" % (mib, name))
    for name in names:
        lab.on(NEW, "marsadm resume-replay %s" % name)


def raw_primary(lab, host, name):
    """Seconds of ``marsadm primary NAME`` on HOST, timed there."""
    out = lab.on(host, "s=$(date +%%s.%%N); marsadm primary %s >/dev/null; e=$(date +%%s.%%N); echo $s $e" % name)
    start, end = map(float, out.split())
    return end - start


TIMED = "/usr/local/sbin/marsadm-timed"
TIMES = "/run/bench-marsadm-primary"
WRAPPER = """#!/bin/sh
# marsadm, timing each primary call for bench/handover.py
start=$(date +%%s.%%N)
/usr/sbin/marsadm "$@"; rc=$?
case " $* " in *" primary "*) echo "$start $(date +%%s.%%N)" >> %s;; esac
exit $rc
""" % TIMES


def install_wrapper(lab, host):
    lab.on(host, "cat > %s <<'EOF'\n%sEOF\nchmod 755 %s" % (TIMED, WRAPPER, TIMED))


def inner_primary(lab, host):
    """Seconds of the ``marsadm primary`` calls since the last look, timed on HOST by the wrapper."""
    out = lab.on(host, "cat %s 2>/dev/null; rm -f %s" % (TIMES, TIMES))
    return sum(float(end) - float(start) for start, end in (line.split() for line in out.splitlines()))


def settle(lab, names):
    """Wait until nothing is left to sync, fetch or replay anywhere (each host checks for itself)."""
    for host in (OLD, NEW):
        for name in names:
            lab.wait_synced(host, name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backlogs", type=int, nargs="+", default=[0, 8, 32], help="MiB left to replay")
    parser.add_argument("--site-total", type=int, default=30, help="MiB to replay in the site-wide handovers")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the lab afterwards")
    args = parser.parse_args()
    lab = BenchLab(LAB)
    results = Results("handover", backlogs=args.backlogs, rounds=args.rounds)
    lab.up()
    try:
        lab.playbook(SITE, fleet())
        settle(lab, NAMES)
        ping = statistics.median(lab.adhoc(NEW, "ansible.builtin.ping") for _attempt in range(3))
        results.data["ansible_startup_s"] = ping
        print("a trivial ad hoc task (Ansible's start-up): %.2f s" % ping)
        columns = [("backlog_mib", "backlog MiB"), ("raw_s", "raw marsadm s"), ("module_s", "module s"),
                   ("playbook_s", "playbook s"), ("module_over_raw_s", "module-ping-raw"),
                   ("module_over_own_primary_s", "module-ping-own"), ("playbook_over_own_primary_s", "playbook-ping-own")]
        header(columns)
        install_wrapper(lab, NEW)
        ways = {"raw": lambda: raw_primary(lab, NEW, "r1"),
                "module": lambda: lab.adhoc(NEW, "georep.mars.handover", "name=r1 marsadm_path=" + TIMED),
                "playbook": lambda: lab.playbook(HANDOVER, fleet(), extra=["-e", "handover_resource=r1", "-e", "handover_target=" + NEW,
                                                                           "-e", "mars_marsadm_path=" + TIMED])[0]}
        for mib in args.backlogs:
            times = {way: [] for way in ways}
            overheads = {"module": [], "playbook": []}
            for _round in range(args.rounds):
                for way, switch in ways.items():
                    backlog(lab, ["r1"], mib)
                    inner_primary(lab, NEW)
                    times[way].append(switch())
                    if way in overheads:
                        overheads[way].append(times[way][-1] - ping - inner_primary(lab, NEW))
                    settle(lab, ["r1"])
                    raw_primary(lab, OLD, "r1")
            values = {"backlog_mib": mib}
            values.update(("%s_s" % way, statistics.median(t)) for way, t in times.items())
            values.update(("%s_rounds_s" % way, [round(x, 2) for x in t]) for way, t in times.items())
            values["module_over_raw_s"] = values["module_s"] - ping - values["raw_s"]
            for way, values_of_way in overheads.items():
                values["%s_over_own_primary_s" % way] = statistics.median(values_of_way)
                values["%s_over_own_primary_rounds_s" % way] = [round(x, 2) for x in values_of_way]
            results.add(**values)
            row(columns, values)
        total = args.site_total
        site_wide = []
        for count, each in ((1, total), (len(NAMES), total // len(NAMES)), (len(NAMES), total)):
            names = NAMES[:count]
            backlog(lab, names, each)
            seconds = lab.playbook(HANDOVER, fleet(names), extra=["-e", "handover_site=site-b"])[0]
            settle(lab, names)
            for name in names:
                raw_primary(lab, OLD, name)
            site_wide.append({"resources": count, "mib_each": each, "mib_total": each * count, "seconds": seconds})
            print("site-wide handover of %d resource(s), %d MiB to replay each (%d in all): %.1f s" % (count, each, each * count, seconds))
        results.data["site_wide"] = site_wide
        results.save()
    finally:
        if not args.keep:
            lab.down()
    print("written: %s" % results.save())


if __name__ == "__main__":
    main()
