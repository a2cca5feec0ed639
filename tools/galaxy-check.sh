#!/usr/bin/env bash
# The collection as Galaxy and Automation Hub users get it: build the tarball, check that it
# holds the licence and the release notes but no developer tooling, then import it with
# galaxy-importer (Automation Hub settings); any warning fails.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/galaxy
rm -rf "$out" && mkdir -p "$out"
ansible-galaxy collection build --output-path "$out" . >/dev/null
tarball=$(ls "$out"/georep-mars-*.tar.gz)
tar -tzf "$tarball" > "$out/contents.txt"
status=0
for must in LICENSE CHANGELOG.rst README.md MANIFEST.json meta/runtime.yml changelogs/changelog.yaml; do
  grep -qx "$must" "$out/contents.txt" || { echo "galaxy-check: $tarball lacks $must" >&2; status=1; }
done
if grep -E '^(tests|lab|bench|tools|molecule|awx|build|\.ci|\.venv[^/]*)(/|$)|^(Makefile|ansible\.cfg|pyproject\.toml)$|__pycache__|\.pytest_cache|\.pyc$' "$out/contents.txt"; then
  echo "galaxy-check: $tarball holds the developer tooling above; add it to build_ignore in galaxy.yml" >&2
  status=1
fi
echo "galaxy-check: $(wc -l < "$out/contents.txt") entries, $(du -k "$tarball" | cut -f1) KiB in $tarball"
# galaxy-importer writes importer_result.json into its working directory
(cd "$out" && GALAXY_IMPORTER_CONFIG=$OLDPWD/tools/galaxy-importer.cfg python3 -m galaxy_importer.main "$(basename "$tarball")" \
  > importer.log 2>&1) || status=1
if grep -E 'WARNING|ERROR|failed' "$out/importer.log"; then
  echo "galaxy-check: galaxy-importer reported the lines above (whole log: $out/importer.log)" >&2
  status=1
fi
tail -1 "$out/importer.log"
exit $status
