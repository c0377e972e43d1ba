#!/usr/bin/env bash
# The main job on a fresh machine: set up, then play the seven scenarios as a fire drill on local
# chains (MIP91's four on MIP91's layout, Protego's two on mainnet's layout of today), with your
# part played automatically by a devnet test key. Pass other drill options through, e.g.
# `scripts/drill.sh genuine-attack` (without --auto it asks before each of your commands) or
# `scripts/drill.sh all --auto --ledger`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
if [ "$#" -eq 0 ]; then
  set -- all --auto
fi
exec target/release/defender drill "$@"
