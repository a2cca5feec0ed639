#!/usr/bin/env bash
# ansible-test sanity needs the collection under ansible_collections/NS/NAME: lay out a copy
# of the work tree (tracked and new files, nothing ignored) there and run it with each core.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD dest=build/sanity/ansible_collections/georep/mars
rm -rf build/sanity && mkdir -p "$dest"
# playbooks/collections (the link that lets a checkout find itself) is not part of the collection.
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && [[ $f != playbooks/collections/* ]] && printf '%s\0' "$f"
done | rsync -a --from0 --files-from=- ./ "$dest/"
# The copy sits inside this git work tree, where it is ignored; a git repository of its own
# makes ansible-test list exactly the copied files.
(cd "$dest" && git init -q && git add -A)
# Without shellcheck, ansible-test skips its shellcheck test and still passes: refuse instead.
command -v shellcheck >/dev/null || { echo "sanity: error: shellcheck is not installed; run 'tools/bootstrap.sh apt'" >&2; exit 2; }
status=0
for venv in ${SANITY_VENVS:-.venv-2.18 .venv}; do
  version=$("$root/$venv/bin/ansible" --version)  # read whole: '| head -1' broke its pipe
  echo "== ansible-test sanity with ${version%%$'\n'*}"
  (cd "$dest" && PATH="$root/$venv/bin:$PATH" ansible-test sanity --venv --python 3.11 --color no "$@") || status=1
done
exit $status
