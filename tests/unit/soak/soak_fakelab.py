"""A stand-in for soak.lab.LabClient: a tiny model of the lab fleet, on a fake clock.

Enough to drive soak.driver end to end without Podman: hosts go down and come back with the
labctl steps, playbooks move primaries the way the real ones do, writers ack a few records per
look at the fleet and leave ack logs in recordio's format.  Replicas never lag, so no record is
lost: the soak's own checks must all pass against it.
"""

import json

from soak.lab import PlaybookRun


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += max(seconds, 0.1)


class FakeLab:
    def __init__(self, fleet, clock, per_look=5, playbook_s=30.0):
        self.fleet, self.clock, self.per_look, self.playbook_s = fleet, clock, per_look, playbook_s
        self.primary = dict((n, spec["primary"]) for n, spec in fleet["resources"].items())
        self.down = set()
        self.device = dict((n, []) for n in fleet["resources"])  # the primary's records: [(seq, writer)]
        self.writers = {}  # (host, resource) -> writer id, while running
        self.logs = {}  # writer -> lines
        self.next_seq = {}  # writer -> next seq
        self.calls = []
        self.failing_starts = []  # (host, resource): its next writer start fails in its scan (the device returns EIO)

    # ------------------------------------------------------------ the model
    def _ack(self):
        for (host, name), writer in sorted(self.writers.items()):
            for _record in range(self.per_look):
                seq = self.next_seq[writer]
                self.next_seq[writer] += 1
                if self.primary[name] == host:
                    self.device[name].append((seq, writer))
                self._line(writer, seq=seq, t=self.clock())

    def _line(self, log, **fields):
        self.logs.setdefault(log, []).append(json.dumps(fields))

    def _facts(self, name, host):
        primary = self.primary[name]
        replicas = self.fleet["resources"][name]["replicas"]
        return {"member": True, "designated_primary": primary, "is_primary": host == primary, "device_present": host == primary,
                "consistent": True, "sync_rest": 0, "fetch_rest": 0, "replay_rest": 0, "split_brain": False, "split_brain_pairs": [],
                "emergency": False, "needs_full_sync": False, "size": 67108864, "disk": "/dev/vdb",
                "hosts": dict((h, {"attached": True}) for h in replicas)}

    # ------------------------------------------------------------ LabClient
    def install_writer(self, host):
        return True

    def infos(self):
        self._ack()
        return dict((h, None if h in self.down else {
            "host": h, "cluster": {"module_loaded": True, "emergency_level": 0}, "dangers": [],
            "resources": dict((n, self._facts(n, h)) for n, spec in self.fleet["resources"].items() if h in spec["replicas"])})
            for h in sorted(self.fleet["sites"]))

    def labctl(self, args, timeout=180):
        self.apply([args])

    def apply(self, argvs):
        for args in argvs:
            self.calls.append(list(args))
            if args[0] in ("crash", "isolate", "freeze"):
                self.down.add(args[1])
                if args[0] == "crash":  # the writer dies with its host, without a stop line
                    for key in [k for k in self.writers if k[0] == args[1]]:
                        del self.writers[key]
            elif args[0] in ("start", "unisolate", "thaw"):
                self.down.discard(args[1])
        return True, None

    def playbook(self, name, extra_vars, timeout, kill_after=None):
        self.calls.append([name, extra_vars])
        if kill_after is not None:
            self.clock.sleep(kill_after)
            return PlaybookRun(name, -9, "", True, False, kill_after)
        self.clock.sleep(self.playbook_s)
        if name == "failover.yml":
            lost = [h for h, s in self.fleet["sites"].items() if s == extra_vars.get("failover_lost_site")] or [extra_vars.get("failover_lost_host")]
            for res, host in self.primary.items():
                if host in lost:
                    self.primary[res] = [h for h in self.fleet["resources"][res]["replicas"] if h not in lost][0]
        elif name == "handover.yml":
            self.primary[extra_vars["handover_resource"]] = extra_vars["handover_target"]
        recap = "".join("%s : ok=3 changed=0 unreachable=0 failed=0\n" % h for h in sorted(self.fleet["sites"]))
        return PlaybookRun(name, 0, "PLAY RECAP\n" + recap, False, False, self.playbook_s)

    def start_writer(self, host, resource, soak, writer, rate, max_seconds):
        if (host, resource) in self.failing_starts:
            self.failing_starts.remove((host, resource))
            self._line(writer, event="stop", reason="error: [Errno 5] Input/output error", last_acked=None, t=self.clock())
            return True
        records = self.device[resource]
        after, after_writer = records[-1] if records else (0, None)
        self.next_seq[writer] = after + 1
        self.writers[(host, resource)] = writer
        self._line(writer, event="start", writer=writer, host=host, resource=resource, after_seq=after, after_writer=after_writer,
                   block=4096, scan={"holes": 0, "beyond_hole": 0}, t=self.clock())
        return True

    def stop_writer(self, host, resource):
        writer = self.writers.pop((host, resource), None)
        if writer:
            last = self.next_seq[writer] - 1
            self._line(writer, event="stop", reason="signal SIGTERM", last_acked=last, t=self.clock())
        return writer is not None

    def active_writers(self, host, resources):
        return None if host in self.down else [r for r in resources if (host, r) in self.writers]

    def read_ack_log(self, host, writer):
        return None if host in self.down else "".join(line + "\n" for line in self.logs.get(writer, []))

    def scan(self, host, device, soak):
        name = device.rsplit("/", 1)[1]
        segments = []
        for seq, writer in self.device[name]:
            if segments and segments[-1]["writer"] == writer:
                segments[-1]["last"] = seq
            else:
                segments.append({"writer": writer, "first": seq, "last": seq})
        return {"window_low": 1, "contiguous_to": self.device[name][-1][0] if self.device[name] else 0, "segments": segments,
                "holes": 0, "beyond_hole": 0, "corrupt": 0, "misplaced": 0}

    def md5(self, host, device, size):
        return "same"
