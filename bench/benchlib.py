"""What every bench shares: a named lab of its own, timed playbook runs, and the results file.

Each bench writes ``bench/results/NAME.json``: its numbers plus when, where and on which commit
they were measured (date, machine, load average before and after, git revision), so that
``bench/report.py`` can write ``bench/report.md`` and the plots from them.
"""

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "bench", "results")
ANSIBLE_PLAYBOOK = os.path.join(REPO, ".venv", "bin", "ansible-playbook")
SITE = os.path.join(REPO, "playbooks", "site.yml")
RECAP_RE = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def machine():
    """The machine the numbers belong to."""
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as handle:
        mem_kib = int(handle.readline().split()[1])
    return {"cpus": os.cpu_count(), "cpu": model, "memory_gib": round(mem_kib / 2 ** 20, 1),
            "kernel": platform.release(), "python": platform.python_version()}


def commit():
    result = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"


class Results:
    """The numbers of one bench run, saved with their context as bench/results/NAME.json."""

    def __init__(self, name, **parameters):
        self.name = name
        self.data = {"bench": name, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit(),
                     "machine": machine(), "load_before": [round(x, 2) for x in os.getloadavg()],
                     "parameters": parameters, "rows": []}

    @classmethod
    def resume(cls, name):
        """The saved results of NAME, to add rows to (their date and load stay those of the first run)."""
        results = cls(name)
        with open(os.path.join(RESULTS, name + ".json"), encoding="utf-8") as handle:
            results.data = json.load(handle)
        return results

    def add(self, **row):
        self.data["rows"].append(row)
        self.save()

    def save(self):
        self.data["load_after"] = [round(x, 2) for x in os.getloadavg()]
        os.makedirs(RESULTS, exist_ok=True)
        path = os.path.join(RESULTS, self.name + ".json")
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(self.data, handle, indent=1, sort_keys=True)
        os.replace(path + ".tmp", path)
        return path


class BenchLab:
    """A lab of the bench's own (``labctl --name NAME``), apart from the lab the tests use."""

    def __init__(self, name, hosts=3, sites=2):
        self.name, self.size, self.sites = name, hosts, sites
        self.hosts = ["%s%d" % (name, i) for i in range(1, hosts + 1)]
        self.inventory = os.path.join(REPO, "build", "inventories", name)

    def labctl(self, *args, check=True, timeout=1800):
        argv = [sys.executable, os.path.join(REPO, "lab", "labctl.py"), "--name", self.name,
                "--hosts", str(self.size), "--sites", str(self.sites)] + list(args)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise SystemExit("labctl %s failed (rc %d):\n%s%s" % (" ".join(args), result.returncode, result.stdout, result.stderr))
        return result.stdout

    def on(self, host, script, check=True):
        """Run a bash script on HOST (podman exec, not the network under test); its stdout."""
        argv = [sys.executable, os.path.join(REPO, "lab", "labctl.py"), "--name", self.name, "exec", host, "--", "bash", "-c", script]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        if check and result.returncode != 0:
            raise SystemExit("%s: '%s' failed (rc %d):\n%s%s" % (host, script[:80], result.returncode, result.stdout, result.stderr))
        return result.stdout

    def wait_synced(self, host, res):
        """Wait (on HOST itself, up to 2 minutes) until RES has nothing left to sync or replay there."""
        self.on(host, "for i in $(seq 600); do [ \"$(marsadm view-sync-rest %s)\" = 0 ] && [ \"$(marsadm view-replay-rest %s)\" = 0 ] "
                      "&& exit 0; sleep 0.2; done; exit 1" % (res, res))

    def up(self):
        self.labctl("up")

    def down(self):
        self.labctl("down", "--volumes", check=False)

    def playbook(self, path, variables=None, forks=None, extra=(), collections=None, timeout=None):
        """One ansible-playbook run on this lab: (seconds, output, executed tasks per host at most).
        Exits with its output when it fails: a bench measures working runs only. Raises
        subprocess.TimeoutExpired after TIMEOUT seconds."""
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
            yaml.safe_dump(variables or {}, handle)
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
        if collections:
            env["ANSIBLE_COLLECTIONS_PATH"] = collections
        argv = [ANSIBLE_PLAYBOOK, "-i", self.inventory, "-e", "@" + handle.name] + list(extra) + [path]
        if forks:
            argv += ["--forks", str(forks)]
        start = time.monotonic()
        try:
            result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, cwd=REPO, timeout=timeout)
        finally:
            os.unlink(handle.name)
        elapsed = time.monotonic() - start
        if result.returncode != 0:
            raise SystemExit("%s failed:\n%s" % (path, result.stdout[-4000:]))
        recap = RECAP_RE.findall(result.stdout)
        tasks = max([int(ok) + int(changed) for _host, ok, changed, _u, _f in recap] or [0])
        return elapsed, result.stdout, tasks

    def adhoc(self, host, module, args=""):
        """Wall seconds of one ad hoc module call on HOST (Ansible's start-up included); exits when it fails."""
        argv = [os.path.join(REPO, ".venv", "bin", "ansible"), "-i", self.inventory, host, "-m", module] + (["-a", args] if args else [])
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
        start = time.monotonic()
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, cwd=REPO)
        elapsed = time.monotonic() - start
        if result.returncode != 0:
            raise SystemExit("ansible %s -m %s %s failed:\n%s" % (host, module, args, result.stdout[-3000:]))
        return elapsed

    def noop(self, path, variables=None, forks=None, collections=None):
        """A run that must change nothing: (seconds, executed tasks per host)."""
        elapsed, output, tasks = self.playbook(path, variables, forks, collections=collections)
        if re.search(r"changed=[1-9]", output):
            raise SystemExit("a second run of %s changed something:\n%s" % (path, output[-3000:]))
        return elapsed, tasks


def header(columns):
    """Print the headings of COLUMNS ((key, heading) pairs) of a fixed-width table."""
    print(" ".join("%16s" % heading for _key, heading in columns), flush=True)


def row(columns, values):
    """Print one row (a dict) of the table under COLUMNS."""
    cells = [values.get(key, "") for key, _heading in columns]
    print(" ".join("%16s" % (("%.2f" % c) if isinstance(c, float) else c) for c in cells), flush=True)
