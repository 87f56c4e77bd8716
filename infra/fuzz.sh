#!/usr/bin/env bash
# Fuzzes every parser of untrusted bytes (the targets in fuzz/fuzz_targets) for a bounded time
# each: FUZZ_SECONDS per target (default 30); FUZZ_TARGETS="a b" runs only those. Needs the
# nightly toolchain (libFuzzer's instrumentation); installs the pinned cargo-fuzz into .tools.
# New inputs that widen coverage collect in fuzz/corpus/<target> (seeded from
# fuzz/seeds/<target>); a crash leaves its input in fuzz/artifacts/<target> and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

cargo_fuzz_version=0.13.2
fuzz_seconds=${FUZZ_SECONDS:-30}
export PATH="$root/.tools/bin:$PATH"

if [ "$(cargo-fuzz --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]; then
  cargo install --locked cargo-fuzz --version "$cargo_fuzz_version" --root .tools
fi

targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
logs=fuzz/target/logs
mkdir -p "$logs"
echo "== building the fuzz targets (nightly)"
cargo +nightly fuzz build

failed=0
for target in $targets; do
  corpus=$root/fuzz/corpus/$target
  seeds=$root/fuzz/seeds/$target
  mkdir -p "$corpus" "$seeds" "fuzz/artifacts/$target"
  before=$(ls "fuzz/artifacts/$target" | wc -l)
  # An input that takes over 10 s is a hang; libFuzzer's own memory limit (2 GiB) catches
  # huge allocations.
  if cargo +nightly fuzz run "$target" "$corpus" "$seeds" -- \
    -max_total_time="$fuzz_seconds" -timeout=10 >"$logs/$target.log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed=1
  fi
  runs=$(grep -oE '^Done [0-9]+ runs' "$logs/$target.log" | grep -oE '[0-9]+' || true)
  if [ -z "$runs" ]; then
    runs=$(grep -oE '^#[0-9]+' "$logs/$target.log" | tail -1 | tr -d '#' || true)
  fi
  crashes=$(($(ls "fuzz/artifacts/$target" | wc -l) - before))
  printf '%-16s %-6s %10s runs in %ss, %d crashes' "$target" "$status" "${runs:-0}" "$fuzz_seconds" "$crashes"
  if [ "$status" = FAILED ]; then
    printf ' (log: %s)' "$logs/$target.log"
  fi
  echo
done

if [ "$failed" = 1 ]; then
  echo "a target crashed: reproduce with cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>"
  exit 1
fi
