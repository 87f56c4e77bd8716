#!/usr/bin/env bash
# Every check and test, as CI runs them: formatting, lints, the SAM template, then the unit,
# handler (emulated AWS) and end-to-end (HTTP through `cargo lambda watch`) tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export SAM_CLI_TELEMETRY=0
export PATH="$PWD/.venv/bin:$PATH"

echo "== cargo fmt --check"
cargo fmt --all --check
# The fuzz targets are a workspace of their own (built on nightly by `make fuzz`).
rustfmt --check --edition 2024 fuzz/src/lib.rs fuzz/fuzz_targets/*.rs
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo check the fuzz targets (a workspace of their own, fuzzed on nightly by make fuzz)"
cargo check --manifest-path fuzz/Cargo.toml --locked --bins --quiet
echo "== cfn-lint template.yaml"
cfn-lint template.yaml
echo "== sam validate --lint"
sam validate --lint --template template.yaml
echo "== cargo build (the binaries the end-to-end tests run)"
cargo build --workspace --locked
echo "== cargo test"
cargo test --workspace --locked
