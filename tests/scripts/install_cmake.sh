#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install libnmr into a temporary prefix, check that everything a user
# looks for is there (headers, manual pages and their links, the
# documentation, the examples, the bpftrace script), then build a separate
# CMake project that uses find_package(nmr) and links nmr::nmr.
source "$(dirname "$0")/lib.sh"

prefix="$TMP/prefix"
install_into "$prefix"

# What the install must contain, beyond the libraries.
src="$NMR_SOURCE_DIR"
want=(include/netioddk.h include/nmr/version.h
      share/doc/nmr/README.md share/doc/nmr/CHANGELOG.md
      share/doc/nmr/snapshot.schema.json share/nmr/nmr-bindings.bt)
for f in "$src"/include/nmr/*.h; do want+=("include/nmr/$(basename "$f")"); done
for f in "$src"/docs/*.md; do want+=("share/doc/nmr/$(basename "$f")"); done
while IFS= read -r f; do
    want+=("share/doc/nmr/examples/$f")
done < <(cd "$src/examples" && find . -type f \( -name '*.c' -o -name '*.h' -o -name '*.nmr' \) |
         sed 's|^\./||' | sort)
for f in "$src"/man/man3/*.3; do want+=("share/man/man3/$(basename "$f")"); done
# Every alias of man/MLINKS is a link that resolves (man NAME finds it).
while read -r page alias; do
    case $page in ''|'#'*) continue ;; esac
    want+=("share/man/man3/$alias")
done < "$src/man/MLINKS"
missing=0
for f in "${want[@]}"; do
    if [[ ! -e "$prefix/$f" ]]; then
        echo "FAIL: not installed: $f" >&2
        missing=1
    fi
done
[[ $missing == 0 ]] || fail "cmake --install left out files (above)"
echo "  installed: ${#want[@]} files checked (headers, man pages and links, docs, examples, tools)"
cmp -s "$src/tools/nmr-bindings.bt" "$prefix/share/nmr/nmr-bindings.bt" ||
    fail "share/nmr/nmr-bindings.bt differs from tools/nmr-bindings.bt"

cfg=(-S "$SCRIPTS/consumer" -B "$TMP/build"
     -DCMAKE_PREFIX_PATH="$prefix"
     -DCMAKE_C_COMPILER="$NMR_CC"
     -DCMAKE_BUILD_TYPE=Debug)
if [[ ${#SAN[@]} -gt 0 ]]; then
    cfg+=(-DCMAKE_C_FLAGS="${SAN[*]}" -DCMAKE_EXE_LINKER_FLAGS="${SAN[*]}")
fi
echo "+ $NMR_CMAKE ${cfg[*]}"
"$NMR_CMAKE" "${cfg[@]}" > "$TMP/configure.log" 2>&1 ||
    { cat "$TMP/configure.log"; fail "configuring the consumer project failed"; }

# find_package must have found the package we just installed.
nmr_dir=$(sed -n 's/^nmr_DIR:PATH=//p' "$TMP/build/CMakeCache.txt")
echo "  nmr_DIR=$nmr_dir"
[[ "$(realpath -m "$nmr_dir")" == "$(realpath "$prefix")/"* ]] ||
    fail "find_package(nmr) found $nmr_dir, not the package installed in $prefix"

echo "+ $NMR_CMAKE --build $TMP/build"
"$NMR_CMAKE" --build "$TMP/build" > "$TMP/build.log" 2>&1 ||
    { cat "$TMP/build.log"; fail "building the consumer project failed"; }

libdir="$(realpath "$prefix/$NMR_LIBDIR")"
check_loads_from "$TMP/build/consumer" "$libdir"
NMR_STRICT=1 LD_LIBRARY_PATH="$libdir" run "$TMP/build/consumer"
echo "PASS"
