# -*- coding: utf-8 -*-
# Copyright: georep.mars developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write MARS metrics of this host in the Prometheus textfile format.

Reads the /mars symlink tree directly (no marsadm, no kernel module needed): every entry is a
symlink whose value is the value; a value of ``.deleted`` means "absent". Runs from a systemd
timer and replaces the output file atomically, so node-exporter never reads half a file.

Lag is counted in bytes of transaction log: the designated primary's end of log, taken from
its replay link, minus how far this host has fetched (fetch lag) and replayed (lag). Logfile
lengths come from the writers' version links, else from the local logfile's size.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import time

DELETED = ".deleted"
LOGFILE_RE = re.compile(r"^log-([0-9]+)-(.+)$")
VERSION_RE = re.compile(r"^version-([0-9]+)-(.+)$")
REPLAY_RE = re.compile(r"^log-([0-9]+)-([^,]+),([0-9]+),([0-9]+)$")


def read_link(path):
    """The value of a MARS link, or None when it is missing or deleted."""
    try:
        value = os.readlink(path)
    except OSError:
        return None
    return None if value == DELETED else value


def read_int(path, default=None):
    value = read_link(path)
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def read_lamport(path):
    """A ``sec.nsec`` link value as float seconds, or None."""
    value = read_link(path)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def mars_hostname():
    """The MARS host name: ``uname -n`` up to the first dot, as marsadm uses it."""
    return socket.gethostname().split(".")[0]


def parse_replay(value):
    """``log-NNN-ORIGIN,POS,LEN`` to (nr, origin, pos, len), or None."""
    match = REPLAY_RE.match(value or "")
    if not match:
        return None
    return int(match.group(1)), match.group(2), int(match.group(3)), int(match.group(4))


