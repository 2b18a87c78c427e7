#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# R33: the API works from a constructor that runs before any other (no
# initialisation call), and exit() while another thread is using libnmr is
# clean.  Built twice: against libnmr.a (the program's constructor comes
# before anything in libnmr's objects) and against libnmr.so.
source "$(dirname "$0")/lib.sh"

[[ -f "${NMR_STATIC_LIB_FILE:-}" ]] || fail "NMR_STATIC_LIB_FILE not set or missing"
libdir=$(dirname "$NMR_LIB_FILE")
flags=(-std=c11 -Wall -Wextra -Werror "${SAN[@]}" -I "$NMR_SOURCE_DIR/include")

run "$NMR_CC" "${flags[@]}" "$SCRIPTS/init_exit.c" "$NMR_STATIC_LIB_FILE" \
    -pthread -o "$TMP/init_exit_static"
run "$NMR_CC" "${flags[@]}" "$SCRIPTS/init_exit.c" "$NMR_LIB_FILE" \
    -pthread -o "$TMP/init_exit_shared"

# The process exits with a registration in flight on purpose: that is not a
# leak, so LeakSanitizer (ASan builds) is told not to look.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
# ThreadSanitizer lingers a second at exit (atexit_sleep_ms): fewer runs.
runs=20
[[ "${NMR_SANITIZE:-}" == thread ]] && runs=3
for variant in static shared; do
    echo "+ $runs runs of init_exit_$variant"
    for i in $(seq $runs); do
        LD_LIBRARY_PATH="$libdir" "$TMP/init_exit_$variant" ||
            fail "init_exit_$variant failed on run $i (status $?)"
    done
done
echo "PASS"
