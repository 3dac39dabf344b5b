#!/usr/bin/env bash
# Copy this checkout as a fresh clone with its local edits holds it: tracked and untracked,
# not ignored, files; no .git, .venv, caches or build outputs.
#   bash scripts/fresh_checkout.sh DEST      (DEST must not exist yet)
set -euo pipefail
if [ $# -ne 1 ] || [ -e "$1" ]; then
  echo "usage: bash $0 DEST (a path that does not exist yet)" >&2
  exit 2
fi
mkdir -p "$1"
dest=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' path; do  # a tracked file deleted here is not copied
    if [ -e "$path" ]; then printf '%s\0' "$path"; fi
  done |
  tar --null -T - -cf - | tar -xf - -C "$dest"
