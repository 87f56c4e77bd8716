#!/usr/bin/env bash
# Soak tests: the fault tests too slow for `make test` (minutes against the emulator), the
# ignored tests of tests/faults.rs. They run the binaries `cargo build --workspace` builds.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
cargo build --workspace --locked
cargo test --workspace --locked --test faults -- --ignored
