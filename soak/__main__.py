"""python3 -m soak run|schedule|check|report (from the repository root; ``make soak`` runs it on the lab)."""

import argparse
import json
import os
import sys
import time

from soak import nemesis

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def lab_layout(lab_name, hosts=3, sites=2):
    """The lab's hosts and sites (``lab/labctl.py``'s layout) and the resources of inventories/lab."""
    import yaml  # pylint: disable=import-outside-toplevel
    if os.path.join(REPO, "lab") not in sys.path:
        sys.path.insert(0, os.path.join(REPO, "lab"))
    import labctl  # pylint: disable=import-outside-toplevel,import-error
    lab = labctl.Lab(hosts=hosts, sites=sites, name=lab_name)
    with open(os.path.join(REPO, "inventories", "lab", "group_vars", "all.yml"), encoding="utf-8") as handle:
        specs = yaml.safe_load(handle)["mars_resources"]

    def rename(host):  # a named lab has hosts NAME1..N instead of mars1..N
        return host.replace("mars", lab.prefix, 1)

    for spec in specs:
        spec.update(replicas=[rename(h) for h in spec["replicas"]], primary=rename(spec["primary"]),
                    preferred_primaries=[rename(h) for h in spec.get("preferred_primaries", [])])
    resources = dict((r["name"], {k: r[k] for k in ("replicas", "primary", "preferred_primaries")}) for r in specs)
    sites_map = dict((h, lab.site(h)) for h in lab.hosts)
    layout = {"hosts": list(lab.hosts), "sites": dict((s, [h for h in lab.hosts if lab.site(h) == s]) for s in lab.site_names()),
              "resources": resources}
    fleet = {"sites": sites_map, "resources": resources, "mars_resources": specs}
    return lab, layout, fleet


def cmd_schedule(args):
    _lab, layout, _fleet = lab_layout(args.lab)
    slots = nemesis.make_schedule(args.seed, args.faults, args.max_minutes * 60 - args.final_s, layout, recovery_s=args.allowance_s, pace=args.pace)
    for slot in slots:
        print(json.dumps(slot.to_dict(), sort_keys=True))
    return 0


def cmd_report(args):
    from soak import events, report  # pylint: disable=import-outside-toplevel
    summary = report.write(events.read_events(args.events), args.out)
    print("%s: %d faults, %d findings" % (os.path.join(args.out, "report.md"), len(summary["faults"]), len(summary["findings"])))
    return 1 if summary["findings"] else 0


def cmd_check(args):
    """A device image (or a copy of /dev/mars/RES) against ack logs, offline."""
    from soak import checker, recordio  # pylint: disable=import-outside-toplevel
    scan = recordio.scan(args.device, args.soak, slots=args.slots or None)
    runs = []
    for path in args.acks:
        with open(path, encoding="utf-8") as handle:
            runs.append(checker.WriterRun(handle.read()))
    result = checker.check_lineage(args.resource, scan, runs)
    print(json.dumps({"scan": scan, "lineage": result, "runs": [r.summary() for r in runs]}, indent=1, sort_keys=True))
    return 0 if result["ok"] else 1


def cmd_run(args):
    from soak import driver, events, lab as labclient, report  # pylint: disable=import-outside-toplevel
    lab, layout, fleet = lab_layout(args.lab)
    out = args.out or os.path.join(REPO, "build", "soak", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    args.soak_id = args.soak_id or "%08x" % (int(time.time()) & 0xFFFFFFFF)
    slots = nemesis.make_schedule(args.seed, args.faults, args.max_minutes * 60 - args.final_s, layout, recovery_s=args.allowance_s, pace=args.pace)
    vars_file = None
    if args.lab != "lab":
        vars_file = os.path.join(out, "fleet-vars.json")
        with open(vars_file, "w", encoding="utf-8") as handle:
            json.dump({"mars_resources": fleet["mars_resources"]}, handle)
    client = labclient.LabClient(REPO, args.lab, layout["hosts"], lab.inventory_dir, out, vars_file)
    log = events.EventLog(os.path.join(out, "events.jsonl"))
    try:
        reason = driver.Soak(client, fleet, layout, slots, log, args).run()
    finally:
        log.close()
    summary = report.write(events.read_events(os.path.join(out, "events.jsonl")), args.report_dir or out)
    print("soak: %s; %d findings; report in %s" % (reason or "done", len(summary["findings"]), args.report_dir or out))
    return 1 if summary["findings"] or reason else 0


def parser():
    p = argparse.ArgumentParser(prog="python3 -m soak", description="chaos soak of georep.mars on the lab (issue #16)")
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("run", "schedule"):
        s = sub.add_parser(name, help="run the soak on the lab" if name == "run" else "print the fault schedule (no lab needed)")
        s.add_argument("--faults", type=int, default=10)
        s.add_argument("--seed", type=int, default=1)
        s.add_argument("--max-minutes", type=float, default=120, help="the whole soak, final checks included")
        s.add_argument("--lab", default=os.environ.get("LAB_NAME", "lab"), help="labctl --name (default: the lab mars1..3)")
        s.add_argument("--recovery", dest="recovery_s", type=float, default=600, help="seconds the operator gets after each heal")
        s.add_argument("--allowance", dest="allowance_s", type=float, default=150,
                       help="seconds of recovery the schedule plans per fault (the deadline is the hard bound)")
        s.add_argument("--final", dest="final_s", type=float, default=1200, help="seconds kept for the final heal and checks")
        s.add_argument("--pace", type=float, default=1.0, help="scales every gap and hold of the schedule (0.5: half as long)")
    run = sub.choices["run"]
    run.add_argument("--out", help="events, playbook logs (default build/soak/DATE)")
    run.add_argument("--report-dir", help="where report.md and timeline.png go (default: --out); 'make soak' uses soak/")
    run.add_argument("--rate", type=float, default=5.0, help="records per second per writer")
    run.add_argument("--grace", dest="grace_s", type=float, default=30.0, help="seconds a site must be unreachable before the operator fails over")
    run.add_argument("--sample", dest="sample_s", type=float, default=10.0, help="seconds between looks at the fleet")
    run.add_argument("--max-runs", type=int, default=8, help="playbook runs per fault before the operator gives up on it")
    run.add_argument("--writer-backoff", dest="writer_backoff_s", type=float, default=30.0, help="seconds between restarts of one resource's writer")
    run.add_argument("--soak-id", help="8 characters written into every record (default: from the time)")
    c = sub.add_parser("check", help="check a device image against writer ack logs (no lab needed)")
    c.add_argument("device")
    c.add_argument("--soak", required=True, help="the soak id written into the records")
    c.add_argument("--resource", default="r1")
    c.add_argument("--slots", type=int, default=0, help="ring size in blocks (default: the whole image)")
    c.add_argument("--acks", nargs="+", default=[], help="ack logs of every writer run of the resource")
    r = sub.add_parser("report", help="report.md and timeline.png from an event log")
    r.add_argument("events")
    r.add_argument("--out", default=os.path.join(REPO, "soak"))
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    return {"run": cmd_run, "schedule": cmd_schedule, "report": cmd_report, "check": cmd_check}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
