#!/usr/bin/env bash
# Sets up a fresh machine (scripts/setup.sh) and runs every check CI runs: the contract
# artifacts match their sources, formatting, clippy, and the whole test suite against anvil.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build-contracts.sh --check
cargo fmt --all --check
cargo clippy --release --locked --workspace --all-targets -- -D warnings
cargo test --release --locked --workspace
