"""The checker: ack logs against device scans, RPO of each primary change, the final state.

Every writer run leaves an ack log (``recordio.AckLog``): a start line saying after which seq
(and whose record) it resumed, one line per acknowledged seq, a stop line.  A new run on a
resource resumes after K, the highest contiguous seq the new primary's device holds, so the
records its predecessor acknowledged above K are lost:

* planned change (handover, migrate, restart in place): nothing may be lost (RPO = 0);
* forced failover: the loss is counted in records and bytes and split by when the records were
  acknowledged (before the fault, during the outage, after the failover on the cut-off side:
  split-brain writes that the repair discards), and K must not be below what the survivor had
  already replayed when it was last seen (``bound_seq``).

Findings are sentences; a check passes when it has none.
"""

import bisect
import json


class WriterRun:
    """One writer run, from its ack log (lines that do not parse, e.g. torn by a crash, are skipped)."""

    def __init__(self, text, host=None):
        self.start = None
        self.stop = None
        self.seqs, self.times = [], []
        self.skipped = 0
        for line in text.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                self.skipped += 1
                continue
            if "seq" in item:
                self.seqs.append(item["seq"])
                self.times.append(item["t"])
            elif item.get("event") == "start":
                self.start = item
            elif item.get("event") == "stop":
                self.stop = item
        self.host = host or (self.start or {}).get("host")

    writer = property(lambda self: (self.start or {}).get("writer"))
    resource = property(lambda self: (self.start or {}).get("resource"))
    after_seq = property(lambda self: (self.start or {}).get("after_seq", 0))
    after_writer = property(lambda self: (self.start or {}).get("after_writer"))
    block = property(lambda self: (self.start or {}).get("block", 4096))
    started_at = property(lambda self: (self.start or {}).get("t"))
    stop_reason = property(lambda self: (self.stop or {}).get("reason") if self.stop else "no stop line (killed or still running)")

    @property
    def last_acked(self):
        """The last seq acked, else the seq it resumed after."""
        return self.seqs[-1] if self.seqs else self.after_seq

    def acked_by(self, t):
        """Highest seq acked at or before time ``t`` (``after_seq`` if none)."""
        i = bisect.bisect_right(self.times, t)
        return self.seqs[i - 1] if i else self.after_seq

    def acked_between(self, low, high, t_from=None, t_to=None):
        """Seqs in (low, high] acked in [t_from, t_to)."""
        return [s for s, t in zip(self.seqs, self.times) if low < s <= high
                and (t_from is None or t >= t_from) and (t_to is None or t < t_to)]

    def summary(self):
        return {"writer": self.writer, "host": self.host, "resource": self.resource, "after_seq": self.after_seq,
                "last_acked": self.last_acked, "acked": len(self.seqs), "stop": self.stop_reason}


def _resumed_findings(old, new):
    """Does ``new`` resume on ``old``'s stream at all (or on the stream ``old`` resumed on)?"""
    findings = []
    if new.start is None:
        return ["%s: the new writer run has no start line" % (new.resource or "?")]
    if old.seqs and new.after_seq >= old.seqs[0] and new.after_writer != old.writer:
        findings.append("%s: the record at seq %d on %s is from writer %s, expected %s"
                        % (new.resource, new.after_seq, new.host, new.after_writer, old.writer))
    scan = new.start.get("scan") or {}
    if scan.get("holes") or scan.get("beyond_hole"):
        findings.append("%s: %s holds %d valid records above a hole at seq %d (write order not kept)"
                        % (new.resource, new.host, scan.get("beyond_hole", 0), new.after_seq + 1))
    if scan.get("misplaced"):
        findings.append("%s: %s holds %d records at the wrong offset" % (new.resource, new.host, scan["misplaced"]))
    return findings


def _corrupt_acked(old, new):
    """Corrupt blocks on the new primary whose seq ``old`` had acknowledged (a torn unacked tail is fine)."""
    scan = (new.start or {}).get("scan") or {}
    return ["%s: acknowledged seq %d of %s is corrupt on %s" % (new.resource, rec["seq"], rec["writer"], new.host)
            for rec in scan.get("corrupt_records", []) if rec.get("writer") == old.writer and rec.get("seq") in old.seqs]


def check_planned(old, new, operation):
    """RPO = 0: every record ``old`` acknowledged is on ``new``'s device when ``new`` starts."""
    findings = _resumed_findings(old, new) + _corrupt_acked(old, new)
    lost = old.acked_between(new.after_seq, old.last_acked)
    if lost:
        findings.append("%s: %s lost %d acknowledged records (seq %d..%d) although it was planned"
                        % (new.resource, operation, len(lost), lost[0], lost[-1]))
    return {"kind": "planned_rpo", "operation": operation, "resource": new.resource, "from_host": old.host,
            "to_host": new.host, "old_writer": old.writer, "last_acked": old.last_acked, "resumed_after": new.after_seq,
            "lost_records": len(lost), "lost_bytes": len(lost) * old.block, "ok": not findings, "findings": findings}


