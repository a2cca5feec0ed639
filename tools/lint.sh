#!/usr/bin/env bash
# ansible-lint (production profile, offline: Galaxy is not reachable here), then the docs site:
# antsibull-docs' lint of every DOCUMENTATION and argument spec and a Sphinx build in which any
# warning fails (tools/docs.py, about 20 s; the site lands in build/docs/html).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
ansible-lint --offline --profile production "$@" || status=1
python3 tools/docs.py || status=1
exit $status
