#!/usr/bin/env bash
# Installs what the lab and the tests need on a Debian 12 machine (root); does nothing twice.
#   tools/bootstrap.sh apt     -- Debian packages (podman, runc, debootstrap, ...)
#   tools/bootstrap.sh venv    -- .venv (ansible-core 2.19) and .venv-2.18, ansible-test's pip bootstrap
#   tools/bootstrap.sh vm      -- what the VM lab adds (qemu, nftables): make realmars, not make test
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: error: installing packages and running the lab needs root; run 'sudo make ...'" >&2
    exit 2
  fi
}

apt_packages() {
  need_root
  # fuse3 and python3-pyfuse3/trio: the emulator's /dev/mars write path in tests on this machine
  local pkgs=(podman runc debootstrap shellcheck iptables libnetfilter-queue-dev openssh-client rsync git fuse3 python3-pyfuse3 python3-trio)
  local missing=()
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    echo "bootstrap: error: apt-get not found; this needs Debian 12 (install ${missing[*]} by hand)" >&2
    exit 2
  fi
  echo "bootstrap: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if ! apt-get install -y -qq "${missing[@]}" >/dev/null; then
    echo "bootstrap: error: could not install ${missing[*]} (is a Debian mirror reachable?)" >&2
    exit 2
  fi
}

vm_packages() {
  need_root
  local missing=()
  for p in qemu-system-x86 qemu-utils nftables debootstrap podman; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "bootstrap: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
    echo "bootstrap: error: could not install ${missing[*]}" >&2
    exit 2
  fi
}

make_venv() {  # make_venv DIR REQUIREMENTS
  local dir=$1 req=$2 stamp
  stamp=$(sha256sum "$req" | cut -c1-16)
  [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ] && return 0
  echo "bootstrap: python venv $dir from $req"
  [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
  "$dir/bin/pip" install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  "$dir/bin/pip" install -q -r "$req" 2>&1 | grep -v '^WARNING: Location' || true
  "$dir/bin/python" -c 'import ansible, pytest' || { echo "bootstrap: error: pip install -r $req failed" >&2; exit 2; }
  echo "$stamp" > "$dir/.stamp"
}

venvs() {
  make_venv .venv requirements-dev.txt
  make_venv .venv-2.18 tools/requirements-2.18.txt
  # ansible-test bootstraps pip from a download this machine cannot reach; hand it our stand-in.
  local cache=~/.ansible/test/cache
  mkdir -p "$cache"
  for venv in .venv .venv-2.18; do
    v=$(grep -ho "pip='[0-9.]*'" "$venv"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -1 | tr -dc '0-9.')
    [ -n "$v" ] && cp tools/get_pip_standin.py "$cache/get_pip_${v//./_}.py"
  done
}

case "${1:-all}" in
  apt) apt_packages ;;
  venv) venvs ;;
  vm) apt_packages; vm_packages; venvs ;;
  all) apt_packages; venvs ;;
  *) echo "bootstrap: error: unknown step '$1' (apt, venv, vm or all)" >&2; exit 2 ;;
esac
