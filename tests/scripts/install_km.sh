#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The kernel-mode layer as a user gets it: install into a temporary
# prefix, build the example drivers with `pkg-config nmr-km` and with
# CMake's nmr::km, load them in the installed nmrhost; and check that the
# layer's headers shadow nothing for a program that asks only for nmr.
source "$(dirname "$0")/lib.sh"

command -v pkg-config > /dev/null ||
    skip "pkg-config not found; install pkg-config (or pkgconf) to run this test"

prefix="$TMP/prefix"
install_into "$prefix"
pcdir="$prefix/$NMR_LIBDIR/pkgconfig"
[[ -f "$pcdir/nmr-km.pc" ]] || fail "nmr-km.pc was not installed into $pcdir"
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_LIBDIR="$pcdir"
cflags=$(pkg-config --cflags nmr-km)
libs=$(pkg-config --libs nmr-km)
echo "  cflags: $cflags"
echo "  libs:   $libs"
[[ "$(pkg-config --modversion nmr-km)" == "$NMR_VERSION" ]] ||
    fail "nmr-km's version is not $NMR_VERSION"
inc=$(realpath -m "$(pkg-config --variable=includedir nmr-km)")
for h in ntddk.h wdm.h ntdef.h ntstatus.h sal.h netiodef.h initguid.h nmrkm/kernel.h; do
    [[ -f "$inc/nmr-km/$h" ]] || fail "not installed: include/nmr-km/$h"
done
[[ ! -e "$inc/ntddk.h" ]] || fail "ntddk.h installed in the main include directory"

# With plain nmr's flags, <ntddk.h> is not found: nothing is shadowed.
printf '#include <ntddk.h>\n' > "$TMP/shadow.c"
# shellcheck disable=SC2046
if "$NMR_CC" -fsyntax-only $(pkg-config --cflags nmr) "$TMP/shadow.c" 2> /dev/null; then
    fail "<ntddk.h> is found with pkg-config nmr: the layer's headers shadow others"
fi

# The drivers, as docs/km.md says a user builds them.
libdir="$(realpath "$prefix/$NMR_LIBDIR")"
mkdir -p "$TMP/drivers"
for d in ping_provider ping_client; do
    # shellcheck disable=SC2086  # pkg-config output is meant to be split
    run "$NMR_CC" -shared -fPIC -Wall -Wextra -Werror "${SAN[@]}" $cflags \
        "$NMR_SOURCE_DIR/examples/drivers/$d.c" -o "$TMP/drivers/$d.so" $libs
done

# And with CMake: find_package(nmr) and nmr::km.
mkdir -p "$TMP/cm"
cat > "$TMP/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.16)
project(km_consumer C)
find_package(nmr REQUIRED)
add_library(ping_client_cm MODULE "$NMR_SOURCE_DIR/examples/drivers/ping_client.c")
target_link_libraries(ping_client_cm PRIVATE nmr::km)
set_target_properties(ping_client_cm PROPERTIES PREFIX "")
CM
run cmake -S "$TMP/cm" -B "$TMP/cm/build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="${SAN[*]}" > /dev/null
run cmake --build "$TMP/cm/build" > /dev/null
[[ -f "$TMP/cm/build/ping_client_cm.so" ]] || fail "the CMake build made no driver"

# The installed nmrhost loads, binds and unloads them.
[[ -x "$prefix/bin/nmrhost" ]] || skip "nmrhost is not installed by this build"
out=$(cd "$TMP/drivers" && NMR_STRICT=1 LD_LIBRARY_PATH="$libdir" "$prefix/bin/nmrhost" -e -c \
    "load ./ping_provider.so; load ./ping_client.so; sleep 100; list; unload ping_client; unload ping_provider; load $TMP/cm/build/ping_client_cm.so; unload ping_client_cm" 2>&1) ||
    fail "nmrhost failed: $out"
echo "$out" | sed 's/^/  | /'
grep -q "loaded    driver ./ping_client.so" <<< "$out" || fail "list does not show the client driver"
[[ $(grep -c "no longer mapped" <<< "$out") -eq 3 ]] || fail "not every driver was unmapped"
echo "PASS"
