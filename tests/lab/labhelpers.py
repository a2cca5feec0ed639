"""Helpers for tests on the Podman lab: run lab commands, run commands on lab hosts, wait."""

import os
import re
import subprocess
import sys

import yaml

import polling
from labctl import Lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# the committed link ansible_collections/georep/mars -> the work tree
COLLECTIONS = os.path.join(REPO, "playbooks", "collections")
LABCTL = [sys.executable, os.path.join(REPO, "lab", "labctl.py")]
PODMAN_ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(REPO, "lab", "containers.conf"))  # as labctl runs podman
HOSTS = ("mars1", "mars2", "mars3")


def labctl(*args, check=True, timeout=180, lab=None):
    """Run a lab command (on lab LAB, default: the default lab); return the CompletedProcess."""
    argv = LABCTL + (["--name", lab] if lab and lab != "lab" else []) + list(args)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError("labctl %s failed: rc=%d %s" % (" ".join(args), result.returncode, result.stderr))
    return result


def on(host, command, check=True, timeout=120, lab=None):
    """Run a shell command on a lab host (through podman exec, not the network under test).

    Straight to podman, not through ``labctl exec``: the lab tests run thousands of commands, and a
    labctl process for each cost 0.23 CPU s instead of 0.14 on the two cores every step shares."""
    prefix = Lab(name=lab or "lab").prefix
    if not re.fullmatch(re.escape(prefix) + r"[0-9]+", host):
        raise AssertionError("%s is not a host of lab %s (hosts %s1, %s2, ...)" % (host, lab or "lab", prefix, prefix))
    result = subprocess.run(["podman", "exec", host, "bash", "-c", command], capture_output=True, text=True,
                            timeout=timeout, check=False, env=PODMAN_ENV)
    if check and result.returncode != 0:
        raise AssertionError("%s: '%s' failed: rc=%d\n%s%s" % (host, command, result.returncode, result.stdout, result.stderr))
    return result


def wait_until(predicate, timeout=60.0, what="condition", interval=0.5):
    """polling.wait_until for a condition read from lab hosts: each poll costs podman execs (0.14 CPU s
    each, and caught_up-like predicates run five), so the pause grows from INTERVAL up to 2 s."""
    return polling.wait_until(predicate, timeout, what, interval, max_interval=2.0)


def lab_fleet(prefix):
    """The resources of inventories/lab, with the host names of the lab whose hosts are PREFIX1..3."""
    with open(os.path.join(REPO, "inventories", "lab", "group_vars", "all.yml"), encoding="utf-8") as handle:
        resources = yaml.safe_load(handle)["mars_resources"]
    for resource in resources:
        resource["replicas"] = [h.replace("mars", prefix) for h in resource["replicas"]]
        resource["preferred_primaries"] = [h.replace("mars", prefix) for h in resource.get("preferred_primaries", [])]
        resource["primary"] = resource["primary"].replace("mars", prefix)
    return resources


RECAP_RE = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", re.M)


class Run:
    """One ansible-playbook run: its rc, its output and the counts of its PLAY RECAP by host."""

    def __init__(self, name, rc, output):
        self.name, self.rc, self.output = name, rc, output
        self.recap = {m.group(1): dict((k, int(v)) for k, v in (i.split("=") for i in m.group(2).split()))
                      for m in RECAP_RE.finditer(output)}

    def changed(self):
        return sum(counts["changed"] for counts in self.recap.values())

    def __str__(self):
        return "%s -> rc %d\n%s" % (self.name, self.rc, self.output[-6000:])
