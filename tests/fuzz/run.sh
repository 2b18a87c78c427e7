#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/fuzz/run.sh [SECONDS] - build the libFuzzer harness into build-fuzz/
# and run it for SECONDS (default 60) over a copy of the seed corpus.
#
# Exit status: 0 no crash, 77 skipped (no clang / libFuzzer), other = the
# fuzzer found a crash (the reproducer is in build-fuzz/artifacts/).
# Environment: CC (default clang), FUZZ_JOBS is ignored on purpose (one job),
# FUZZ_MAX_LEN (default 512), FUZZ_EXTRA (more libFuzzer flags).
set -u
SECONDS_TO_RUN=${1:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
CC=${CC:-clang}
case "$CC" in *clang*) ;; *) CC=clang ;; esac

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "SKIPPED: $CC not found (libFuzzer needs clang)"
    exit 77
fi
mkdir -p "$OUT" || exit 1
probe="$OUT/probe.c"
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$probe" -o "$OUT/probe" >/dev/null 2>&1; then
    echo "SKIPPED: $CC cannot link -fsanitize=fuzzer,address,undefined (libFuzzer missing)"
    exit 77
fi

# libnmr's layers only: the kernel-mode layer (src/km/) is a library of
# its own, not under fuzz here.
echo "== building $OUT/fuzz_ops"
"$CC" -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -fno-omit-frame-pointer -Wall -Wextra -Werror \
    -I"$ROOT/include" -I"$ROOT/src" -I"$ROOT/src/base" -I"$ROOT/src/core" \
    -I"$ROOT/src/observe" -I"$ROOT/src/rundown" \
    "$ROOT"/src/{base,core,observe,rundown}/*.c "$HERE/fuzz_ops.c" -lpthread -ldl \
    -o "$OUT/fuzz_ops" || exit 1

# The fuzzer adds its findings to a scratch copy, never to the seeds.
rm -rf "$OUT/corpus" "$OUT/artifacts"
mkdir -p "$OUT/corpus" "$OUT/artifacts"
cp "$HERE"/corpus/* "$OUT/corpus/"

echo "== fuzzing for ${SECONDS_TO_RUN}s (one job)"
log="$OUT/fuzz.log"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
NMR_STRICT=0 \
"$OUT/fuzz_ops" -max_total_time="$SECONDS_TO_RUN" -print_final_stats=1 \
    -max_len="${FUZZ_MAX_LEN:-512}" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$OUT/artifacts/" ${FUZZ_EXTRA:-} \
    "$OUT/corpus" 2>&1 | tee "$log" | grep -E '^#[0-9]+.*(pulse|DONE)|VIOLATION|ERROR|SUMMARY|stat::|artifact' 
rc=${PIPESTATUS[0]}

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | awk '{print $2}')
echo "== executions: ${execs:-?}  exec/s: ${speed:-?}  coverage edges: ${cov:-?}  features: ${ft:-?}"
if [ "$rc" -ne 0 ]; then
    echo "FAILED: the fuzzer exited with $rc; reproducer(s):"
    ls -1 "$OUT"/artifacts/ 2>/dev/null | sed "s|^|  $OUT/artifacts/|"
    echo "replay with: NMR_FUZZ_TRACE=1 $OUT/fuzz_ops <file>"
    exit 1
fi
echo "== no crash"
exit 0
