#!/usr/bin/env bash
# Installs everything defender needs on a fresh Debian/Ubuntu machine and builds it:
# the USB libraries the device transports link against, the pinned anvil, cast and solc from
# npm (into ./node_modules), and the release binary (target/release/defender).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for pkg in libudev-dev libusb-1.0-0-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${missing[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is missing: install Node.js 18 or newer" >&2; exit 1; }

npm ci --no-audit --no-fund --loglevel=error
cargo build --release --locked
