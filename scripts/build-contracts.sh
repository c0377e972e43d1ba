#!/usr/bin/env bash
# Rebuilds abi/ from contracts/ with the pinned solc (package.json).
#   scripts/build-contracts.sh          write abi/*.json and abi/*.bin
#   scripts/build-contracts.sh --check  fail if the committed abi/ differs from a fresh build
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules/solc ] && [ -d node_modules/@safe-global/safe-contracts ] || npm ci --no-audit --no-fund --loglevel=error

if [ "${1:-}" = "--check" ]; then
  fresh=$(mktemp -d)
  trap 'rm -rf "$fresh"' EXIT
  node scripts/compile-contracts.js "$fresh" >/dev/null
  # abi/ may hold hand-written ABIs of contracts not built here (mainnet-only ones): compare
  # only what the build produces, and flag committed artifacts whose source has gone.
  status=0
  for f in "$fresh"/*; do
    name=$(basename "$f")
    if ! cmp -s "$f" "abi/$name"; then
      echo "abi/$name differs from a fresh build of contracts/: run scripts/build-contracts.sh and commit" >&2
      status=1
    fi
  done
  for f in abi/*.bin; do
    [ -e "$f" ] || continue
    [ -e "$fresh/$(basename "$f")" ] || { echo "$f has no source in contracts/" >&2; status=1; }
  done
  [ $status -eq 0 ] && echo "abi/ matches contracts/"
  exit $status
fi

node scripts/compile-contracts.js abi
