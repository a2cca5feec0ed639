"""The soak's event log: JSON lines, one event each, flushed as written (a killed soak keeps its log).

Every event has ``t`` (epoch seconds, the machine's clock, which lab hosts share) and ``type``:

* ``soak_start`` (seed, schedule, fleet), ``soak_end`` (reason);
* ``fault_start`` / ``fault_end`` (``fault``: slot index, ``name``, ``kind``, ``targets``, ``argv``);
* ``op_start`` / ``op_end`` (``op``: number, ``playbook``, ``extra_vars``, ``reason``; at the end ``rc``,
  ``interrupted``, ``recap``);
* ``sample``: ``roles`` (resource -> designated primary), ``lag`` (resource -> host -> bytes),
  ``unreachable`` (hosts);
* ``writer_start`` / ``writer_stop`` (resource, host, writer, after_seq / last_acked, reason);
* ``recovered`` (``fault``, ``ok``, ``reason``): the fleet is healthy again after a fault, or gave up;
* ``check``: a checker result (``checker.check_*``: kind, ok, findings, ...);
* ``note``: anything else worth a line in the report.
"""

import json
import time


class EventLog:
    def __init__(self, path, clock=time.time):
        self.path = path
        self.clock = clock
        self.handle = open(path, "a", encoding="utf-8")  # pylint: disable=consider-using-with

    def emit(self, type_, **fields):
        event = dict(fields, t=fields.get("t", self.clock()), type=type_)
        self.handle.write(json.dumps(event, sort_keys=True) + "\n")
        self.handle.flush()
        return event

    def close(self):
        self.handle.close()


def read_events(path):
    """The events of a log, in order; a line torn by a kill is skipped."""
    events = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events
