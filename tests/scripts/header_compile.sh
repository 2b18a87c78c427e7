#!/usr/bin/env bash
# The public headers compile as C11 with -pedantic and as C++11, on their
# own and after a program's own definitions of the Windows types, and the
# programs link against libnmr.so (C linkage from C++) and run.
source "$(dirname "$0")/lib.sh"

warn=(-Wall -Wextra -Werror -pedantic)
inc=(-I "$NMR_SOURCE_DIR/include")
libdir=$(dirname "$NMR_LIB_FILE")

# Every public header, alone (and twice: the include guard holds).
cd "$NMR_SOURCE_DIR/include"
for h in netioddk.h nmr/*.h; do
    printf '#include <%s>\n#include <%s>\nint main(void) { return 0; }\n' \
        "$h" "$h" > "$TMP/alone.c"
    echo "+ $h alone: C11 -pedantic, C++11 -pedantic"
    "$NMR_CC" -std=c11 "${warn[@]}" "${inc[@]}" -fsyntax-only "$TMP/alone.c" ||
        fail "$h does not compile on its own as C11"
    "$NMR_CXX" -std=c++11 "${warn[@]}" "${inc[@]}" -fsyntax-only -x c++ \
        "$TMP/alone.c" || fail "$h does not compile on its own as C++11"
done

# Uses of every name, plain and next to user-defined Windows types.
for src in header_check header_coexist header_ntdef; do
    run "$NMR_CC" -std=c11 "${warn[@]}" -Wstrict-prototypes \
        -Wmissing-prototypes "${SAN[@]}" "${inc[@]}" \
        "$SCRIPTS/$src.c" -o "$TMP/$src-c" "$NMR_LIB_FILE"
    run "$NMR_CXX" -std=c++11 "${warn[@]}" "${SAN[@]}" "${inc[@]}" \
        -x c++ "$SCRIPTS/$src.c" -x none -o "$TMP/$src-cxx" "$NMR_LIB_FILE"
    LD_LIBRARY_PATH="$libdir" run "$TMP/$src-c"
    LD_LIBRARY_PATH="$libdir" run "$TMP/$src-cxx"
done
echo "PASS"
