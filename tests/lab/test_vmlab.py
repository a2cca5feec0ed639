"""lab/vmlab.py without VMs: its layout, its inventory and its one-line errors (the VMs themselves
run in tests/realmars, which needs the MARS sources)."""

import os
import subprocess
import sys

import pytest
import yaml

from labhelpers import REPO

sys.path.insert(0, os.path.join(REPO, "lab"))
import vmlab  # noqa: E402  pylint: disable=wrong-import-position

VMLAB = [sys.executable, os.path.join(REPO, "lab", "vmlab.py")]


def vmlab_cli(*args, env=None):
    return subprocess.run(VMLAB + list(args), capture_output=True, text=True, timeout=60, check=False,
                          env=dict(os.environ, **(env or {})))


def test_layout_three_vms_in_two_sites():
    lab = vmlab.VmLab()
    assert lab.hosts == ["vm1", "vm2", "vm3"]
    assert [lab.ip(h) for h in lab.hosts] == ["10.99.0.11", "10.99.0.12", "10.99.0.13"]
    assert [lab.site(h) for h in lab.hosts] == ["site-a", "site-b", "site-a"]
    assert lab.members("site-a") == ["vm1", "vm3"]
    assert lab.mac("vm2") == "52:54:00:99:00:0c"


def test_inventory_names_the_build_host_sources_and_packages(tmp_path, monkeypatch):
    monkeypatch.setattr(vmlab, "INVENTORY_DIR", str(tmp_path / "vm"))
    vmlab.write_inventory(vmlab.VmLab(), "/srv/mars-src")
    inventory = yaml.safe_load((tmp_path / "vm" / "hosts.yml").read_text())["all"]
    assert inventory["vars"]["mars_kmod_source_directory"] == "/srv/mars-src"
    assert inventory["vars"]["mars_kmod_package_dir"].endswith("/packages")
    assert inventory["children"]["mars"]["children"]["site_b"]["hosts"]["vm2"]["ansible_host"] == "10.99.0.12"
    builder = inventory["children"]["mars_kmod_builders"]["hosts"]["vmbuilder"]
    assert builder["ansible_connection"] == "containers.podman.podman"
    assert os.path.realpath(tmp_path / "vm" / "group_vars") == os.path.join(REPO, "inventories", "vm", "group_vars")


def test_unknown_vm_is_one_line_and_rc_2():
    result = vmlab_cli("crash", "vm7")
    assert result.returncode == 2
    assert result.stderr.strip() == "vmlab: error: unknown VM 'vm7'; the VM lab has vm1, vm2, vm3"


def fake_tools(directory, tools):
    """A PATH of stand-in executables, so the test does not depend on what this machine has installed."""
    directory.mkdir(exist_ok=True)
    for tool in tools:
        (directory / tool).write_text("#!/bin/sh\nexit 0\n")
        (directory / tool).chmod(0o755)
    return str(directory)


@pytest.mark.parametrize("missing", vmlab.REQUIRED_TOOLS)
def test_up_names_the_missing_tool_in_one_line(tmp_path, missing):
    path = fake_tools(tmp_path / "bin", [t for t in vmlab.REQUIRED_TOOLS if t != missing])
    result = vmlab_cli("up", env={"GEOREP_MARS_GIT": "", "PATH": path})
    assert result.returncode == 2
    assert result.stderr.strip() == "vmlab: error: '%s' is not installed; run 'tools/bootstrap.sh vm' first" % missing


def test_up_without_sources_says_where_to_point_in_one_line(tmp_path):
    path = fake_tools(tmp_path / "bin", vmlab.REQUIRED_TOOLS)
    result = vmlab_cli("up", env={"GEOREP_MARS_GIT": "", "PATH": path})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "GEOREP_MARS_GIT is not set: point it at the git directory of a clone of github:schoebel/mars" in result.stderr
