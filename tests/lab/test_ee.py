"""The execution environment (awx/execution-environment.yml), built and run the way AWX runs a job.

tools/ee.sh builds it offline: on the local Debian base (tools/ee.sh base; no registry here), with
the collection tarball of this checkout and its dependencies packed from the installed 'ansible'
package (no Galaxy here). Then ansible-runner inside the image runs tests/lab/ee_info.yml against
the lab as the image's user, with the lab's ssh key handed over as AWX hands over a machine
credential (env/ssh_key, held by ssh-agent).

About 40 s, nearly all of it the two image builds (cached on a second run).
"""

import glob
import json
import os
import re
import shutil
import subprocess
from unittest.mock import ANY

import pytest
import yaml

from labhelpers import REPO, Run

IMAGE = "localhost/georep-mars-ee:test"
BASE = "localhost/georep-ee-base:latest"
NETWORK = "georep-lab"
EE_COLLECTIONS = "/usr/share/ansible/collections/ansible_collections"
ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(REPO, "lab", "containers.conf"),
           PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ["PATH"])


def run(argv, timeout=120):
    result = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=timeout, check=False)
    assert result.returncode == 0, "%s -> rc %d\n%s\n%s" % (" ".join(argv), result.returncode,
                                                            result.stdout[-6000:], result.stderr[-3000:])
    return result.stdout


@pytest.fixture(scope="module")
def image():
    if os.geteuid() != 0:
        pytest.skip("the image build needs root (rootful podman)")
    tool = os.path.join(REPO, "tools", "ee.sh")
    run([tool, "base", "--tag", BASE], timeout=1200)
    run([tool, "build", "--deps-from-ansible-package", "--base-image", BASE, "--tag", IMAGE], timeout=1800)
    return IMAGE


def test_the_collections_lie_where_the_image_user_reads_them(image):
    out = run(["podman", "run", "--rm", image, "sh", "-c", "id -u; ansible-galaxy collection list --format json"])
    uid, listing = out.split("\n", 1)
    assert uid == "1000"
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        version = yaml.safe_load(handle)["version"]
    # ansible-core lists its own internal collection too
    collections = {fqcn: (path, info["version"]) for path, found in json.loads(listing).items() for fqcn, info in found.items()
                   if not fqcn.startswith("ansible._")}
    assert collections == {"georep.mars": (EE_COLLECTIONS, version), "ansible.posix": (EE_COLLECTIONS, ANY),
                           "community.general": (EE_COLLECTIONS, ANY)}, collections
    # none went to root's home, where user 1000 could not read them
    assert run(["podman", "run", "--rm", "--user", "0", image, "find", "/root", "-name", "ansible_collections"]) == ""


def private_data_dir(path):
    """An ansible-runner private data directory as AWX hands it to the execution environment: the
    project, the inventory (the lab's, without a key file: the key comes as a credential)."""
    os.makedirs(os.path.join(path, "project"))
    shutil.copy(os.path.join(REPO, "tests", "lab", "ee_info.yml"), os.path.join(path, "project"))
    inventory = os.path.join(path, "inventory")
    os.makedirs(os.path.join(inventory, "group_vars"))
    shutil.copy(os.path.join(REPO, "inventories", "lab", "hosts.yml"), inventory)
    with open(os.path.join(REPO, "inventories", "lab", "group_vars", "all.yml"), encoding="utf-8") as handle:
        group_vars = yaml.safe_load(handle)
    key = group_vars.pop("ansible_ssh_private_key_file")
    with open(os.path.join(inventory, "group_vars", "all.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(group_vars, handle)
    os.makedirs(os.path.join(path, "env"))
    shutil.copy(key, os.path.join(path, "env", "ssh_key"))
    # the image's user writes the artifacts and reads the key
    for root, dirs, files in os.walk(path):
        for name in [root] + [os.path.join(root, entry) for entry in dirs + files]:
            os.chown(name, 1000, 0)
    os.chmod(os.path.join(path, "env", "ssh_key"), 0o600)


def test_a_playbook_runs_in_the_image_against_the_lab(image, lab, tmp_path):
    pdd = str(tmp_path / "runner")
    private_data_dir(pdd)
    result = subprocess.run(["podman", "run", "--rm", "--network", NETWORK, "-v", "%s:/runner" % pdd, image,
                             "ansible-runner", "run", "/runner", "-p", "ee_info.yml", "-vvv"],
                            capture_output=True, text=True, env=ENV, timeout=600, check=False)
    # ansible-runner forces colours, as AWX shows them
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    playbook = Run("ee_info.yml in %s" % image, result.returncode, output)
    assert playbook.rc == 0, str(playbook)
    assert {host: (counts["failed"], counts["unreachable"]) for host, counts in playbook.recap.items()} == \
        {host: (0, 0) for host in lab}, str(playbook)
    # the module came from the image's collections, read by the controller running as uid 1000
    assert "Using module file %s/georep/mars/plugins/modules/info.py" % EE_COLLECTIONS in output, str(playbook)
    assert "controller uid=1000 size_bytes=67108864 to_seconds=3600.0" in output, str(playbook)
    # and it ran on every host: the job events AWX would store
    ran_on = {}
    for path in glob.glob(os.path.join(pdd, "artifacts", "*", "job_events", "*.json")):
        with open(path, encoding="utf-8") as handle:
            event = json.load(handle)
        data = event.get("event_data", {})
        if event.get("event") == "runner_on_ok" and data.get("task") == "Read the MARS state":
            ran_on[data["host"]] = data["res"]["host"]
    assert ran_on == {host: host for host in lab}, ran_on
