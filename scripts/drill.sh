#!/usr/bin/env bash
# The main job on a fresh machine: set up, start a local devnet with the reference contracts,
# show the defender's status on it, and stop it again.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
bin=target/release/defender
state=$(mktemp -d)
port=${DEFENDER_DRILL_PORT:-8545}
trap '"$bin" devnet --stop --state-dir "$state" >/dev/null 2>&1 || true; rm -rf "$state"' EXIT

"$bin" devnet --detach --port "$port" --state-dir "$state"
echo
"$bin" status --rpc-url "http://127.0.0.1:$port" --addresses "$state/addresses.json"
