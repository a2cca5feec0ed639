#!/usr/bin/env bash
# Every test of the collection, in the order that fails fastest; exits non-zero if any step failed.
# Leftovers of an earlier run (containers, networks, volumes, loop devices, iptables rules) go first.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export CONTAINERS_CONF=$PWD/lab/containers.conf ANSIBLE_CONFIG=$PWD/ansible.cfg PATH=$PWD/.venv/bin:$PATH
labctl() { python3 lab/labctl.py "$@"; }
passed=() failed=() skipped=()

LOGS=build/test-logs
SECOND_LAB=pb  # the lab of the tests that build their cluster with playbooks (see lab_suite)
SECOND_LAB_TESTS=(tests/lab/test_modules_integration.py tests/lab/test_playbooks.py)
rm -rf "$LOGS"; mkdir -p "$LOGS"

step() {  # step NAME CMD...: its output also goes to $LOGS/NAME.log, for the summary
  local name=$1 start rc; shift
  start=$(date +%s)
  echo "=================== $name: $* (at $(date +%T))"
  "$@" 2>&1 | tee "$LOGS/$name.log"; rc=${PIPESTATUS[0]}
  echo "=================== $name: rc=$rc in $(( $(date +%s) - start )) s (at $(date +%T))"
  if [ "$rc" -eq 0 ]; then passed+=("$name"); else failed+=("$name"); fi
  return "$rc"
}

# The lab tests mostly wait (for ssh, replication, playbooks: the two cores sit ~60% idle during
# them), so they run in the background while the CPU-bound steps run in front.
declare -A background_pids=()
background() {  # background NAME CMD...: like step, but in the background; 'collect NAME' waits for it
  local name=$1; shift
  echo "=================== $name: started in the background at $(date +%T): $*"
  ( start=$(date +%s); "$@" >"$LOGS/$name.log" 2>&1; echo "$? $(( $(date +%s) - start ))" >"$LOGS/$name.rc" ) &
  background_pids[$name]=$!
}

collect() {  # collect NAME: wait for a background step, show its output, count it like a step
  local name=$1 rc=1 seconds="?"
  wait "${background_pids[$name]}"
  unset "background_pids[$name]"
  read -r rc seconds <"$LOGS/$name.rc"
  echo "=================== $name (ran in the background):"
  cat "$LOGS/$name.log"
  echo "=================== $name: rc=$rc in $seconds s (ran in the background, collected at $(date +%T))"
  if [ "$rc" -eq 0 ]; then passed+=("$name"); else failed+=("$name"); fi
  return "$rc"
}

skip() {  # skip NAME REASON: a step this machine cannot run, named in the summary with its reason
  echo "=================== $1: skipped: $2"
  skipped+=("$1: $2")
}

