"""meta/runtime.yml's action group georep.mars.marsadm: module_defaults for the options every module
shares (marsadm_path, timeout, window) reach every module of the collection."""

import os
import subprocess
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_group_names_every_mars_module():
    with open(os.path.join(REPO, "meta", "runtime.yml"), encoding="utf-8") as handle:
        group = yaml.safe_load(handle)["action_groups"]["marsadm"]
    # file_set installs the roles' files; it has none of the shared options.
    modules = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, "plugins", "modules"))
                     if name.endswith(".py") and not name.startswith("_") and name != "file_set.py")
    assert modules and sorted(group) == modules


def test_module_defaults_of_the_group_reach_a_module(tmp_path):
    playbook = tmp_path / "defaults.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/georep.mars.marsadm:
      marsadm_path: /nonexistent/georep-marsadm
  tasks:
    - georep.mars.handover:
        name: r1
""")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_HOME=str(tmp_path / "home"))
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                             "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, str(playbook)],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2, output[-2000:]
    assert "marsadm_path '/nonexistent/georep-marsadm' is not an executable file" in output, output[-2000:]
