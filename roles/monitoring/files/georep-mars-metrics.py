# -*- coding: utf-8 -*-
# Copyright: georep.mars developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write MARS metrics of this host in the Prometheus textfile format.

Reads the /mars symlink tree directly (no marsadm, no kernel module needed) with the reader the
georep.mars modules use: tree.py (MarsTree, one walk of /mars) and state.py (ClusterState and
ResourceState, the marsadm view-* semantics). The monitoring role installs both beside this
script; in the collection they are plugins/module_utils. So every answer - role, designated
primary, split brain, fetch/replay/sync rest, consistency, emergency, needs-full-sync - is the one
georep.mars.info gives for the same tree, and an alert cannot contradict the playbooks.

Runs from a systemd timer and replaces the output file atomically, so node-exporter never reads
half a file.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.realpath(__file__))
# Where tree.py and state.py are: beside this script on a host; in the collection (a checkout or
# an installed collection) in plugins/module_utils, three levels above roles/monitoring/files.
READER_DIRS = (HERE, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), "plugins", "module_utils"))
for _directory in READER_DIRS:
    if all(os.path.isfile(os.path.join(_directory, name)) for name in ("tree.py", "state.py")):
        sys.path.insert(0, _directory)
        break
_BYTECODE, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ left beside the script
try:
    from state import ClusterState  # noqa: E402 pylint: disable=wrong-import-position
    from tree import MARS_DIR, MarsTree  # noqa: E402 pylint: disable=wrong-import-position
except ImportError as _error:
    sys.exit("georep-mars-metrics: cannot import the /mars reader (%s): tree.py and state.py of the "
             "georep.mars collection (plugins/module_utils) must be beside %s; the georep.mars.monitoring "
             "role installs them there" % (_error, os.path.realpath(__file__)))
sys.dont_write_bytecode = _BYTECODE

# Seconds within which a peer counts as alive, as georep.mars.info's default (no metric here
# depends on it; mars_peer_alive_age_seconds gives the age itself).
WINDOW = 60


def mars_hostname():
    """The MARS host name: ``uname -n`` up to the first dot, as marsadm uses it."""
    return socket.gethostname().split(".")[0]


def flag(value):
    return 1 if value else 0


def resource_samples(res, host):
    """[(metric name, extra labels, value)] of one resource on this host.

    The values are georep.mars.info's facts of the resource (ResourceState.to_dict) and, for the
    raw kernel indicators info does not return, the same ResourceState.
    """
    facts = res.to_dict(host)
    size = facts["size"] or 0
    synced = size - facts["sync_rest"]
    out = [
        ("mars_resource_info", {"role": facts["role"], "designated_primary": facts["designated_primary"] or "(none)"}, 1),
        ("mars_resource_member", {}, flag(facts["member"])),
        ("mars_resource_primary", {}, flag(facts["is_primary"])),
        ("mars_resource_designated_primary", {}, flag(facts["designated_primary"] == host)),
        ("mars_resource_size_bytes", {}, size),
        ("mars_resource_sync_done_bytes", {}, synced),
        ("mars_resource_sync_progress_ratio", {}, round(synced / size, 6) if size else 0),
        ("mars_resource_syncing", {}, flag(res.indicator(host, "is-syncing"))),
        ("mars_resource_fetching", {}, flag(res.indicator(host, "is-copying"))),
        ("mars_resource_replaying", {}, flag(res.indicator(host, "is-replaying"))),
        ("mars_resource_attached", {}, flag(res.is_attached(host))),
        ("mars_resource_device_up", {}, flag(facts["device_present"])),
        ("mars_resource_consistent", {}, flag(facts["consistent"])),
        ("mars_resource_split_brain", {}, flag(facts["split_brain"])),
        ("mars_resource_emergency", {}, flag(facts["emergency"])),
        ("mars_resource_log_gap", {}, flag(facts["needs_full_sync"])),
        ("mars_resource_error_messages", {}, len(facts["errors"])),
    ]
    if facts["member"]:
        out.append(("mars_resource_lag_bytes", {}, facts["fetch_rest"] + facts["replay_rest"]))
        out.append(("mars_resource_fetch_lag_bytes", {}, facts["fetch_rest"]))
        out.append(("mars_resource_replay_lag_bytes", {}, facts["replay_rest"]))
    return out