def check_forced(old, new, fault_at, failover_at, bound_seq=None):
    """RPO of a forced failover: what ``old`` acknowledged and the survivor (``new``) does not hold.

    ``bound_seq``: the highest seq the survivor is known to have replayed before the fault
    (``replayed_bound``); losing any record up to it is a finding.
    """
    findings = _resumed_findings(old, new) + _corrupt_acked(old, new)
    k = new.after_seq
    lost = old.acked_between(k, old.last_acked)
    before = old.acked_between(k, old.last_acked, t_to=fault_at)
    during = old.acked_between(k, old.last_acked, t_from=fault_at, t_to=failover_at)
    split = old.acked_between(k, old.last_acked, t_from=failover_at)
    if bound_seq is not None and k < bound_seq:
        findings.append("%s: the survivor %s resumed after seq %d, but it had replayed up to seq %d before the fault"
                        % (new.resource, new.host, k, bound_seq))
    return {"kind": "failover_rpo", "resource": new.resource, "from_host": old.host, "to_host": new.host,
            "old_writer": old.writer, "last_acked": old.last_acked, "resumed_after": k, "bound_seq": bound_seq,
            "lost_records": len(lost), "lost_bytes": len(lost) * old.block, "lost_before_fault": len(before),
            "lost_during_outage": len(during), "split_brain_writes": len(split),
            "rpo_records": len(before) + len(during), "rpo_bytes": (len(before) + len(during)) * old.block,
            "ok": not findings, "findings": findings}


def replayed_bound(old, samples, before, block=4096, slack_s=5.0):
    """The highest seq of ``old`` that the survivor had surely replayed, from lag samples before ``before``.

    A sample ``(t, lag_bytes)`` is the survivor's fetch+replay rest, read at ``t``: it held all of
    the stream up to what was acked at ``t`` minus ``lag_bytes`` worth of records.  MARS log bytes
    include a header per write, so lag / block over-counts the records behind: the bound is low.
    The rest counts only log data the survivor has heard of, so what was acked in the last
    ``slack_s`` before a sample is not counted as replayed.
    """
    best = None
    for t, lag in samples:
        if t >= before or lag is None:
            continue
        behind = -(-int(lag) // block)
        seq = old.acked_by(t - slack_s) - behind
        best = seq if best is None else max(best, seq)
    return best


def check_lineage(resource, scan, runs):
    """The final primary's device against every writer run of the resource, in start order.

    Run i owns (after_i, min(last_acked_i, after_{i+1})]: a later run that resumed lower
    overwrote the rest (a forced failover), which the failover checks count.  Every owned seq the
    ring still holds must be there, from its owner.
    """
    runs = sorted((r for r in runs if r.start), key=lambda r: r.started_at)
    found = {}
    for seg in scan.get("segments", []):
        for seq in range(seg["first"], seg["last"] + 1):
            found[seq] = seg["writer"]
    low = scan.get("window_low", 1)
    missing, wrong = [], []
    for i, run in enumerate(runs):
        end = run.last_acked if i + 1 == len(runs) else min(run.last_acked, runs[i + 1].after_seq)
        for seq in run.acked_between(max(run.after_seq, low - 1), end):
            if seq not in found:
                missing.append(seq)
            elif found[seq] != run.writer:
                wrong.append(seq)
    findings = []
    if missing:
        findings.append("%s: %d acknowledged records missing on the primary (first seq %d)" % (resource, len(missing), missing[0]))
    if wrong:
        findings.append("%s: %d records from the wrong writer on the primary (first seq %d)" % (resource, len(wrong), wrong[0]))
    for key, text in (("holes", "holes"), ("beyond_hole", "records above a hole"), ("corrupt", "corrupt blocks"),
                      ("misplaced", "misplaced records")):
        if scan.get(key):
            findings.append("%s: %d %s on the primary's device" % (resource, scan[key], text))
    return {"kind": "lineage", "resource": resource, "runs": len(runs), "contiguous_to": scan.get("contiguous_to"),
            "ok": not findings, "findings": findings}


def check_replicas(resource, primary, sums):
    """Every replica's data equals the primary's: ``sums`` is host -> md5 of the resource's bytes."""
    want = sums.get(primary)
    findings = []
    if want is None:
        findings.append("%s: no md5 of the primary %s" % (resource, primary))
    for host, value in sorted(sums.items()):
        if host != primary and value != want:
            findings.append("%s: %s differs from the primary %s (md5 %s, primary %s)" % (resource, host, primary, value, want))
    return {"kind": "replicas_equal", "resource": resource, "primary": primary, "md5": sums, "ok": not findings,
            "findings": findings}


def check_info(infos):
    """The fleet as georep.mars.info reports it after the soak: no split brain, no lag, nothing to resync."""
    findings = []
    for host, info in sorted(infos.items()):
        if info is None:
            findings.append("%s: unreachable" % host)
            continue
        for name, res in sorted(info.get("resources", {}).items()):
            if not res.get("member"):
                continue
            for key, bad in (("split_brain", True), ("needs_full_sync", True), ("emergency", True), ("consistent", False)):
                if res.get(key) is bad:
                    findings.append("%s on %s: %s is %s" % (name, host, key, bad))
            for key in ("sync_rest", "fetch_rest", "replay_rest"):
                if res.get(key):
                    findings.append("%s on %s: %s is %d bytes" % (name, host, key, res[key]))
        findings.extend("%s: %s" % (host, danger) for danger in info.get("dangers", []))
    return {"kind": "final_info", "ok": not findings, "findings": findings}


def check_idempotent(recap):
    """The second site.yml run: changed=0 on every host (recap: host -> counts)."""
    changed = dict((h, c.get("changed", 0)) for h, c in recap.items() if c.get("changed", 0))
    failed = dict((h, c.get("failed", 0) + c.get("unreachable", 0)) for h, c in recap.items()
                  if c.get("failed", 0) + c.get("unreachable", 0))
    findings = ["%s: changed=%d in the second site.yml run" % (h, n) for h, n in sorted(changed.items())]
    findings += ["%s: failed or unreachable in the second site.yml run" % h for h in sorted(failed)]
    if not recap:
        findings.append("the second site.yml run printed no PLAY RECAP")
    return {"kind": "idempotent", "ok": not findings, "findings": findings, "changed": changed}
