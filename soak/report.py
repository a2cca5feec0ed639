"""soak/report.md and a PNG timeline from the event log (``events``).

RTO of a fault: from its injection until the driver saw the fleet healthy again (``recovered``);
the time after the heal is given too, since a fault's hold time is the nemesis' choice.
RPO: from the checker's ``failover_rpo`` and ``planned_rpo`` results.
"""

import os

KIND_COLOURS = {"network": "tab:blue", "host": "tab:orange", "site": "tab:red", "daemon": "tab:purple",
                "space": "tab:brown", "controller": "tab:gray", "planned": "tab:green"}


def _by(events, type_):
    return [e for e in events if e["type"] == type_]


def summarise(events):
    """Faults with their RTO, operations, RPO results, final checks and findings."""
    start = events[0]["t"] if events else 0.0
    ends = dict((e["fault"], e) for e in _by(events, "fault_end"))
    recovered = dict((e["fault"], e) for e in _by(events, "recovered"))
    op_ends = dict((e["op"], e) for e in _by(events, "op_end"))
    ops = []
    for op in _by(events, "op_start"):
        end = op_ends.get(op["op"], {})
        ops.append({"op": op["op"], "playbook": op["playbook"], "extra_vars": op.get("extra_vars", {}), "reason": op.get("reason", ""),
                    "start": op["t"], "end": end.get("t"), "rc": end.get("rc"), "interrupted": end.get("interrupted", False)})
    faults = []
    for f in _by(events, "fault_start"):
        end, rec = ends.get(f["fault"]), recovered.get(f["fault"])
        healed = end["t"] if end else None
        done = rec["t"] if rec else None
        faults.append({"fault": f["fault"], "name": f["name"], "kind": f["kind"], "targets": f.get("targets", []), "start": f["t"],
                       "healed": healed, "recovered": done, "ok": bool(rec and rec.get("ok")),
                       "rto_s": done - f["t"] if done and rec.get("ok") else None,
                       "after_heal_s": done - healed if done and healed and rec.get("ok") else None,
                       "ops": [o for o in ops if o["start"] >= f["t"] and (done is None or o["start"] < done)]})
    checks = _by(events, "check")
    findings = [x for c in checks if not c.get("ok") for x in c.get("findings", [])]
    findings += ["fault %d (%s): not recovered: %s" % (f["fault"], f["name"], recovered[f["fault"]].get("reason", ""))
                 for f in faults if f["fault"] in recovered and not f["ok"]]
    findings += ["fault %d (%s): no recovery recorded" % (f["fault"], f["name"]) for f in faults if f["fault"] not in recovered]
    findings += [e.get("reason", "") for e in _by(events, "recovered") if e["fault"] < 0 and not e.get("ok")]  # setup, final
    first = events[0] if events else {}
    last_end = _by(events, "soak_end")
    return {"start": start, "end": events[-1]["t"] if events else 0.0, "seed": first.get("seed"), "requested": first.get("faults"),
            "lab": first.get("lab"), "faults": faults, "ops": ops, "failovers": [c for c in checks if c.get("kind") == "failover_rpo"],
            "planned": [c for c in checks if c.get("kind") == "planned_rpo"],
            "final": [c for c in checks if c.get("kind") in ("lineage", "replicas_equal", "final_info", "idempotent")],
            "findings": findings, "end_reason": last_end[-1].get("reason") if last_end else "no soak_end event (killed?)"}