# The info facts each metric carries are named in brackets.
HELP = {
    "mars_up": ("1 when a cluster exists on this host: /mars/uuid is set and not the join placeholder"
                " (georep.mars.info cluster.uuid)."),
    "mars_exporter_timestamp_seconds": "When these metrics were written.",
    "mars_emergency_level": ("Global emergency level of this host, 0 none .. 4 primaries stop logging"
                             " (georep.mars.info cluster.emergency_level)."),
    "mars_rest_space_gib": ("Free space in /mars as the kernel reports it, GiB"
                            " (georep.mars.info cluster.hosts.HOST.rest_space_gb)."),
    "mars_total_space_gib": "Size of /mars as the kernel reports it, GiB (georep.mars.info cluster.hosts.HOST.total_space_gb).",
    "mars_fs_size_bytes": "Size of the /mars filesystem.",
    "mars_fs_avail_bytes": "Bytes available in the /mars filesystem.",
    "mars_peer_alive_age_seconds": ("Seconds since the peer's actual-PEER/time, its last sign of life here"
                                    " (georep.mars.info: alive while below the window)."),
    "mars_resource_info": ("Role of this host (primary, secondary, none) and the designated primary"
                           " (georep.mars.info role, designated_primary)."),
    "mars_resource_member": "1 when this host stores the resource: data-HOST or replay-HOST (georep.mars.info member).",
    "mars_resource_primary": "1 when this host is actually primary: actual-HOST/is-primary (georep.mars.info is_primary).",
    "mars_resource_designated_primary": "1 when the primary link names this host (georep.mars.info designated_primary).",
    "mars_resource_size_bytes": "Logical size of the resource (georep.mars.info size).",
    "mars_resource_sync_done_bytes": "Bytes of the full sync done: size minus sync rest (georep.mars.info size - sync_rest).",
    "mars_resource_sync_progress_ratio": "Full sync progress, 0..1 (georep.mars.info sync_percent / 100).",
    "mars_resource_syncing": "1 while a full sync runs (actual-HOST/is-syncing).",
    "mars_resource_fetching": "1 while logfiles are fetched (actual-HOST/is-copying).",
    "mars_resource_replaying": "1 while logfiles are replayed (actual-HOST/is-replaying).",
    "mars_resource_attached": "1 when the backing disk is attached (georep.mars.info hosts.HOST.attached).",
    "mars_resource_device_up": "1 when /dev/mars/<resource> is up (georep.mars.info device_present).",
    "mars_resource_consistent": ("1 when this host's data is consistent, marsadm view-is-consistent"
                                 " (georep.mars.info consistent)."),
    "mars_resource_split_brain": ("1 when the members' logfile histories diverged, marsadm view-is-split-brain"
                                  " (georep.mars.info split_brain)."),
    "mars_resource_emergency": ("1 when the resource is in emergency mode, marsadm view-is-emergency"
                                " (georep.mars.info emergency)."),
    "mars_resource_log_gap": ("1 when this host needs a full sync (invalidate): the logfile sequence has a hole after an emergency"
                              " (georep.mars.info needs_full_sync)."),
    "mars_resource_error_messages": "Number of msg-err-* indicators that are not OK (georep.mars.info errors).",
    "mars_resource_lag_bytes": ("Bytes of transaction log this host has not applied yet: fetch rest plus replay rest"
                                " (georep.mars.info fetch_rest + replay_rest)."),
    "mars_resource_fetch_lag_bytes": ("Bytes of transaction log not yet fetched, marsadm view-fetch-rest"
                                      " (georep.mars.info fetch_rest)."),
    "mars_resource_replay_lag_bytes": ("Bytes fetched but not yet replayed, marsadm view-replay-rest"
                                       " (georep.mars.info replay_rest)."),
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


def peers_seen(tree, host):
    """Hosts other than this one that have an ``actual-HOST`` directory here."""
    return sorted(rel[len("actual-"):] for rel in tree.dirs
                  if "/" not in rel and rel.startswith("actual-") and rel != "actual-" + host)


def collect(mars_dir, host, now):
    """Every sample for this host."""
    tree = MarsTree.read(mars_dir)
    cluster = ClusterState(tree, host, now, WINDOW)
    samples = [("mars_exporter_timestamp_seconds", {}, round(now, 3)),
               ("mars_up", {}, flag(cluster.uuid))]
    try:
        stat = os.statvfs(mars_dir)
        samples.append(("mars_fs_size_bytes", {}, stat.f_blocks * stat.f_frsize))
        samples.append(("mars_fs_avail_bytes", {}, stat.f_bavail * stat.f_frsize))
    except OSError:
        pass
    for name, value in (("mars_emergency_level", cluster.global_emergency(host, None)),
                        ("mars_rest_space_gib", cluster.rest_space_gb(host)),
                        ("mars_total_space_gib", cluster.total_space_gb(host))):
        if value is not None:
            samples.append((name, {}, value))
    for peer in peers_seen(tree, host):
        stamp = cluster.last_seen(peer)
        if stamp is not None:
            samples.append(("mars_peer_alive_age_seconds", {"peer": peer}, round(max(now - stamp, 0), 3)))
    for name in cluster.resource_names():
        for metric, labels, value in resource_samples(cluster.resource(name), host):
            samples.append((metric, dict(labels, resource=name), value))
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
    parser.add_argument("--mars-dir", default=MARS_DIR, help="the MARS tree (default %(default)s)")
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
