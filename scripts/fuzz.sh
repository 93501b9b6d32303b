#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 60), one after another.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Each target starts from its committed seeds (fuzz/seeds/TARGET, from real traffic) and the inputs
# of past findings (fuzz/regressions/TARGET, replayed first: they must pass), copied into the corpus
# fuzz/corpus/TARGET, which keeps growing across runs), with inputs capped at a per-target
# -max_len and 2 GB of RSS. Prints per target the executions run and whether it crashed (a
# panic, a failed assertion or an exceeded memory bound, see fuzz/src/lib.rs), with the
# reproducer's path; exits non-zero if any target crashed. Logs: fuzz/logs/TARGET.log.
# Reproduce one crash: cargo +nightly fuzz run -s none TARGET fuzz/artifacts/TARGET/crash-...
# Environment: FUZZ_SANITIZER (default none: the fuzzed code has no unsafe; "address" for ASan),
# LIVEGO_FUZZ_NO_ALLOC_BOUND=1 to measure memory without failing on it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
sanitizer=${FUZZ_SANITIZER:-none}

# Input size caps: a few handshakes' worth, a few HTTP heads, or a large command/stream.
declare -A max_len=(
  [handshake]=8192 [chunk_reader]=262144 [amf0]=65536 [amf3]=65536 [rtmp_session]=65536
  [flv_reader]=262144 [http_request]=16384 [jwt]=8192 [codec_config]=65536
  [hls_segmenter]=262144
)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(handshake chunk_reader amf0 amf3 rtmp_session flv_reader
  http_request jwt codec_config hls_segmenter)

# Tools: nightly cargo (libFuzzer needs -Z flags) and cargo-fuzz.
cargo +nightly --version >/dev/null
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

cargo +nightly fuzz build -s "$sanitizer"
mkdir -p fuzz/logs
failed=0
for t in "${targets[@]}"; do
  corpus=fuzz/corpus/$t
  mkdir -p "$corpus"
  cp -n fuzz/seeds/"$t"/* fuzz/regressions/"$t"/* "$corpus"/ 2>/dev/null || true
  log=fuzz/logs/$t.log
  status=0
  cargo +nightly fuzz run -s "$sanitizer" "$t" "$corpus" -- \
    -max_total_time="$seconds" -max_len="${max_len[$t]:-65536}" -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo '?')
  if [ "$status" -eq 0 ]; then
    printf '%-14s %12s execs  ok\n' "$t" "$execs"
  else
    failed=1
    printf '%-14s %12s execs  CRASHED (exit %s), log %s\n' "$t" "$execs" "$status" "$log"
    { grep -A1 'panicked at' "$log" | head -2; grep -E 'ERROR: libFuzzer|Test unit written to' "$log"; } |
      cut -c1-300 | sed 's/^/    /' || true
  fi
done
exit "$failed"
