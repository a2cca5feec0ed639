#!/usr/bin/env bash
# ansible-lint (production profile, offline: Galaxy is not reachable here).
# Molecule installs a built copy of this collection into ~/.ansible/collections; a stale copy
# there would shadow the work tree, so it goes first.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf ~/.ansible/collections/ansible_collections/georep/mars
exec ansible-lint --offline --profile production "$@"
