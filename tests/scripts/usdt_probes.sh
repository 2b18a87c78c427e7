#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# libnmr.so carries the USDT probes of provider "libnmr" that
# tools/nmr-bindings.bt and nmr_trace(3) name, each with the number of
# arguments they document.  Skipped when the library was built without
# <sys/sdt.h> (NMR_HAVE_SDT off, and no .note.stapsdt section): there are
# no probes to check then.
source "$(dirname "$0")/lib.sh"

command -v readelf > /dev/null || skip "readelf not found; install binutils to run this test"
lib="$NMR_LIB_FILE"
[[ -f "$lib" ]] || fail "$lib not found: build first"

# name:arguments, as documented in nmr_trace(3).
probes="register:4 offer:3 attach_accepted:3 attach_declined:3 detach_called:2
half_complete:2 cleanup:1 deregister:2 wait_start:2 wait_end:3 misuse:2"

have_sdt=$(tr '[:lower:]' '[:upper:]' <<< "${NMR_HAVE_SDT:-}")
has_section=0
readelf -S -W "$lib" | grep -q '\.note\.stapsdt' && has_section=1
case "$have_sdt" in
    1|ON|YES|TRUE|Y) want=1 ;;
    *) want=0 ;;
esac
if [[ $want == 0 && $has_section == 0 ]]; then
    skip "$(basename "$lib") was built without <sys/sdt.h> (NMR_HAVE_SDT='${NMR_HAVE_SDT:-}'): no USDT probes to check; install systemtap-sdt-dev and reconfigure"
fi
[[ $has_section == 1 ]] ||
    fail "NMR_HAVE_SDT is '$NMR_HAVE_SDT' but $(basename "$lib") has no .note.stapsdt section"

# One line per probe site: "provider name nargs".  readelf prints
# "Provider:" at the end of the note's header line, the rest on lines of
# their own.
readelf -n -W "$lib" | awk '
    /Provider:/         { p = $0; sub(/.*Provider:[ \t]*/, "", p); sub(/[ \t].*/, "", p); prov = p }
    /^[ \t]*Name:/      { name = $2 }
    /^[ \t]*Arguments:/ { sub(/^[ \t]*Arguments:[ \t]*/, ""); n = split($0, a, /[ \t]+/)
                          if ($0 == "") n = 0
                          print prov, name, n }' > "$TMP/sites"
echo "probe sites in $(basename "$lib"):"
sort "$TMP/sites" | uniq -c | sed 's/^/  /'

bad=0
for p in $probes; do
    name=${p%%:*} nargs=${p##*:}
    if ! grep -q "^libnmr $name " "$TMP/sites"; then
        echo "FAIL: probe libnmr:$name is missing" >&2
        bad=1
        continue
    fi
    if grep "^libnmr $name " "$TMP/sites" | grep -qv " $nargs\$"; then
        echo "FAIL: a site of libnmr:$name does not have $nargs arguments" >&2
        bad=1
    fi
done
extra=$(awk '$1 == "libnmr" { print $2 }' "$TMP/sites" | sort -u |
        grep -vxF -f <(tr ' \n' '\n\n' <<< "$probes" | sed 's/:.*//' | grep .) || true)
[[ -z "$extra" ]] || echo "note: probes not checked here: $(tr '\n' ' ' <<< "$extra")"
[[ $bad == 0 ]] || fail "the USDT probes of $(basename "$lib") do not match nmr_trace(3)"
echo "PASS: all $(wc -w <<< "$probes") libnmr probes present, with their arguments"
