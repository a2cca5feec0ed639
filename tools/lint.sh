#!/usr/bin/env bash
# ansible-lint (production profile, offline: Galaxy is not reachable here).
set -euo pipefail
cd "$(dirname "$0")/.."
exec ansible-lint --offline --profile production "$@"
