#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installing the tracing header and reconfiguring turns the USDT probes on:
# the <sys/sdt.h> check is made again at every configure, not taken from
# the cache.  Simulated without touching the system: the first configure
# sees a <sys/sdt.h> that does not compile (an include directory given
# with -I comes before the system's), so the check fails even where
# systemtap-sdt-dev is installed; then the header is "installed" (made
# valid) and the same build tree is configured again, with the same flags.
source "$(dirname "$0")/lib.sh"

mkdir -p "$TMP/inc/sys"
printf '#error "sys/sdt.h is not installed yet"\n' > "$TMP/inc/sys/sdt.h"
flags=(-DCMAKE_C_FLAGS="-I$TMP/inc" -DNMR_BUILD_TESTS=OFF
       -DNMR_BUILD_EXAMPLES=OFF -DNMR_BUILD_BENCH=OFF)

have_sdt() { sed -n 's/^NMR_HAVE_SDT:INTERNAL=//p' "$TMP/b/CMakeCache.txt"; }

configure_fresh "$TMP/b" "${flags[@]}" ||
    { cat "$TMP/b.configure.log"; fail "first configure failed"; }
echo "  before: NMR_HAVE_SDT=$(have_sdt)"
[[ "$(have_sdt)" == OFF ]] ||
    fail "the first configure found a <sys/sdt.h> that does not compile"
grep 'USDT probes OFF' "$TMP/b.configure.log" || fail "the first configure did not say probes OFF"

# "apt-get install systemtap-sdt-dev": the header now compiles.  Only the
# check is exercised (no build), so an empty header will do.
printf '/* sys/sdt.h, installed */\n' > "$TMP/inc/sys/sdt.h"
echo "+ $NMR_CMAKE $TMP/b   (reconfigure, same flags)"
"$NMR_CMAKE" "$TMP/b" > "$TMP/b.reconfigure.log" 2>&1 ||
    { cat "$TMP/b.reconfigure.log"; fail "reconfigure failed"; }
echo "  after:  NMR_HAVE_SDT=$(have_sdt)"
grep 'USDT probes' "$TMP/b.reconfigure.log" || true
[[ "$(have_sdt)" == ON ]] ||
    fail "after <sys/sdt.h> appeared, a reconfigure still builds without probes (cached check)"

# And gone again: back to OFF (no stale ON either).
rm "$TMP/inc/sys/sdt.h"
printf '#error "removed"\n' > "$TMP/inc/sys/sdt.h"
"$NMR_CMAKE" "$TMP/b" > "$TMP/b.reconfigure2.log" 2>&1 ||
    { cat "$TMP/b.reconfigure2.log"; fail "second reconfigure failed"; }
echo "  removed: NMR_HAVE_SDT=$(have_sdt)"
[[ "$(have_sdt)" == OFF ]] || fail "after <sys/sdt.h> went away, the probes are still on"
echo "PASS: the <sys/sdt.h> check is made at every configure"
