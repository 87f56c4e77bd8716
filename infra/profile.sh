#!/usr/bin/env bash
# Where the CPU of a request goes, by function: runs one part of the benchmark (`ingest` or
# `deliveries`, the first argument; `ingest` by default) under callgrind, which counts
# instructions (repeatable, unlike time on a busy machine), and prints the functions with the
# largest inclusive and exclusive counts. The full profile stays in target/profile/ for
# `callgrind_annotate` or KCachegrind.
#
# Instructions are not time: callgrind runs without the CPU's SHA extensions, so SigV4's SHA-256
# looks ten times dearer than it is, and it cannot see the kernel. `PROFILER=perf` samples the
# bench's main thread (its current-thread runtime, where the handler, the clients and their
# connections run; not the emulator) on CPU time instead, kernel included, and prints where it
# goes by object and by function, flat (release builds keep no frame pointers, so no call
# graph). perf is Debian's linux-perf; software sampling needs no hardware counters, but root or
# kernel.perf_event_paranoid at 1 or less.
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
if [ "${PROFILER:-callgrind}" = perf ]; then
  command -v perf >/dev/null || { echo "profile.sh: perf is Debian's linux-perf (apt-get install linux-perf)" >&2; exit 1; }
  out="target/profile/perf.$part.data"
  HOOKGATE_BENCH_ONLY="$part" perf record --quiet --no-inherit -e cpu-clock -F 20000 -o "$out" "$bench" --bench >/dev/null
  echo "== $part: CPU time by object (perf, sampled on CPU time; $out)"
  perf report -i "$out" --no-children --sort dso --stdio 2>/dev/null | grep '%' | sed -n 1,8p
  echo "== $part: CPU time by function, exclusive"
  perf report -i "$out" --no-children --sort dso,symbol --stdio 2>/dev/null | grep '%' | sed -n 1,40p
  exit 0
fi
HOOKGATE_BENCH_ONLY="$part" valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" --bench >/dev/null 2>"$out.log"
echo "== $part: instructions by function, inclusive (callgrind; $out)"
callgrind_annotate --inclusive=yes "$out" 2>/dev/null | sed -n '1,/^--* *$/d;p' | sed -n 1,60p
echo "== $part: instructions by function, exclusive"
callgrind_annotate "$out" 2>/dev/null | sed -n '1,/^--* *$/d;p' | sed -n 1,40p
