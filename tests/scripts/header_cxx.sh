#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The public headers compile as C++11 with -pedantic, on their own and
# after a program's own definitions of the Windows types, and the C++
# programs link against libnmr.so (C linkage) and run.  The only test that
# needs a C++ compiler: without one (NMR_CXX empty, see tests/scripts.cmake)
# it is skipped, and says why.
source "$(dirname "$0")/lib.sh"

[[ -n "${NMR_CXX:-}" ]] ||
    skip "${NMR_NO_CXX_REASON:-no C++ compiler}: the headers are not compiled as C++"

warn=(-Wall -Wextra -Werror -pedantic)
libdir=$(dirname "$NMR_LIB_FILE")

for h in $(public_headers); do
    printf '#include <%s>\n#include <%s>\nint main(void) { return 0; }\n' \
        "$h" "$h" > "$TMP/alone.c"
    echo "+ $h alone: C++11 -pedantic"
    "$NMR_CXX" -std=c++11 "${warn[@]}" "${PUBLIC_INC[@]}" -fsyntax-only -x c++ \
        "$TMP/alone.c" || fail "$h does not compile on its own as C++11"
done

for src in header_check header_coexist header_ntdef; do
    run "$NMR_CXX" -std=c++11 "${warn[@]}" "${SAN[@]}" "${PUBLIC_INC[@]}" \
        -x c++ "$SCRIPTS/$src.c" -x none -o "$TMP/$src-cxx" "$NMR_LIB_FILE"
    LD_LIBRARY_PATH="$libdir" run "$TMP/$src-cxx"
done
echo "PASS"
