#!/usr/bin/env bash
# Benchmarks: release binaries (no LTO, so this takes minutes, not ten) measured against the
# emulator. Prints figures; nothing passes or fails on them.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --locked --quiet
cargo bench -p hookgate-tests --bench foundation --locked
