"""Helpers for tests on the Podman lab: run lab commands, run commands on lab hosts."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LABCTL = [sys.executable, os.path.join(REPO, "lab", "labctl.py")]
HOSTS = ("mars1", "mars2", "mars3")


def labctl(*args, check=True, timeout=180):
    """Run a lab command; return the CompletedProcess."""
    result = subprocess.run(LABCTL + list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError("labctl %s failed: rc=%d %s" % (" ".join(args), result.returncode, result.stderr))
    return result


def on(host, command, check=True, timeout=120):
    """Run a shell command on a lab host (through podman exec, not the network under test)."""
    result = labctl("exec", host, "--", "bash", "-c", command, check=False, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError("%s: '%s' failed: rc=%d\n%s%s" % (host, command, result.returncode, result.stdout, result.stderr))
    return result
