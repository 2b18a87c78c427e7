#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# libnmr.so exports exactly what the public headers declare with NMR_API:
# the nine Nmr* functions of netioddk.h plus the extensions declared in
# include/nmr/*.h and in the generated nmr/version.h.  The expected list is read from the headers, so it
# stays true as extensions are added; nothing else may leak out.
source "$(dirname "$0")/lib.sh"

command -v nm > /dev/null || skip "nm not found; install binutils to run this test"

nine="NmrClientAttachProvider NmrClientDetachProviderComplete
NmrDeregisterClient NmrDeregisterProvider NmrProviderDetachClientComplete
NmrRegisterClient NmrRegisterProvider NmrWaitForClientDeregisterComplete
NmrWaitForProviderDeregisterComplete"

# Declared: preprocess each public header with NMR_API turned into a marker
# (comments gone, macros expanded), cut the text into declarations at ';',
# and take from each marked one the name it declares: the identifier before
# the first '(' for a function, the last identifier for a variable.
marker=__nmr_exported_api__
inc="$NMR_SOURCE_DIR/include"
declared_in() {
    local h
    for h; do
        "$NMR_CC" -E -P -x c -std=c11 "${PUBLIC_INC[@]}" "-DNMR_API=$marker" "$h"
    done | tr '\n' ' ' | tr ';' '\n' | grep -F "$marker" |
        sed -E "s/^.*$marker//;
                s/__attribute__[[:space:]]*\(\(([^()]|\([^()]*\))*\)\)//g" |
        sed -E '/\(/ s/^([^(]*[^A-Za-z0-9_(])?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*$/\2/;
                /\(/! s/^.*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*(\[[^]]*\][[:space:]]*)*$/\1/' |
        sort -u
}
declared_in "$inc/netioddk.h" > "$TMP/declared_windows"
ext_headers=()
for h in $(public_headers); do
    [[ "$h" == nmr/* ]] || continue
    [[ "$h" == nmr/km.h ]] && continue   # defined in libnmr-km, not here
    if [[ -f "$inc/$h" ]]; then ext_headers+=("$inc/$h")
    else ext_headers+=("$NMR_GENERATED_INCLUDE_DIR/$h"); fi
done
grep -qx 'nmr/version.h' < <(public_headers) ||
    fail "the generated nmr/version.h is missing (NMR_GENERATED_INCLUDE_DIR='${NMR_GENERATED_INCLUDE_DIR:-}')"
declared_in "${ext_headers[@]}" | comm -23 - "$TMP/declared_windows" > "$TMP/declared_ext"
# The private interface between libnmr.so and libnmr-km.so (the driver
# verifier's state, src/base/verify.h): exported, declared with NMR_API in
# that internal header, and named nmr__* so no one takes it for API.
src_inc=(-I"$NMR_SOURCE_DIR/src")
"$NMR_CC" -E -P -x c -std=c11 "${PUBLIC_INC[@]}" "${src_inc[@]}" "-DNMR_API=$marker" \
    "$NMR_SOURCE_DIR/src/base/verify.h" | tr '\n' ' ' | tr ';' '\n' | grep -F "$marker" |
    sed -E "s/^.*$marker//; s/__attribute__[[:space:]]*\(\(([^()]|\([^()]*\))*\)\)//g" |
    sed -E 's/^([^(]*[^A-Za-z0-9_(])?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*$/\2/' |
    sort -u | comm -23 - <(sort -u "$TMP/declared_windows" "$TMP/declared_ext") \
    > "$TMP/declared_private"
[[ -s "$TMP/declared_private" ]] || fail "no private export found in src/base/verify.h (parse broken?)"
if grep -v '^nmr__' "$TMP/declared_private"; then
    fail "src/base/verify.h exports the names above: private exports must start with nmr__"
fi
sort -u "$TMP/declared_windows" "$TMP/declared_ext" "$TMP/declared_private" > "$TMP/declared"

# Sanity of the parse, and of the Windows face: netioddk.h declares the
# nine functions of docs/rules.md section 3 and nothing else.
if ! diff <(tr -s ' \n' '\n' <<< "$nine" | sort) "$TMP/declared_windows"; then
    fail "netioddk.h does not declare exactly the nine Nmr* functions with NMR_API"
fi

# Exported: every defined dynamic symbol, minus what the toolchain itself
# may put in any shared object, and in sanitizer builds what the sanitizer
# adds (ASan exports an ODR indicator, __odr_asan.NAME, per exported variable).
lib="$NMR_LIB_FILE"
[[ -f "$lib" ]] || fail "$lib not found: build first"
ignore='^(_init|_fini|_edata|_end|__bss_start)$'
if [[ -n "${NMR_SANITIZE:-}" ]]; then
    ignore='^(_init|_fini|_edata|_end|__bss_start|__odr_asan[._].*|__(asan|lsan|ubsan|tsan|sanitizer)_.*)$'
fi
nm -D --defined-only --format=posix "$lib" | cut -d' ' -f1 | sed 's/@.*//' |
    grep -Ev "$ignore" | sort -u > "$TMP/exported" || true

echo "declared with NMR_API ($(wc -l < "$TMP/declared")):"
sed 's/^/  /' "$TMP/declared"
if ! diff -u --label declared --label exported "$TMP/declared" "$TMP/exported"; then
    fail "$(basename "$lib") does not export exactly the declared API (diff above: + exported only, - declared only)"
fi
echo "PASS: $(basename "$lib") exports exactly these $(wc -l < "$TMP/exported") symbols"
