#!/usr/bin/env bash
# Every test of the collection, in the order that fails fastest; exits non-zero if any step failed.
# Leftovers of an earlier run (containers, networks, volumes, loop devices, iptables rules) go first.
set -uo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=$PWD/lab/containers.conf ANSIBLE_CONFIG=$PWD/ansible.cfg PATH=$PWD/.venv/bin:$PATH
LABCTL="python3 lab/labctl.py"
passed=() failed=()

step() {  # step NAME CMD...
  local name=$1 start rc; shift
  start=$(date +%s)
  echo "=================== $name: $*"
  "$@"; rc=$?
  echo "=================== $name: rc=$rc in $(( $(date +%s) - start )) s"
  if [ $rc -eq 0 ]; then passed+=("$name"); else failed+=("$name"); fi
  return $rc
}

finish() {
  $LABCTL down --volumes >/dev/null 2>&1 || true
  echo "=================== summary"
  for s in "${passed[@]}"; do echo "PASS $s"; done
  for s in "${failed[@]}"; do echo "FAIL $s"; done
  echo "steps: ${#passed[@]} passed, ${#failed[@]} failed"
}
trap finish EXIT

step cleanup $LABCTL cleanup
step unit-2.19 pytest -q -p no:cacheprovider tests/unit tests/emulator
step unit-2.18 .venv-2.18/bin/python -m pytest -q -p no:cacheprovider -m "not slow" tests/unit
step changelog antsibull-changelog lint
step lint tools/lint.sh
step sanity tools/sanity.sh
# tests/lab/test_site.py rolls site.yml out on the lab (bare, --check, converge, again, --check).
if step lab-up $LABCTL up; then
  step labtest pytest -q -p no:cacheprovider -m "not slow" tests/lab
  $LABCTL down --volumes
fi
step molecule-default tools/molecule.sh default
step molecule-roles tools/molecule.sh roles
[ ${#failed[@]} -eq 0 ]
