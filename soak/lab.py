"""Every call the soak makes to the lab, in one class: labctl, podman cp, ansible, ansible-playbook.

Commands are argv lists.  Nothing here decides anything; a test or a dry run replaces this
class with a fake of the same methods.  Commands on lab hosts go through ``labctl exec``
(podman exec: it works while a host is cut off from the network), the operator's view through
ansible over ssh (what an operator can reach).  ``labctl exec`` costs about a second per call.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

WRITER_DIR = "/usr/local/lib/georep-soak"
WRITER = WRITER_DIR + "/recordio.py"
STATE_DIR = "/var/lib/georep-soak"
ONELINE = re.compile(r"^(\S+) \| (SUCCESS|CHANGED) => (\{.*\})\s*$")
RECAP = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", re.M)


def recap_counts(output):
    """host -> {ok, changed, unreachable, failed, ...} from a PLAY RECAP."""
    return dict((m.group(1), dict((k, int(v)) for k, v in (i.split("=") for i in m.group(2).split()))) for m in RECAP.finditer(output))


def parse_oneline(output, hosts):
    """host -> module result from ``ansible -o`` output; None for a host that failed or did not answer."""
    results = dict((h, None) for h in hosts)
    for line in output.splitlines():
        match = ONELINE.match(line)
        if match and match.group(1) in results:
            try:
                results[match.group(1)] = json.loads(match.group(3))
            except ValueError:
                pass
    return results


class PlaybookRun:
    def __init__(self, playbook, rc, output, interrupted, timed_out, seconds):
        self.playbook, self.rc, self.output = playbook, rc, output
        self.interrupted, self.timed_out, self.seconds = interrupted, timed_out, seconds
        self.recap = recap_counts(output)

    def changed(self):
        return sum(c.get("changed", 0) for c in self.recap.values())


class LabClient:
    def __init__(self, repo, lab, hosts, inventory, log_dir, vars_file=None):
        self.repo = repo
        self.lab = lab
        self.hosts = list(hosts)
        self.inventory = inventory
        self.log_dir = log_dir
        # a named lab shares inventories/lab/group_vars, whose mars_resources name mars1..3
        self.vars_args = ["-e", "@" + vars_file] if vars_file else []
        self.ansible, self.ansible_playbook = self._tool("ansible"), self._tool("ansible-playbook")
        self.runs = 0

    @staticmethod
    def _tool(name):
        """The venv's copy next to our python (make soak runs with the venv's), else the one on PATH."""
        path = os.path.join(os.path.dirname(sys.executable), name)
        return path if os.path.exists(path) else name

    # ------------------------------------------------------------ plumbing
    def _env(self):
        # ServerAlive and the task timeout: a frozen host must not hang a whole round of info calls.
        return dict(os.environ, ANSIBLE_CONFIG=os.path.join(self.repo, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                    ANSIBLE_SSH_ARGS="-C -o ControlMaster=auto -o ControlPersist=60s -o ServerAliveInterval=5 -o ServerAliveCountMax=2",
                    CONTAINERS_CONF=os.path.join(self.repo, "lab", "containers.conf"))

    def labctl(self, args, timeout=180):
        argv = [sys.executable, os.path.join(self.repo, "lab", "labctl.py")] + (["--name", self.lab] if self.lab != "lab" else []) + list(args)
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.repo)
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(argv, -9, exc.stdout or "", "timed out after %d s" % timeout)

    def exec(self, host, argv, timeout=120):
        return self.labctl(["exec", host, "--"] + list(argv), timeout=timeout)

    def copy_to(self, host, src, dst):
        self.exec(host, ["mkdir", "-p", os.path.dirname(dst)])
        result = subprocess.run(["podman", "cp", src, "%s:%s" % (host, dst)], capture_output=True, text=True, timeout=60,
                                check=False, env=self._env())
        return result.returncode == 0

    def _run_group(self, argv, timeout, log_name, kill_after=None, env=None):
        """Run ansible(-playbook) in its own process group; SIGKILL the group after ``kill_after`` or ``timeout``."""
        path = os.path.join(self.log_dir, log_name)
        started = time.time()
        killed = timed_out = False
        with open(path, "w", encoding="utf-8") as out:
            # pylint: disable-next=consider-using-with
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.repo, env=dict(self._env(), **(env or {})),
                                    start_new_session=True)
            while proc.poll() is None:
                elapsed = time.time() - started
                if kill_after is not None and elapsed >= kill_after:
                    killed = True
                elif elapsed >= timeout:
                    timed_out = True
                if killed or timed_out:
                    os.killpg(proc.pid, signal.SIGKILL)  # the controller and its workers: the group we started
                    proc.wait()
                    break
                time.sleep(0.5)
        with open(path, encoding="utf-8") as handle:
            return proc.returncode, handle.read(), killed, timed_out, time.time() - started

    # ------------------------------------------------------------ ansible
    def infos(self, timeout=90):
        """host -> georep.mars.info result, None where ssh or the module failed."""
        argv = [self.ansible, "-i", self.inventory, "mars", "-m", "georep.mars.info", "-o", "-T", "10"]
        _rc, output, _k, _t, _s = self._run_group(argv, timeout, "info.log", env={"ANSIBLE_TASK_TIMEOUT": "30"})
        return parse_oneline(output, self.hosts)

    def playbook(self, name, extra_vars, timeout, kill_after=None):
        self.runs += 1
        argv = [self.ansible_playbook, "-i", self.inventory, os.path.join("playbooks", name)] + self.vars_args
        if extra_vars:
            argv += ["-e", json.dumps(extra_vars)]
        rc, output, killed, timed_out, seconds = self._run_group(argv, timeout, "run-%03d-%s.log" % (self.runs, name.replace(".yml", "")),
                                                                 kill_after)
        return PlaybookRun(name, rc, output, killed, timed_out, seconds)

    # ------------------------------------------------------------ faults
    def apply(self, argvs):
        """Run a fault's labctl steps; (ok, last error)."""
        error = None
        for args in argvs:
            result = self.labctl(list(args))
            if result.returncode != 0:
                error = "labctl %s: rc %d %s" % (" ".join(args), result.returncode, (result.stderr or "").strip()[-300:])
        return error is None, error

    # ------------------------------------------------------------ writers
    @staticmethod
    def unit(resource):
        return "georep-soak-writer-%s" % resource

    @staticmethod
    def ack_path(writer):
        return "%s/ack-%s.jsonl" % (STATE_DIR, writer)

    def install_writer(self, host):
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recordio.py")
        return self.copy_to(host, here, WRITER) and self.exec(host, ["mkdir", "-p", STATE_DIR]).returncode == 0

    def start_writer(self, host, resource, soak, writer, rate, max_seconds):
        """The writer as a transient systemd unit on the host: it outlives our exec, stops on SIGTERM."""
        unit = self.unit(resource)
        self.exec(host, ["systemctl", "reset-failed", unit])
        result = self.exec(host, ["systemd-run", "--unit", unit, "--collect", "--quiet", "python3", WRITER, "write",
                                  "/dev/mars/%s" % resource, "--resource", resource, "--soak", soak, "--writer", writer,
                                  "--ack-log", self.ack_path(writer), "--rate", str(rate), "--max-seconds", str(int(max_seconds))])
        return result.returncode == 0

    def stop_writer(self, host, resource):
        return self.exec(host, ["systemctl", "stop", self.unit(resource)]).returncode == 0

    def active_writers(self, host, resources):
        """The resources whose writer unit is active on ``host``; None when the host cannot be asked."""
        result = self.exec(host, ["systemctl", "is-active"] + [self.unit(r) for r in resources])
        states = result.stdout.split()
        if len(states) != len(resources):
            return None
        return [r for r, s in zip(resources, states) if s == "active"]

    def read_ack_log(self, host, writer):
        result = self.exec(host, ["cat", self.ack_path(writer)])
        return result.stdout if result.returncode == 0 else None

    def _json(self, host, argv, timeout=300):
        result = self.exec(host, argv, timeout=timeout)
        try:
            return json.loads(result.stdout) if result.returncode == 0 else None
        except ValueError:
            return None

    def scan(self, host, device, soak):
        return self._json(host, ["python3", WRITER, "scan", device, "--soak", soak])

    def md5(self, host, device, size):
        return (self._json(host, ["python3", WRITER, "md5", device, "--size", str(size)]) or {}).get("md5")