class Resource:
    """What this host can tell about one resource from its copy of the tree."""

    def __init__(self, mars_dir, name, host):
        self.name = name
        self.host = host
        self.dir = os.path.join(mars_dir, "resource-" + name)
        self.entries = sorted(os.listdir(self.dir))

    def link(self, *parts):
        return read_link(os.path.join(self.dir, *parts))

    def flag(self, *parts):
        return 1 if self.link(*parts) == "1" else 0

    def logfiles(self):
        """{nr: [(origin, local size)]} of the logfiles present here."""
        logs = {}
        for entry in self.entries:
            match = LOGFILE_RE.match(entry)
            path = os.path.join(self.dir, entry)
            if match and not os.path.islink(path) and os.path.isfile(path):
                logs.setdefault(int(match.group(1)), []).append((match.group(2), os.path.getsize(path)))
        return logs

    def versions(self):
        """{nr: {host: (logfile name, length)}} from the version-NNN-HOST links."""
        versions = {}
        for entry in self.entries:
            match = VERSION_RE.match(entry)
            if not match:
                continue
            value = self.link(entry)
            if not value:
                continue
            fields = value.split(":", 1)[0].split(",")
            if len(fields) >= 3 and fields[2].isdigit():
                versions.setdefault(int(match.group(1)), {})[match.group(2)] = (fields[1], int(fields[2]))
        return versions

    def split_brain(self, logs, versions):
        """1 when two hosts disagree about a logfile of the same number (or the kernel says so)."""
        for names in logs.values():
            if len({origin for origin, unused_size in names}) > 1:
                return 1
        for by_host in versions.values():
            if len({name for name, unused_length in by_host.values()}) > 1:
                return 1
        return 1 if self.message("err-splitbrain-detected") else 0

    def message(self, key):
        value = self.link("actual-" + self.host, "msg-" + key)
        return value is not None and value != "OK"

    def log_length(self, nr, origin, logs, versions):
        """Length of logfile nr as its writer published it, else its local size."""
        written = versions.get(nr, {}).get(origin)
        if written and written[0] == "log-%09d-%s" % (nr, origin):
            return written[1]
        local = dict(logs.get(nr, []))
        return local.get(origin, 0)

    def lags(self, primary, logs, versions):
        """(lag, fetch lag) in bytes behind the designated primary, or (None, None)."""
        mine = parse_replay(self.link("replay-" + self.host))
        theirs = parse_replay(self.link("replay-" + primary)) if primary else None
        if mine is None or theirs is None:
            return None, None
        if primary == self.host:
            return 0, 0
        my_nr, my_pos = mine[0], mine[2]
        end_nr, end_origin, end_pos = theirs[0], theirs[1], theirs[2]
        if (my_nr, my_pos) >= (end_nr, end_pos):
            return 0, 0
        lag = end_pos - my_pos if my_nr == end_nr else 0
        fetched_behind = 0
        for nr in range(my_nr, end_nr + 1):
            origin = end_origin if nr == end_nr else self._origin_of(nr, logs, versions)
            length = end_pos if nr == end_nr else self.log_length(nr, origin, logs, versions)
            if my_nr != end_nr:
                lag += length - (my_pos if nr == my_nr else 0)
            local = dict(logs.get(nr, [])).get(origin, 0)
            fetched_behind += max(length - local, 0)
        return max(lag, 0), fetched_behind

    @staticmethod
    def _origin_of(nr, logs, versions):
        if logs.get(nr):
            return logs[nr][0][0]
        for name, unused_length in versions.get(nr, {}).values():
            match = LOGFILE_RE.match(name)
            if match:
                return match.group(2)
        return ""

    def metrics(self):
        """[(metric name, extra labels, value)] for this host and resource."""
        actual = "actual-" + self.host
        size = read_int(os.path.join(self.dir, "size"), 0)
        designated = self.link("primary")
        designated = None if designated in (None, "(none)") else designated
        member = 1 if self.link("data-" + self.host) is not None or self.link("replay-" + self.host) is not None else 0
        is_primary = self.flag(actual, "is-primary")
        synced = read_int(os.path.join(self.dir, "syncstatus-" + self.host), 0)
        logs, versions = self.logfiles(), self.versions()
        lag, fetch_lag = self.lags(designated, logs, versions)
        role = "primary" if is_primary else ("secondary" if member else "none")
        errors = sum(1 for entry in os.listdir(os.path.join(self.dir, actual)) if entry.startswith("msg-err-")
                     and self.link(actual, entry) not in (None, "OK")) if os.path.isdir(os.path.join(self.dir, actual)) else 0
        out = [
            ("mars_resource_info", {"role": role, "designated_primary": designated or "(none)"}, 1),
            ("mars_resource_member", {}, member),
            ("mars_resource_primary", {}, is_primary),
            ("mars_resource_designated_primary", {}, 1 if designated == self.host else 0),
            ("mars_resource_size_bytes", {}, size),
            ("mars_resource_sync_done_bytes", {}, synced),
            ("mars_resource_sync_progress_ratio", {}, round(min(synced / size, 1.0), 6) if size else 0),
            ("mars_resource_syncing", {}, self.flag(actual, "is-syncing")),
            ("mars_resource_fetching", {}, self.flag(actual, "is-copying")),
            ("mars_resource_replaying", {}, self.flag(actual, "is-replaying")),
            ("mars_resource_attached", {}, self.flag(actual, "is-attached")),
            ("mars_resource_device_up", {}, self.flag(actual, "if-on")),
            ("mars_resource_split_brain", {}, self.split_brain(logs, versions)),
            ("mars_resource_emergency", {}, max(self.flag(actual, "has-emergency"), self.flag(actual, "is-emergency"))),
            ("mars_resource_log_gap", {}, 1 if self.message("err-log-not-contiguous") or self.message("wrn-log-consecutive") else 0),
            ("mars_resource_error_messages", {}, errors),
        ]
        if lag is not None:
            out.append(("mars_resource_lag_bytes", {}, lag))
            out.append(("mars_resource_fetch_lag_bytes", {}, fetch_lag))
            out.append(("mars_resource_replay_lag_bytes", {}, max(lag - fetch_lag, 0)))
        return out


