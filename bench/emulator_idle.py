"""Idle CPU of the emulated kernel module against the number of hosts (issue #15).

For each fleet size N (default 3, 6, 9) the bench starts N emulated hosts on this machine the way
the emulator tests do (``tests/emulator/kernel_cluster.py``: one daemon process per host, own root
directory, listen address 127.0.0.1x, real TCP; no Podman) but with the daemon's default timings
(a main-loop pass and a pull of each peer's tree every second, as on a lab host), forms the
cluster, makes one resource per three consecutive hosts (replicated on all three, as
``fleet_scaling.py`` does), waits until the syncs are done, lets the fleet settle, then takes each
daemon's CPU time (utime + stime from ``/proc/PID/stat``) over a window: CPU seconds per wall
second per host. It also measures how long a link written on one host takes to reach every other
host (the propagation delay, which an optimisation must not make worse).

Runs as any user that can run the emulator tests (root for the FUSE trigger, a FIFO otherwise):
``.venv/bin/python bench/emulator_idle.py [--hosts 3 6 9] [--window 20] [--settle 5]``.
Writes bench/results/emulator_idle.json (emulator_idle-LABEL.json with ``--label LABEL``).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

from benchlib import REPO, Results, header, row

sys.path[:0] = [os.path.join(REPO, "tests", "emulator"), os.path.join(REPO, "tests"), os.path.join(REPO, "emulator")]

# pylint: disable=wrong-import-position
from kernel_cluster import EmuCluster, wait_until  # noqa: E402

DEFAULT_TIMINGS = ["--scan-interval", "1", "--fetch-interval", "1", "--primary-delay", "2", "--net-timeout", "5",
                   "--log-level", "INFO"]
DISK_SIZE = 8 * 1024 * 1024
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15)


def make_disk(path):
    with open(path, "wb") as handle:
        handle.truncate(DISK_SIZE)
    return path


def build(base, count):
    """A formed cluster of COUNT hosts with one synced resource per three hosts."""
    cluster = EmuCluster(base, count, extra_args=DEFAULT_TIMINGS)
    cluster.start()
    try:
        cluster.form()
        hosts = cluster.hosts
        for first in range(0, count - 2, 3):
            res = "f%d" % (first // 3 + 1)
            primary, replicas = hosts[first], hosts[first + 1:first + 3]
            primary.create_resource(res, make_disk(os.path.join(base, "disk-%s-%s" % (res, primary.name))), DISK_SIZE)
            wait_until(lambda p=primary, r=res: p.indicator(r, "is-primary") == "1", timeout=30, what="%s primary" % res)
            for host in replicas:
                wait_until(lambda h=host, p=primary, r=res: h.res(r, "replay-" + p.name), timeout=30, what="%s on %s" % (res, host.name))
                host.join_resource(res, make_disk(os.path.join(base, "disk-%s-%s" % (res, host.name))), primary)
            for host in replicas:
                wait_until(lambda h=host, r=res: h.res(r, "syncstatus-" + h.name) == str(DISK_SIZE), timeout=120,
                           what="%s synced on %s" % (res, host.name))
    except BaseException:
        cluster.stop()
        raise
    return cluster


def idle_cpu(cluster, window):
    """CPU seconds per wall second of each daemon over WINDOW seconds."""
    pids = [host.proc.pid for host in cluster.hosts]
    start_wall, start_cpu = time.monotonic(), [cpu_seconds(pid) for pid in pids]
    time.sleep(window)
    wall = time.monotonic() - start_wall
    return [(cpu_seconds(pid) - before) / wall for pid, before in zip(pids, start_cpu)]


def propagation(cluster, trials):
    """Seconds until a link written on a host is seen on every other host: (median, max) over TRIALS."""
    delays = []
    for trial in range(trials):
        source = cluster.hosts[trial % len(cluster.hosts)]
        rel = "userspace/bench-%d-%d" % (time.monotonic_ns(), trial)
        started = time.monotonic()
        source.set(rel, "1")
        for host in cluster.hosts:
            wait_until(lambda h=host: h.get(rel) == "1", timeout=30, interval=0.01, what="%s on %s" % (rel, host.name))
        delays.append(time.monotonic() - started)
        time.sleep(0.37)  # not in step with the daemons' one-second rhythm
    return statistics.median(delays), max(delays)


def tree_size(host):
    return sum(len(dirs) + len(files) for _top, dirs, files in os.walk(host.paths.mars))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[3, 6, 9])
    parser.add_argument("--window", type=float, default=20.0, help="seconds of idle CPU measurement")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to wait after the syncs before measuring")
    parser.add_argument("--trials", type=int, default=6, help="propagation measurements per fleet size")
    parser.add_argument("--label", default="", help="a name for this run: results go to emulator_idle-LABEL.json")
    parser.add_argument("--no-save", action="store_true", help="print only, do not write bench/results")
    args = parser.parse_args()
    name = "emulator_idle" + ("-" + args.label if args.label else "")
    results = Results(name, hosts=args.hosts, window=args.window, settle=args.settle, label=args.label)
    columns = [("hosts", "hosts"), ("entries", "tree entries"), ("cpu_mean", "CPU s/s per host"),
               ("cpu_max", "max per host"), ("cpu_total", "CPU s/s all"), ("prop_median", "propagation s"),
               ("prop_max", "propagation max")]
    header(columns)
    for count in args.hosts:
        with tempfile.TemporaryDirectory(prefix="emulator-idle-") as base:
            cluster = build(base, count)
            try:
                time.sleep(args.settle)
                per_host = idle_cpu(cluster, args.window)
                prop_median, prop_max = propagation(cluster, args.trials)
                values = {"hosts": count, "entries": tree_size(cluster.hosts[0]),
                          "cpu_mean": round(statistics.mean(per_host), 4), "cpu_max": round(max(per_host), 4),
                          "cpu_total": round(sum(per_host), 3), "prop_median": round(prop_median, 3),
                          "prop_max": round(prop_max, 3), "per_host_cpu": [round(c, 4) for c in per_host],
                          "load": [round(x, 2) for x in os.getloadavg()]}
            finally:
                cluster.stop()
        row(columns, {k: ("%.4f" % v if k.startswith("cpu") else v) for k, v in values.items()})
        if not args.no_save:
            results.add(**values)


if __name__ == "__main__":
    main()
