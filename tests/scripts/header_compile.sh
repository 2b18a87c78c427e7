#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The public headers compile as C11 with -pedantic, on their own and after
# a program's own definitions of the Windows types, and the programs link
# against libnmr.so and run.  (As C++11: header_cxx.sh.)
source "$(dirname "$0")/lib.sh"

warn=(-Wall -Wextra -Werror -pedantic)
libdir=$(dirname "$NMR_LIB_FILE")

# Every public header (the generated nmr/version.h too), alone (and twice:
# the include guard holds).
for h in $(public_headers); do
    printf '#include <%s>\n#include <%s>\nint main(void) { return 0; }\n' \
        "$h" "$h" > "$TMP/alone.c"
    echo "+ $h alone: C11 -pedantic"
    "$NMR_CC" -std=c11 "${warn[@]}" "${PUBLIC_INC[@]}" -fsyntax-only "$TMP/alone.c" ||
        fail "$h does not compile on its own as C11"
done

# Uses of every name, plain and next to user-defined Windows types.
for src in header_check header_coexist header_ntdef; do
    run "$NMR_CC" -std=c11 "${warn[@]}" -Wstrict-prototypes \
        -Wmissing-prototypes "${SAN[@]}" "${PUBLIC_INC[@]}" \
        "$SCRIPTS/$src.c" -o "$TMP/$src-c" "$NMR_LIB_FILE"
    LD_LIBRARY_PATH="$libdir" run "$TMP/$src-c"
done
echo "PASS"
