"""The soak run: writers on the primaries, the nemesis' schedule, the operator loop, the checks.

Per slot of the schedule: a quiet gap, the fault for its hold time, its heal, then the operator
until the fleet is healthy again or ``recovery_s`` has passed.  The operator loop (``tick``)
reads ``georep.mars.info`` from every host, samples roles and lag, keeps one writer running on
each resource's primary, and runs what ``decide`` says.  After the last slot (or the deadline)
every fault is undone, the operator gets ``final_s`` to heal the fleet, and the final checks run.
Every loop is bounded by count and by the deadline; the lab calls all go through ``LabClient``.
"""

import time

from soak import checker, decide, nemesis

NO_OPERATOR_WAIT = ("controller", "planned")  # faults the operator acts on instead of waiting
PLAYBOOK_TIMEOUT_S = {"site.yml": 1800, "failover.yml": 900, "split_brain.yml": 900, "resync.yml": 1800, "handover.yml": 900}


class Soak:
    def __init__(self, lab, fleet, layout, slots, events, opts, clock=time.time, sleep=time.sleep):
        self.lab, self.fleet, self.layout, self.slots, self.ev, self.opts = lab, fleet, layout, slots, events, opts
        self.clock, self.sleep = clock, sleep
        self.ctx = decide.new_context(grace_s=opts.grace_s)
        self.end = clock() + opts.max_minutes * 60  # the whole soak
        self.slots_end = self.end - opts.final_s  # faults and their recoveries; the rest is for the final heal and checks
        self.active = []
        self.kill_next_run = None  # seconds, armed by an interrupt_playbook fault
        self.writers = {}  # resource -> {"host", "writer"}: the run the driver started last
        self.runs = {}  # resource -> [{"host", "writer"}] in start order
        self.failovers = []  # every failover.yml run (interrupted ones too): {"start", "end", "hosts", "fault_at"}
        self.pending = []  # checks waiting for the old run's ack log
        self.lag = {}  # resource -> host -> [(t, bytes)]
        self.infos = {}
        self.count = 0
        self.started_at = {}  # resource -> when its last writer was started
        self.ops = 0
        self.ops_this_slot = 0

    # ------------------------------------------------------------ the run
    def run(self):
        self.ev.emit("soak_start", seed=self.opts.seed, faults=self.opts.faults, lab=self.opts.lab, soak=self.opts.soak_id,
                     max_minutes=self.opts.max_minutes, schedule=[s.to_dict() for s in self.slots], fleet=self.fleet)
        reason = self.setup()
        if reason is None:
            for slot in self.slots:
                if self.clock() + slot.gap_s + slot.hold_s >= self.slots_end:
                    reason = "deadline: %d of %d faults injected" % (slot.index, len(self.slots))
                    break
                self.run_slot(slot)
            self.finish()
        self.ev.emit("soak_end", reason=reason or "all %d faults injected" % len(self.slots))
        return reason

    def setup(self):
        for host in self.layout["hosts"]:
            if not self.lab.install_writer(host):
                return "could not copy the writer to %s" % host
        healthy, why = self.operate(self.opts.recovery_s, until_healthy=True)
        self.ev.emit("recovered", fault=-1, ok=healthy, reason="setup: " + why)
        return None if healthy else "the fleet was not healthy at the start: %s" % why

    def run_slot(self, slot):
        fault = slot.fault
        self.ops_this_slot = 0
        self.operate(slot.gap_s)
        self.ev.emit("fault_start", fault=slot.index, name=fault.name, kind=fault.kind, targets=list(fault.targets),
                     params=fault.params, argv=[list(a) for a in fault.inject])
        ok, error = self.lab.apply(fault.inject)
        if not ok:
            self.ev.emit("note", text="fault %d inject: %s" % (slot.index, error))
        if fault.kind == "controller":
            self.kill_next_run = fault.params["kill_after_s"]
            self.ctx["requests"].append({"playbook": fault.params["playbook"], "extra_vars": {}})
        elif fault.kind == "planned":
            self.ctx["requests"].append({"playbook": fault.params["playbook"], "extra_vars": dict(fault.params["extra_vars"])})
        else:
            self.active = [dict(fault.to_dict(), since=self.clock())]
        self.operate(slot.hold_s)
        ok, error = self.lab.apply(fault.heal)
        self.active = []
        self.ev.emit("fault_end", fault=slot.index, name=fault.name, ok=ok, error=error)
        healthy, why = self.operate(self.opts.recovery_s, until_healthy=True)
        self.kill_next_run = None
        self.ev.emit("recovered", fault=slot.index, ok=healthy, reason=why)

    def operate(self, seconds, until_healthy=False, limit=None):
        """The operator loop for ``seconds`` (or until healthy), never past ``limit`` (default: the end
        of the fault phase); returns (healthy, last reason)."""
        end = min(self.clock() + seconds, limit or self.slots_end)
        why = "no observation"
        while True:
            decision = self.tick()
            why = decision.reason
            healthy = decision.action == "none" and self.writers_ok()
            if until_healthy and healthy:
                return True, why
            if self.clock() >= end:
                return healthy, why
            self.sleep(min(self.opts.sample_s, max(0.0, end - self.clock())))

    # ------------------------------------------------------------ one look
    def tick(self):
        now = self.clock()
        self.infos = self.lab.infos()
        self.ctx = decide.observe(self.ctx, self.fleet, self.infos, now)
        self.sample(now)
        self.supervise_writers()
        self.retry_pending()
        faults = [f for f in self.active if f["kind"] not in NO_OPERATOR_WAIT]
        decision = decide.decide(self.fleet, self.infos, faults, self.ctx, now)
        if decision.action == "run":
            if self.ops_this_slot >= self.opts.max_runs:
                return decide.Decision("wait", "gave up: %d playbook runs after this fault" % self.ops_this_slot)
            self.run_op(decision)
        return decision

    def sample(self, now):
        view = decide.primary_view(self.fleet, self.infos, self.ctx)
        lag = {}
        for name in self.fleet["resources"]:
            for host, res in decide.member_facts(self.infos, name):
                if not res.get("is_primary"):
                    value = (res.get("fetch_rest") or 0) + (res.get("replay_rest") or 0)
                    lag.setdefault(name, {})[host] = value
                    self.lag.setdefault(name, {}).setdefault(host, []).append((now, value))
        self.ev.emit("sample", t=now, roles=view, lag=lag, unreachable=sorted(h for h, i in self.infos.items() if i is None))

    # ------------------------------------------------------------ writers
    def writers_ok(self):
        want = decide.writer_hosts(self.fleet, self.infos, self.ctx)
        return len(want) == len(self.fleet["resources"]) and all(self.writers.get(n, {}).get("host") == h for n, h in want.items())

    def supervise_writers(self):
        """One writer on each primary whose device is up; a writer that died is started again (it resumes),
        but not more often than every ``writer_backoff_s`` (a device that fails every write)."""
        want = decide.writer_hosts(self.fleet, self.infos, self.ctx)
        by_host = {}
        for name, host in want.items():
            by_host.setdefault(host, []).append(name)
        for host, names in sorted(by_host.items()):
            active = self.lab.active_writers(host, sorted(names))
            if active is None:
                continue
            for name in sorted(set(names) - set(active)):
                if self.writers.get(name, {}).get("host") == host:
                    del self.writers[name]
                if self.clock() - self.started_at.get(name, float("-inf")) >= self.opts.writer_backoff_s:
                    self.start_writer(name, host)

    def start_writer(self, name, host):
        self.count += 1
        self.started_at[name] = self.clock()
        writer = ("w%03d%s" % (self.count, host))[:16]
        left = max(60, self.end - self.clock() + 600)  # writers stop by themselves if the driver dies
        if not self.lab.start_writer(host, name, self.opts.soak_id, writer, self.opts.rate, left):
            self.ev.emit("note", text="%s: could not start a writer on %s" % (name, host))
            return
        new = {"host": host, "writer": writer, "resource": name, "t": self.clock()}
        start = self.wait_start_line(new)
        if start and start.stop and not start.start:
            # it stopped before its scan ended (the device failed, e.g. the module was just killed):
            # it wrote nothing, so it is no run of the chain; the next start compares with the run before
            self.ev.emit("writer_failed", resource=name, host=host, writer=writer, reason=start.stop.get("reason"))
            return
        old = self.runs.get(name, [])[-1] if self.runs.get(name) else None
        self.runs.setdefault(name, []).append(new)
        self.writers[name] = new
        self.ev.emit("writer_start", resource=name, host=host, writer=writer, after_seq=start.after_seq if start else None,
                     direct=(start.start or {}).get("direct") if start else None, note=(start.start or {}).get("note") if start else None)
        if old:
            self.pending.append({"old": old, "new": new, "transition": self.transition(old, new)})

    def transition(self, old, new):
        """How the primary changed between two writer runs: forced if a failover.yml run (finished or
        not) took it away from the old run's host, else a handover, or a restart on the same host."""
        if old["host"] == new["host"]:
            return {"kind": "restart"}
        for run in reversed(self.failovers):
            if run["start"] >= old["t"] and old["host"] in run["hosts"]:
                return {"kind": "failover", "fault_at": run["fault_at"], "failover_at": run["end"]}
        return {"kind": "handover"}

    def wait_start_line(self, run):
        for _attempt in range(10):
            text = self.lab.read_ack_log(run["host"], run["writer"])
            parsed = checker.WriterRun(text or "", run["host"])
            if parsed.start or parsed.stop:
                return parsed
            self.sleep(1)
        return None

    def stop_writer(self, name, host):
        if self.lab.stop_writer(host, name):
            self.ev.emit("writer_stop", resource=name, host=host)
        if self.writers.get(name, {}).get("host") == host:
            del self.writers[name]

    # ------------------------------------------------------------ checks
    def retry_pending(self, final=False):
        """Check each primary change once the old run's ack log is readable and the old run has ended."""
        still = []
        for item in self.pending:
            old_text = self.lab.read_ack_log(item["old"]["host"], item["old"]["writer"])
            new_text = self.lab.read_ack_log(item["new"]["host"], item["new"]["writer"])
            old = checker.WriterRun(old_text or "", item["old"]["host"])
            new = checker.WriterRun(new_text or "", item["new"]["host"])
            # the unit is per resource: a new run on the same host means the old one is gone
            ended = old.stop is not None or item["old"]["host"] == item["new"]["host"] or \
                self.lab.active_writers(item["old"]["host"], [item["new"]["resource"]]) == []
            # the new run's start line comes after its scan of the whole device, which may take a while
            if old_text is None or new_text is None or not ((ended and new.start) or final):
                still.append(item)
                continue
            step = item["transition"]
            if step["kind"] == "failover":
                samples = self.lag.get(item["new"]["resource"], {}).get(item["new"]["host"], [])
                bound = checker.replayed_bound(old, samples, step["fault_at"], old.block)
                result = checker.check_forced(old, new, step["fault_at"], step["failover_at"], bound)
            else:
                result = checker.check_planned(old, new, step["kind"])
            self.ev.emit("check", **result)
        self.pending = still

    # ------------------------------------------------------------ operations
    def run_op(self, decision):
        self.ops_this_slot += 1
        for name, host in decision.stop_writers:
            if host:
                self.stop_writer(name, host)
        kill_after, self.kill_next_run = self.kill_next_run, None
        start = self.clock()
        result = self.run_playbook(decision.playbook, decision.extra_vars, decision.reason, kill_after)
        now = self.clock()
        if decision.playbook == "failover.yml":
            hosts, lost_at = decide.lost_by(self.fleet, self.ctx, decision.extra_vars)
            since = [f["since"] for f in self.active] + [start if lost_at is None else lost_at]
            self.failovers.append({"start": start, "end": now, "hosts": hosts, "fault_at": min(since)})
        self.ctx = decide.after_run(self.ctx, decision, result.rc, result.interrupted or result.timed_out, now)

    def run_playbook(self, playbook, extra_vars, reason, kill_after=None):
        self.ops += 1
        self.ev.emit("op_start", op=self.ops, playbook=playbook, extra_vars=extra_vars, reason=reason, kill_after_s=kill_after)
        result = self.lab.playbook(playbook, extra_vars, PLAYBOOK_TIMEOUT_S.get(playbook, 1800), kill_after)
        self.ev.emit("op_end", op=self.ops, playbook=playbook, rc=result.rc, interrupted=result.interrupted, timed_out=result.timed_out,
                     seconds=round(result.seconds, 1), recap=result.recap)
        return result

    # ------------------------------------------------------------ the end
    def finish(self):
        self.ev.emit("note", text="faults stopped: undoing every fault, then the operator heals the fleet")
        for step in nemesis.reset_steps(self.layout):
            self.lab.labctl(list(step))
        self.ops_this_slot = 0
        healthy, why = self.operate(self.opts.final_s, until_healthy=True, limit=self.end)
        self.ev.emit("recovered", fault=-2, ok=healthy, reason="final: " + why)
        for name in self.fleet["resources"]:
            for host in self.fleet["resources"][name]["replicas"]:
                self.stop_writer(name, host)
        self.retry_pending(final=True)
        self.run_playbook("site.yml", {}, "after the faults: one run heals the fleet")
        result = self.run_playbook("site.yml", {}, "after the faults: a second run changes nothing")
        self.ev.emit("check", **checker.check_idempotent(result.recap))
        self.wait_settled()
        self.final_data_checks()
        self.ev.emit("check", **checker.check_info(self.infos))

    def wait_settled(self):
        end = max(self.clock() + 60, min(self.clock() + self.opts.recovery_s, self.end))
        while self.clock() < end:
            self.infos = self.lab.infos()
            if checker.check_info(self.infos)["ok"]:
                return
            self.sleep(self.opts.sample_s)

    def final_data_checks(self):
        view = decide.primary_view(self.fleet, self.infos, self.ctx)
        for name in sorted(self.fleet["resources"]):
            primary = view.get(name)
            if not primary:
                self.ev.emit("check", kind="lineage", resource=name, ok=False, findings=["%s: no primary at the end" % name])
                continue
            device = "/dev/mars/%s" % name
            scan = self.lab.scan(primary, device, self.opts.soak_id) or {}
            runs = [checker.WriterRun(self.lab.read_ack_log(r["host"], r["writer"]) or "", r["host"]) for r in self.runs.get(name, [])]
            self.ev.emit("check", **checker.check_lineage(name, scan, runs))
            size = ((self.infos.get(primary) or {}).get("resources", {}).get(name) or {}).get("size")
            if not size:
                self.ev.emit("check", kind="replicas_equal", resource=name, ok=False, findings=["%s: %s did not report the size" % (name, primary)])
                continue
            sums = {primary + ":" + device: self.lab.md5(primary, device, size)}
            for host, res in decide.member_facts(self.infos, name):
                sums[host] = self.lab.md5(host, res["disk"], size)
            self.ev.emit("check", **checker.check_replicas(name, primary + ":" + device, sums))