failure_lines() {  # failure_lines LOG: what failed, so that the end of a long CI log says what to look at
  local log found
  log=$(sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^ *│ \{0,1\}//' "$1" 2>/dev/null)  # Molecule's colours and frame
  # pytest: the failing tests by name and their assertion lines
  found=$({ grep -E '^(FAILED|ERROR:?) ' | head -n 20; } <<<"$log"; { grep -E '^E  +' | head -n 15; } <<<"$log")
  # Molecule: the verdict of each failed step, after the failed tasks of its last play (a rescued
  # failure of a step that passed is not shown)
  found+=$'\n'$(awk '
    /^TASK /                { task = $0 }
    /^(fatal|failed): \[/   { if (task != shown) failed = failed task "\n"; shown = task; failed = failed $0 "\n"; more = 3; next }
    more > 0 && /^  /       { failed = failed $0 "\n"; more--; next }
                            { more = 0 }
    /^PLAY RECAP/           { recap = failed; failed = ""; shown = "" }
    /Executed: Successful/  { recap = "" }
    /^CRITICAL /            { printf "%s", recap; print; recap = ""; verdict = 1; next }
    verdict && /^ *\* /     { print; next }
                            { verdict = 0 }' <<<"$log" | head -n 30)
  found=$(sed '/^$/d' <<<"$found")
  if [ -n "$found" ]; then echo "$found"; else tail -n 15 <<<"$log"; fi
}

finish() {
  for pid in "${background_pids[@]}"; do kill -- "$pid" 2>/dev/null; done
  labctl down --volumes >/dev/null 2>&1 || true
  labctl --name "$SECOND_LAB" down --volumes >/dev/null 2>&1 || true
  echo "=================== summary"
  for s in "${passed[@]}"; do echo "PASS $s"; done
  for s in "${failed[@]}"; do
    echo "FAIL $s"
    failure_lines "$LOGS/$s.log" | cut -c1-300 | sed 's/^/    /'
  done
  for s in "${skipped[@]}"; do echo "SKIP $s"; done
  echo "steps: ${#passed[@]} passed, ${#failed[@]} failed, ${#skipped[@]} skipped"
}
trap finish EXIT

# The lab tests run on two labs at once: the tests that build their cluster from bare hosts with
# playbooks (test_modules_integration, test_playbooks) on a lab of their own, "pb" (hosts pb1..3);
# the rest on the default lab, where tests/lab/test_site.py rolls site.yml out (bare, --check,
# converge, again, --check). Each lab's faults and heals touch only its own hosts. More labs do not
# help: with the steps in front, the two cores are busy for the whole run (1.93 of 2 on average,
# measured), and four labs at once made every step slower.
lab_suite() {  # lab_suite NAME PYTEST-ARGS...: that lab up, the tests, that lab down
  local name=$1 rc; shift
  labctl --name "$name" up || { echo "lab $name did not come up: its tests did not run"; return 3; }
  pytest -q -p no:cacheprovider --durations=25 -m "not slow" "$@"
  rc=$?
  labctl --name "$name" down --volumes
  return $rc
}
second_lab_suite() {  # runs in the background's subshell: the exports stay there
  export GEOREP_IT_LAB=$SECOND_LAB GEOREP_PB_LAB=$SECOND_LAB
  lab_suite "$SECOND_LAB" "${SECOND_LAB_TESTS[@]}"
}

if [ -n "${GEOREP_KEEP_LABS:-}" ]; then  # cleanup removes every lab, also one that a soak or bench uses now
  skip cleanup "GEOREP_KEEP_LABS is set: the labs of another run (a soak, a bench) are left alone"
else
  step cleanup labctl cleanup
fi
background labtest lab_suite lab "${SECOND_LAB_TESTS[@]/#/--ignore=}" tests/lab
background labtest-playbooks second_lab_suite
step unit-2.19 pytest -q -p no:cacheprovider --durations=15 -n 2 --dist loadfile tests/unit tests/emulator
# tests/unit/soak: controller tooling that does not depend on the ansible-core release (and needs matplotlib, in .venv only)
step unit-2.18 .venv-2.18/bin/python -m pytest -q -p no:cacheprovider -m "not slow" --ignore=tests/unit/soak tests/unit
step changelog antsibull-changelog lint
step lint tools/lint.sh
step galaxy tools/galaxy-check.sh
step sanity tools/sanity.sh
# Molecule's own containers, while the two labs still run in the background
step molecule-default tools/molecule.sh default
step molecule-roles tools/molecule.sh roles
collect labtest
collect labtest-playbooks
# The real MARS module (qemu VMs) and the real marsadm need the MARS sources, which CI cannot fetch.
if [ -z "${GEOREP_MARS_GIT:-}" ]; then
  skip realmars "GEOREP_MARS_GIT is not set (the git directory of a clone of github:schoebel/mars); 'make realmars' runs the collection on the real module in qemu VMs"
  skip real-marsadm "GEOREP_MARS_GIT is not set; tests/emulator/test_kernel_real_marsadm.py runs the real marsadm on the emulator"
else
  skip realmars "takes about 40 minutes in qemu without KVM; run 'make realmars' (GEOREP_MARS_GIT is set)"
fi
[ ${#failed[@]} -eq 0 ]