def _clock(t, start):
    s = int(round(t - start))
    return "%d:%02d:%02d" % (s // 3600, s % 3600 // 60, s % 60)


def _secs(value):
    return "-" if value is None else "%.0f" % value


def _vars(extra):
    return " ".join("%s=%s" % kv for kv in sorted(extra.items()) if not kv[0].startswith("confirm_"))


def timeline_rows(events, start):
    """(time, event, detail) for the table: faults, heals, operations, writers, recoveries, failed checks."""
    rows = []
    for e in events:
        kind = e["type"]
        if kind == "fault_start":
            rows.append((e["t"], "fault %d: %s" % (e["fault"], e["name"]), ", ".join(e.get("targets", [])) + _params(e)))
        elif kind == "fault_end":
            rows.append((e["t"], "heal %d: %s" % (e["fault"], e["name"]), ""))
        elif kind == "op_start":
            rows.append((e["t"], "run %s" % e["playbook"], "%s (%s)" % (_vars(e.get("extra_vars", {})), e.get("reason", ""))))
        elif kind == "op_end":
            rows.append((e["t"], "end %s" % e["playbook"], "interrupted" if e.get("interrupted") else "rc %s" % e.get("rc")))
        elif kind == "writer_start":
            rows.append((e["t"], "writer %s on %s" % (e["resource"], e["host"]), "resumes after seq %s" % e.get("after_seq")))
        elif kind == "recovered":
            which = "fault %d: " % e["fault"] if e["fault"] >= 0 else ""  # -1 setup, -2 final: their reason says so
            rows.append((e["t"], "healthy" if e.get("ok") else "NOT healthy", which + e.get("reason", "")))
        elif kind == "check" and not e.get("ok"):
            rows.append((e["t"], "check %s FAILED" % e.get("kind"), "; ".join(e.get("findings", []))))
        elif kind == "note":
            rows.append((e["t"], "note", e.get("text", "")))
    return [(_clock(t, start), what, detail) for t, what, detail in rows]


def _params(event):
    params = event.get("params") or {}
    shown = dict((k, v) for k, v in params.items() if k not in ("extra_vars",))
    return (" (%s)" % ", ".join("%s=%s" % kv for kv in sorted(shown.items()))) if shown else ""


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(summary, events, png_name=None):
    s = summary
    start = s["start"]
    out = ["# Chaos soak report", ""]
    verdict = "PASS" if not s["findings"] else "FAIL (%d findings)" % len(s["findings"])
    out += ["Seed %s, %s faults requested, %d injected, %d playbook runs, %s long (lab %s); ended: %s. **%s**"
            % (s["seed"], s["requested"], len(s["faults"]), len(s["ops"]), _clock(s["end"], start), s["lab"], s["end_reason"], verdict), ""]
    if png_name:
        out += ["![timeline](%s)" % png_name, ""]
    out += ["## Findings", ""] + (["- " + f for f in s["findings"]] or ["None."]) + [""]
    out += ["## Recoveries (RTO)", "", "RTO: from injection until the fleet was healthy again; after heal: from the heal.", ""]
    out.append(_table(["#", "fault", "targets", "injected", "healed", "RTO s", "after heal s", "operations"],
                      [(f["fault"], f["name"], ", ".join(f["targets"]), _clock(f["start"], start),
                        _clock(f["healed"], start) if f["healed"] else "-", _secs(f["rto_s"]) if f["ok"] else "not recovered",
                        _secs(f["after_heal_s"]), ", ".join(o["playbook"] + (" (killed)" if o["interrupted"] else "") for o in f["ops"]) or "-")
                       for f in s["faults"]]))
    out += ["", "## Forced failovers (RPO)", ""]
    out.append(_table(["resource", "from", "to", "last acked", "resumed after", "RPO records", "RPO bytes", "acked before fault",
                       "during outage", "split-brain writes", "replayed bound", "ok"],
                      [(c["resource"], c["from_host"], c["to_host"], c["last_acked"], c["resumed_after"], c["rpo_records"], c["rpo_bytes"],
                        c["lost_before_fault"], c["lost_during_outage"], c["split_brain_writes"], c.get("bound_seq"), "yes" if c["ok"] else "NO")
                       for c in s["failovers"]]) if s["failovers"] else "None.")
    out += ["", "## Planned operations (RPO must be 0)", ""]
    out.append(_table(["operation", "resource", "from", "to", "last acked", "resumed after", "lost", "ok"],
                      [(c["operation"], c["resource"], c["from_host"], c["to_host"], c["last_acked"], c["resumed_after"], c["lost_records"],
                        "yes" if c["ok"] else "NO") for c in s["planned"]]) if s["planned"] else "None.")
    out += ["", "## After the faults", ""]
    out += ["- %s%s: %s" % (c["kind"], " " + c["resource"] if c.get("resource") else "", "ok" if c["ok"] else "; ".join(c["findings"]))
            for c in s["final"]] or ["No final checks ran."]
    out += ["", "## Timeline", "", _table(["time", "event", "detail"], timeline_rows(events, start)), ""]
    return "\n".join(out)


def plot(events, path):
    """Faults and operations, the primary of each resource, and the lag, on one time axis (PNG)."""
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    s = summarise(events)
    start = s["start"]

    def minutes(t):
        return (t - start) / 60.0

    samples = _by(events, "sample")
    resources = sorted({r for e in samples for r in e.get("roles", {})})
    fig, (ax_f, ax_r, ax_l) = plt.subplots(3, 1, sharex=True, figsize=(14, 7), gridspec_kw={"height_ratios": [2, 1.3, 1.5]})
    kinds = sorted({f["kind"] for f in s["faults"]})
    lanes = kinds + ["operator"]
    for f in s["faults"]:
        end = f["healed"] or f["recovered"] or f["start"]
        ax_f.broken_barh([(minutes(f["start"]), max(minutes(end) - minutes(f["start"]), 0.05))], (lanes.index(f["kind"]) - 0.4, 0.8),
                         color=KIND_COLOURS.get(f["kind"], "black"))
        ax_f.annotate(f["name"], (minutes(f["start"]), lanes.index(f["kind"]) + 0.42), fontsize=6)
    for o in s["ops"]:
        end = o["end"] or o["start"]
        ax_f.broken_barh([(minutes(o["start"]), max(minutes(end) - minutes(o["start"]), 0.05))], (len(kinds) - 0.4, 0.8),
                         color="tab:red" if o["interrupted"] or o["rc"] else "tab:cyan")
        ax_f.annotate(o["playbook"].replace(".yml", ""), (minutes(o["start"]), len(kinds) + 0.42), fontsize=6)
    ax_f.set_yticks(range(len(lanes)), lanes)
    ax_f.set_title("faults and operator runs")
    hosts = sorted({h for e in samples for h in e.get("roles", {}).values() if h})
    colours = dict((h, "C%d" % i) for i, h in enumerate(hosts))
    for i, name in enumerate(resources):
        for a, b in zip(samples, samples[1:] + [None]):
            host = a.get("roles", {}).get(name)
            right = b["t"] if b else a["t"]
            ax_r.broken_barh([(minutes(a["t"]), max(minutes(right) - minutes(a["t"]), 0.02))], (i - 0.4, 0.8),
                             color=colours.get(host, "white"), edgecolor="none")
    ax_r.set_yticks(range(len(resources)), resources)
    if colours:
        ax_r.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()], labels=list(colours), fontsize=7,
                    loc="upper right", title="primary", title_fontsize=7)
    for name in resources:
        xs = [minutes(e["t"]) for e in samples]
        ys = [max(list((e.get("lag") or {}).get(name, {}).values()) + [0]) / 1024.0 for e in samples]
        ax_l.plot(xs, ys, label=name, linewidth=1)
    ax_l.set_ylabel("lag KiB (max over replicas)")
    ax_l.set_xlabel("minutes since start")
    if resources:
        ax_l.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(events, directory, png_name="timeline.png"):
    """report.md and the PNG into ``directory``; returns the summary."""
    os.makedirs(directory, exist_ok=True)
    plot(events, os.path.join(directory, png_name))
    summary = summarise(events)
    with open(os.path.join(directory, "report.md"), "w", encoding="utf-8") as handle:
        handle.write(markdown(summary, events, png_name))
    return summary
