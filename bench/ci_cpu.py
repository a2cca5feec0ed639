"""Where the CPU of a CI run goes: every process that ran, containers included, by command name.

CI's time on 2 cores is the CPU its steps need (both cores are busy from its first minute to its
last), so a cut in CI time is a cut in CPU somewhere. This bench runs a command, by default
``.ci/run`` in a fresh clone of HEAD (as CI does), with BSD process accounting (acct(2)) on: the
kernel writes a record for every process that exits, in any PID namespace, so the Ansible modules
on the lab hosts and the emulated MARS daemons are counted too. It prints the CPU seconds (user +
system) and the number of processes per command name, the wall time, and the machine's total CPU
(cgroup ``cpuacct.usage``), which also holds the kernel's own work.

How to read the names: ``ansible-playboo`` is the controller (playbook and its workers),
``python3.11`` the Ansible modules on the hosts (the interpreter Ansible finds there), ``python3``
the emulator daemons, emulated marsadm and the lab's helpers, ``python`` the test runners of the
venv (pytest workers, Molecule, ansible-test).

Run as root, with nothing else on the machine: ``.venv/bin/python bench/ci_cpu.py [-- CMD ...]``.
Writes bench/results/ci_cpu.json. Process accounting is machine-wide: a second run at the same time
would stop this one's.
"""

import argparse
import collections
import ctypes
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

from benchlib import REPO, Results, header, row

RECORD = struct.Struct("<BBHIIIIIIf8H16s")  # struct acct_v3 (linux/acct.h)
AHZ = 100  # the unit of the comp_t times
CPUACCT = "/sys/fs/cgroup/cpuacct/cpuacct.usage"


def comp_t(value):
    """A comp_t (13-bit mantissa, 3-bit base-8 exponent) in seconds."""
    return ((value & 0x1FFF) << (3 * (value >> 13))) / AHZ


def read_accounting(path):
    """CPU seconds and process count per command name."""
    per_command = collections.defaultdict(lambda: [0.0, 0])
    with open(path, "rb") as handle:
        data = handle.read()
    for fields in RECORD.iter_unpack(data[:len(data) - len(data) % RECORD.size]):
        name = fields[18].split(b"\0")[0].decode(errors="replace")
        per_command[name][0] += comp_t(fields[10]) + comp_t(fields[11])
        per_command[name][1] += 1
    return per_command


def machine_cpu_seconds():
    if os.path.exists(CPUACCT):
        with open(CPUACCT, encoding="ascii") as handle:
            return int(handle.read()) / 1e9
    with open("/proc/stat", encoding="ascii") as handle:
        ticks = [int(x) for x in handle.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def acct(path):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.acct(path.encode() if path else None) != 0:
        raise OSError(ctypes.get_errno(), "acct(%s): %s" % (path, os.strerror(ctypes.get_errno())))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--top", type=int, default=25, help="command names to print (default 25)")
    parser.add_argument("command", nargs="*", help="what to run (default: .ci/run in a fresh clone of HEAD)")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="ci-cpu-")
    log = os.path.join(work, "run.log")
    accounting = os.path.join(work, "pacct")
    command, cwd = args.command, REPO
    if not command:
        cwd = os.path.join(work, "repo")
        subprocess.run(["git", "clone", "-q", REPO, cwd], check=True)
        command = [".ci/run"]
    open(accounting, "wb").close()
    results = Results("ci_cpu", command=" ".join(command))
    acct(accounting)
    cpu_before, started = machine_cpu_seconds(), time.monotonic()
    try:
        with open(log, "wb") as output:
            returncode = subprocess.run(command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, check=False).returncode
    finally:
        acct(None)
    wall, machine_cpu = time.monotonic() - started, machine_cpu_seconds() - cpu_before
    per_command = read_accounting(accounting)
    counted = sum(cpu for cpu, _n in per_command.values())
    print("%s: exit %d, wall %.0f s, machine CPU %.0f s (%.2f of %d cores), processes' CPU %.0f s"
          % (" ".join(command), returncode, wall, machine_cpu, machine_cpu / wall, os.cpu_count(), counted))
    columns = [("cpu_s", "CPU s"), ("share", "share %"), ("processes", "processes"), ("command", "command")]
    rows = [{"command": name, "cpu_s": round(cpu, 1), "share": round(100 * cpu / (counted or 1), 1), "processes": count}
            for name, (cpu, count) in sorted(per_command.items(), key=lambda item: -item[1][0])[:args.top]]
    header(columns)
    for values in rows:
        row(columns, values)
    results.data.update(returncode=returncode, wall_s=round(wall), machine_cpu_s=round(machine_cpu),
                        processes_cpu_s=round(counted), rows=rows)
    print("results:", results.save(), "; the run's log:", log)
    if not args.command:
        shutil.rmtree(cwd, ignore_errors=True)
    return 0 if returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
