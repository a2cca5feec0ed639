#!/usr/bin/env bash
# make realmars: the collection on the real MARS kernel module in qemu VMs (lab/vmlab.py), then
# the same steps on a Podman lab with the emulator, then docs/realmars-report.md.
#   GEOREP_MARS_GIT=/path/to/schoebel-mars.git make realmars
# REALMARS_COMPARE=0 skips the emulator run; REALMARS_KEEP=1 leaves the VMs running.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export CONTAINERS_CONF=$PWD/lab/containers.conf ANSIBLE_CONFIG=$PWD/ansible.cfg PATH=$PWD/.venv/bin:$PATH
if [ -z "${GEOREP_MARS_GIT:-}" ]; then
  echo "realmars: error: set GEOREP_MARS_GIT to the git directory of a clone of github:schoebel/mars" >&2
  exit 2
fi
tools/bootstrap.sh vm || exit 2
rm -rf build/realmars
rc=0
mkdir -p build/realmars
# -rA: a line per test (PASSED/FAILED/SKIPPED with its reason) for the report
GEOREP_REALMARS_FLEET=vm pytest -q -rA -p no:cacheprovider tests/realmars 2>&1 | tee build/realmars/pytest-vm.txt
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
[ "${REALMARS_KEEP:-0}" = 1 ] || python3 lab/vmlab.py down
if [ "${REALMARS_COMPARE:-1}" = 1 ]; then
  GEOREP_REALMARS_FLEET=podman pytest -q -rA -p no:cacheprovider tests/realmars 2>&1 | tee build/realmars/pytest-podman.txt
  [ "${PIPESTATUS[0]}" = 0 ] || echo "realmars: the emulator run failed (see build/realmars/logs-podman)"
  python3 lab/labctl.py --name rm down --volumes
fi
python3 tools/realmars_report.py
exit $rc
