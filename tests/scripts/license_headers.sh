#!/usr/bin/env bash
# license_headers.sh - every source, header, script and CMake file of the
# tree carries "SPDX-License-Identifier: MIT" in its first three lines, and
# LICENSE is the MIT licence.  Files are those git tracks (plus new ones
# not ignored) in a checkout, else every file under the source tree.
set -euo pipefail
root=${NMR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"

if [ ! -f LICENSE ] || ! grep -q '^MIT License' LICENSE; then
    echo "FAIL: LICENSE is missing or is not the MIT licence"
    exit 1
fi

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    list() { git ls-files --cached --others --exclude-standard; }
else
    list() { find . -type f ! -path './.git/*' ! -path './build*' | sed 's|^\./||'; }
fi

# What needs the line: sources, headers, scripts, CMake and build files.
wanted() {
    case "$1" in
        tests/fuzz/corpus/*|tests/fuzz/crashes/*) return 1 ;;
        *.c|*.h|*.h.in|*.pml|*.bt|*.sh|*.py|*.nmr|*.cmake|*.cmake.in|*.pc.in) return 0 ;;
        CMakeLists.txt|*/CMakeLists.txt|Makefile|.ci/run) return 0 ;;
    esac
    return 1
}

checked=0 missing=0
while IFS= read -r f; do
    [ -f "$f" ] || continue
    wanted "$f" || continue
    checked=$((checked + 1))
    if ! head -n 3 "$f" | grep -q 'SPDX-License-Identifier: MIT'; then
        echo "FAIL: $f: no 'SPDX-License-Identifier: MIT' in its first 3 lines"
        missing=$((missing + 1))
    fi
done < <(list)

if [ "$checked" -eq 0 ]; then
    echo "FAIL: no file checked (wrong source directory?)"
    exit 1
fi
if [ "$missing" -gt 0 ]; then
    echo "FAIL: $missing of $checked files lack the licence line"
    exit 1
fi
echo "PASS: $checked files carry SPDX-License-Identifier: MIT"
