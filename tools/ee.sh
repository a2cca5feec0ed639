#!/usr/bin/env bash
# The execution environment AWX/Tower runs georep.mars in (awx/execution-environment.yml, docs/awx.md).
#   tools/ee.sh [build] [--tag TAG] [--base-image IMG] [--deps-from-ansible-package]
#   tools/ee.sh collections [--deps-from-ansible-package]   only prepare build/ee
#   tools/ee.sh base [--tag TAG]   a Debian 12 base image for machines without a registry
# The image gets the collection as the tarball built from this checkout and its dependencies as
# tarballs too: downloaded from Galaxy (default), or, where Galaxy is unreachable, packed from the
# collections of the installed 'ansible' Python package. build/ee/requirements.yml names them all.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/ee
lab_base=localhost/georep-lab-base:latest
# the label awx/base/Containerfile sets: a Debian base's stand-in for dnf
pkgmgr_label=georep.ee.package-manager

die() { echo "ee: error: $*" >&2; exit 2; }

need() {
  command -v "$1" >/dev/null || die "'$1' is not installed; run 'make deps' (or put .venv/bin on PATH) first"
}

usage() { sed -n '2,5s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }

# Pack the dependencies of the collection from the installed 'ansible' package (tools/ee_pack.py).
pack_from_ansible_package() {
  python3 tools/ee_pack.py "$1"
}

# build/ee/collections/*.tar.gz and build/ee/requirements.yml
collections() {
  local from_ansible_package=$1
  need ansible-galaxy
  rm -rf "$out/collections" "$out/dist" && mkdir -p "$out/collections" "$out/dist"
  ansible-galaxy collection build --force --output-path "$out/dist" . >/dev/null
  local tarball
  tarball=$(echo "$out"/dist/georep-mars-*.tar.gz)
  if [ "$from_ansible_package" = yes ]; then
    mv "$tarball" "$out/collections/"
    pack_from_ansible_package "$out/collections"
  else
    # the dependencies as galaxy.yml states them, with theirs, resolved on Galaxy
    ansible-galaxy collection download -p "$out/collections" "$tarball" \
      || die "could not download the dependencies from Galaxy; without Galaxy, add --deps-from-ansible-package"
    rm -f "$out/collections/requirements.yml"
  fi
  rm -rf "$out/dist"
  {
    echo "# Written by tools/ee.sh. Relative names: the image build installs from /build, which holds"
    echo "# this file and collections/, as build/ee does."
    echo "collections:"
    for tarball in "$out"/collections/*.tar.gz; do
      printf '  - name: collections/%s\n    type: file\n' "${tarball##*/}"
    done
  } > "$out/requirements.yml"
  echo "ee: $out/requirements.yml: $(cd "$out/collections" && echo *.tar.gz)"
}

build() {
  local tag=$1 base=$2 from_ansible_package=$3
  need ansible-builder
  need podman
  collections "$from_ansible_package"
  # ansible-builder adds to an existing context and would keep tarballs of older versions
  rm -rf "$out/context"
  local args=(build -f awx/execution-environment.yml --context "$out/context" --container-runtime podman -t "$tag")
  if [ -n "$base" ]; then
    args+=(--build-arg "EE_BASE_IMAGE=$base")
    # a base that is not dnf-based names its package manager stand-in in a label
    local pkgmgr
    pkgmgr=$(podman image inspect --format "{{ index .Labels \"$pkgmgr_label\" }}" "$base" 2>/dev/null || true)
    if [ -n "$pkgmgr" ] && [ "$pkgmgr" != "<no value>" ]; then
      args+=(--build-arg "PKGMGR=$pkgmgr")
    fi
  fi
  echo "ee: ansible-builder ${args[*]}"
  ansible-builder "${args[@]}"
  echo "ee: built $tag, $(podman image inspect --format '{{ .Size }}' "$tag" | numfmt --to=si)B"
}

base() {
  local tag=$1
  need podman
  if ! podman image exists "$lab_base"; then
    echo "ee: $lab_base is missing; building it as the lab does"
    python3 lab/labctl.py image
  fi
  local context=$out/base
  rm -rf "$context" && mkdir -p "$context/ca-certificates"
  cp awx/base/Containerfile awx/base/ee-apt "$context/"
  local ca
  for ca in /usr/local/share/ca-certificates/*.crt; do
    [ -e "$ca" ] && cp "$ca" "$context/ca-certificates/"
  done
  podman build --build-arg "LAB_BASE=$lab_base" -t "$tag" "$context"
  echo "ee: built $tag"
}

command=build
case ${1:-} in
  build|collections|base) command=$1; shift ;;
  -h|--help) usage ;;
esac
tag="" base_image="" from_ansible_package=no
while [ $# -gt 0 ]; do
  case $1 in
    --tag) tag=${2:?--tag needs a value}; shift 2 ;;
    --base-image) base_image=${2:?--base-image needs a value}; shift 2 ;;
    --deps-from-ansible-package) from_ansible_package=yes; shift ;;
    -h|--help) usage ;;
    *) echo "ee: unknown argument '$1'" >&2; usage 2 >&2 ;;
  esac
done
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/lab/containers.conf}
case $command in
  collections) collections "$from_ansible_package" ;;
  build) build "${tag:-georep-mars-ee:latest}" "$base_image" "$from_ansible_package" ;;
  base) base "${tag:-localhost/georep-ee-base:latest}" ;;
esac
