#!/usr/bin/env bash
# Runs a Molecule scenario on lab hosts: the network is made here, not by Molecule (see molecule.yml).
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-default}
export CONTAINERS_CONF=$PWD/lab/containers.conf ANSIBLE_COLLECTIONS_PATH=$PWD/playbooks/collections
# Molecule writes its own ansible.cfg, not ours; for both scenarios: the ssh timeout of ansible.cfg,
# which holds while CI saturates both cores (the default 10 s ran out "during banner exchange"), and
# the traceback of a module that crashes (CI once showed only "'NoneType' object has no attribute
# 'startswith'" from ansible.builtin.git)
export ANSIBLE_TIMEOUT=30 ANSIBLE_DISPLAY_TRACEBACK=error
podman network exists georep-mol || podman network create --internal --subnet 10.78.0.0/24 --label georep.mars.lab georep-mol >/dev/null
status=0
molecule test -s "$scenario" || status=$?
# Molecule leaves named volumes behind.
for v in mol1-mars mol2-mars mol3-mars; do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
exit $status
