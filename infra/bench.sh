#!/usr/bin/env bash
# Benchmarks: release binaries (no LTO, so about ten minutes) measured against the emulator,
# then the deployable arm64 zip of every function (infra/sizes.sh: LTO, so its first build takes
# half an hour on 2 cores, later ones seconds to minutes; it runs last so that its build cannot
# disturb the figures). Prints figures; nothing passes or fails on them.
# HOOKGATE_BENCH_ONLY=part,... runs only the parts named (ingest, deliveries, desk, cold-start,
# sizes). `infra/profile.sh` shows where the CPU of an ingest or a delivery goes, by function.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
cargo build --release --workspace --locked --quiet
# --workspace, not -p: the same features as the build above, so nothing is built twice.
cargo bench --workspace --bench foundation --locked
if [ -z "${HOOKGATE_BENCH_ONLY:-}" ] || [[ ",${HOOKGATE_BENCH_ONLY// /}," == *",sizes,"* ]]; then
  bash infra/sizes.sh
fi
