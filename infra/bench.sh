#!/usr/bin/env bash
# Benchmarks: release binaries (no LTO, so this takes minutes, not ten) measured against the
# emulator. Prints figures; nothing passes or fails on them. `infra/profile.sh` shows where the
# CPU of an ingest or a delivery goes, function by function (callgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
cargo build --release --workspace --locked --quiet
# --workspace, not -p: the same features as the build above, so nothing is built twice.
cargo bench --workspace --bench foundation --locked
