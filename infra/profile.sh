#!/usr/bin/env bash
# Where the CPU of a request goes, by function: runs one part of the benchmark (`ingest` or
# `deliveries`, the first argument; `ingest` by default) under callgrind, which counts
# instructions (repeatable, unlike time on a busy machine), and prints the functions with the
# largest inclusive and exclusive counts. The full profile stays in target/profile/ for
# `callgrind_annotate` or KCachegrind.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
part="${1:-ingest}"
out="target/profile/callgrind.$part.out"
mkdir -p target/profile
bench=$(cargo bench --workspace --bench foundation --locked --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "foundation" and m.get("executable"):
        print(m["executable"])')
HOOKGATE_BENCH_ONLY="$part" valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" --bench >/dev/null 2>"$out.log"
echo "== $part: instructions by function, inclusive (callgrind; $out)"
callgrind_annotate --inclusive=yes "$out" 2>/dev/null | sed -n '1,/^--* *$/d;p' | head -60
echo "== $part: instructions by function, exclusive"
callgrind_annotate "$out" 2>/dev/null | sed -n '1,/^--* *$/d;p' | head -40