HELP = {
    "mars_up": "1 when the MARS tree could be read (a cluster exists on this host).",
    "mars_exporter_timestamp_seconds": "When these metrics were written.",
    "mars_emergency_level": "Global emergency level of this host (0 none .. 4 primaries stop logging).",
    "mars_rest_space_gib": "Free space in /mars as the kernel reports it (GiB).",
    "mars_total_space_gib": "Size of /mars as the kernel reports it (GiB).",
    "mars_fs_size_bytes": "Size of the /mars filesystem.",
    "mars_fs_avail_bytes": "Bytes available in the /mars filesystem.",
    "mars_peer_alive_age_seconds": "Seconds since the peer's actual-PEER/time (its last sign of life here).",
    "mars_resource_info": "Role of this host (primary, secondary, none) and the designated primary.",
    "mars_resource_member": "1 when this host stores the resource (data-HOST).",
    "mars_resource_primary": "1 when this host is actually primary (actual-HOST/is-primary).",
    "mars_resource_designated_primary": "1 when the primary link names this host.",
    "mars_resource_size_bytes": "Logical size of the resource.",
    "mars_resource_sync_done_bytes": "Bytes of the full sync done (syncstatus-HOST).",
    "mars_resource_sync_progress_ratio": "Full sync progress, 0..1.",
    "mars_resource_syncing": "1 while a full sync runs.",
    "mars_resource_fetching": "1 while logfiles are fetched.",
    "mars_resource_replaying": "1 while logfiles are replayed.",
    "mars_resource_attached": "1 when the backing disk is attached.",
    "mars_resource_device_up": "1 when /dev/mars/<resource> is up.",
    "mars_resource_split_brain": "1 when logfiles or version links of one number disagree (split brain).",
    "mars_resource_emergency": "1 when the resource is in emergency mode (transaction logging stopped).",
    "mars_resource_log_gap": "1 when the logfile sequence has a gap: after an emergency, secondaries need a full sync (invalidate).",
    "mars_resource_error_messages": "Number of msg-err-* indicators that are not OK.",
    "mars_resource_lag_bytes": "Bytes of transaction log this host has not applied yet, behind the designated primary.",
    "mars_resource_fetch_lag_bytes": "Bytes of transaction log not yet fetched from the designated primary.",
    "mars_resource_replay_lag_bytes": "Bytes fetched but not yet replayed.",
}


def escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(samples):
    """Prometheus text format: HELP and TYPE once per metric, samples grouped by metric."""
    lines = []
    by_name = {}
    for name, labels, value in samples:
        by_name.setdefault(name, []).append((labels, value))
    for name in sorted(by_name):
        lines.append("# HELP %s %s" % (name, HELP.get(name, name)))
        lines.append("# TYPE %s gauge" % name)
        for labels, value in by_name[name]:
            label_text = ",".join('%s="%s"' % (key, escape(val)) for key, val in sorted(labels.items()))
            lines.append("%s{%s} %s" % (name, label_text, value) if label_text else "%s %s" % (name, value))
    return "\n".join(lines) + "\n"


def collect(mars_dir, host, now):
    """Every sample for this host."""
    samples = [("mars_exporter_timestamp_seconds", {}, round(now, 3))]
    uuid = read_link(os.path.join(mars_dir, "uuid"))
    samples.append(("mars_up", {}, 1 if uuid else 0))
    try:
        stat = os.statvfs(mars_dir)
        samples.append(("mars_fs_size_bytes", {}, stat.f_blocks * stat.f_frsize))
        samples.append(("mars_fs_avail_bytes", {}, stat.f_bavail * stat.f_frsize))
    except OSError:
        pass
    actual = os.path.join(mars_dir, "actual-" + host)
    for name, entry in (("mars_emergency_level", "emergency"), ("mars_rest_space_gib", "rest-space"),
                        ("mars_total_space_gib", "total-space")):
        value = read_int(os.path.join(actual, entry))
        if value is not None:
            samples.append((name, {}, value))
    try:
        entries = sorted(os.listdir(mars_dir))
    except OSError:
        entries = []
    for entry in entries:
        if entry.startswith("ips"):
            continue
        if entry.startswith("actual-") and entry != "actual-" + host:
            stamp = read_lamport(os.path.join(mars_dir, entry, "time"))
            if stamp is not None:
                samples.append(("mars_peer_alive_age_seconds", {"peer": entry[len("actual-"):]}, round(max(now - stamp, 0), 3)))
    for entry in entries:
        if not entry.startswith("resource-") or not os.path.isdir(os.path.join(mars_dir, entry)):
            continue
        resource = Resource(mars_dir, entry[len("resource-"):], host)
        for name, labels, value in resource.metrics():
            labels = dict(labels, resource=resource.name)
            samples.append((name, labels, value))
    return [(name, dict(labels, host=host), value) for name, labels, value in samples]


def write_atomically(path, text):
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mars-dir", default="/mars", help="the MARS tree (default /mars)")
    parser.add_argument("--host", default=None, help="MARS host name (default: uname -n up to the first dot)")
    parser.add_argument("--output", default="-", help="textfile to write atomically, or - for stdout")
    parser.add_argument("--now", type=float, default=None, help="current time in seconds (tests)")
    args = parser.parse_args(argv)
    host = args.host or mars_hostname()
    now = args.now if args.now is not None else time.time()
    text = render(collect(args.mars_dir, host, now))
    if args.output == "-":
        sys.stdout.write(text)
    else:
        write_atomically(args.output, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
