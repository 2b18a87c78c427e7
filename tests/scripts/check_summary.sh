#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_summary.sh - the record and the closing summary of `make check`
# (see the Makefile).  Not a test itself.  Each layer records its outcome
# in a directory (SUMMARY in the Makefile, $(BUILD)/check-summary):
#
#   check_summary.sh reset DIR
#       start a new run (forget the records of the last one)
#   check_summary.sh ctest DIR LAYER BUILD_DIR [CTEST ARGS...]
#       run ctest in BUILD_DIR, as make check did before, then record
#       LAYER as passed or FAILED with its test counts, and every test
#       CTest did not run (Skipped, Disabled, Not Run) with the reason the
#       test printed (a script prints "SKIPPED: why" before exiting 77);
#       exits with ctest's status
#   check_summary.sh record DIR LAYER STATUS [DETAIL]
#       record a layer's outcome (tools/optional.sh does, for the
#       optional layers; the Makefile does when a build fails)
#   check_summary.sh stopped DIR TARGET
#       the make target that failed and stopped the run
#   check_summary.sh print DIR
#       print the summary: every layer of make check in order (passed,
#       FAILED, SKIPPED and why, or not run), then the skipped tests and
#       their reasons, then the verdict line
set -uo pipefail

# The layers of make check, in order, and the make target of each.
LAYERS="plain asan tsan tsan-optimised model fuzz coverage"
target_of() {
    case $1 in
        plain) echo check-plain ;;
        asan) echo check-asan ;;
        tsan|tsan-optimised) echo check-tsan ;;
        *) echo check-optional ;;
    esac
}

usage() { echo "usage: $0 reset|ctest|record|stopped|print DIR ..." >&2; exit 2; }
[[ $# -ge 2 ]] || usage
cmd=$1 dir=$2
shift 2
mkdir -p "$dir" || exit 2
dir=$(cd "$dir" && pwd)

record() {  # LAYER STATUS DETAIL
    printf '%s\t%s\n' "$2" "${3:-}" > "$dir/layer.$1"
}

# skip_reason BUILD_DIR TEST: the reason TEST printed, from CTest's log of
# the last run: its "SKIPPED: ..." line, else the last line it printed.
skip_reason() {
    local log="$1/Testing/Temporary/LastTest.log"
    [[ -f "$log" ]] || { echo "(no reason: $log not found)"; return; }
    awk -v t="$2" '
        $0 ~ /^[0-9]+\/[0-9]+ Testing: / { cur = $0; sub(/^[0-9]+\/[0-9]+ Testing: /, "", cur)
                                           intest = (cur == t); inout = 0; next }
        intest && /^Output:$/           { inout = 1; getline; next }
        intest && /^<end of output>$/   { inout = 0; intest = 0; next }
        intest && inout {
            if (reason == "" && $0 ~ /SKIPPED/) { reason = $0 }
            if ($0 != "") last = $0
        }
        END {
            if (reason == "") reason = last
            sub(/^.*SKIPPED:?[ \t]*/, "", reason)
            print (reason == "" ? "(it printed no reason)" : reason)
        }' "$log"
}

case $cmd in
reset)
    rm -f "$dir"/layer.* "$dir"/skipped.* "$dir"/stopped "$dir"/ctest.*.log
    ;;
record)
    [[ $# -ge 2 ]] || usage
    record "$1" "$2" "${3:-}"
    ;;
stopped)
    [[ $# -ge 1 ]] || usage
    echo "$1" > "$dir/stopped"
    ;;
ctest)
    [[ $# -ge 2 ]] || usage
    layer=$1 build=$2
    shift 2
    out="$dir/ctest.$layer.log"
    (cd "$build" && ctest "$@") 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    build=$(cd "$build" && pwd)
    # "  40 - script_usdt_probes (Skipped)" under "did not run".
    : > "$dir/skipped.$layer"
    sed -n 's/^[[:space:]]*[0-9][0-9]* - \([^ ]*\) (\(Skipped\|Disabled\|Not Run\))$/\1 \2/p' "$out" |
        sort -u | while read -r name why; do
            printf '%s\t%s\t%s\n' "$name" "$why" "$(skip_reason "$build" "$name")" \
                >> "$dir/skipped.$layer"
        done
    total=$(sed -n 's/^.*tests passed, [0-9]* tests\{0,1\} failed out of \([0-9]*\)$/\1/p' "$out" | tail -1)
    failed=$(sed -n 's/^.*tests passed, \([0-9]*\) tests\{0,1\} failed out of [0-9]*$/\1/p' "$out" | tail -1)
    nskip=$(wc -l < "$dir/skipped.$layer")
    detail="${total:-?} tests"
    [[ $nskip -gt 0 ]] && detail="$detail, $nskip skipped"
    if [[ $status -eq 0 ]]; then
        record "$layer" passed "$detail"
    else
        record "$layer" FAILED "$detail${failed:+, $failed failed}"
    fi
    exit "$status"
    ;;
print)
    stopped=$(cat "$dir/stopped" 2>/dev/null || true)
    echo
    echo "== make check: summary"
    passed="" skipped="" failed="" notrun=""
    blamed=""
    for layer in $LAYERS; do
        if [[ -f "$dir/layer.$layer" ]]; then
            IFS=$'\t' read -r status detail < "$dir/layer.$layer"
        elif [[ -n "$stopped" && "$(target_of "$layer")" == "$stopped" && -z "$blamed" ]]; then
            status=FAILED detail="stopped before it finished; see above"
            blamed=1
        else
            status="not run" detail=""
        fi
        printf '  %-15s %s\n' "$layer" "$status${detail:+ ($detail)}"
        case $status in
            passed) passed="$passed, $layer" ;;
            SKIPPED) skipped="$skipped, $layer" ;;
            FAILED) failed="$failed, $layer" ;;
            *) notrun="$notrun, $layer" ;;
        esac
    done
    # Each skipped test once, with the layers where it was skipped.
    all_skipped=$(for layer in $LAYERS; do
        [[ -s "$dir/skipped.$layer" ]] || continue
        awk -F'\t' -v l="$layer" '{ print $1 "\t" $2 "\t" $3 "\t" l }' "$dir/skipped.$layer"
    done | awk -F'\t' '
        { key = $1 "\t" $2 "\t" $3
          if (!(key in layers)) { order[++n] = key; layers[key] = $4 }
          else layers[key] = layers[key] ", " $4 }
        END { for (i = 1; i <= n; i++) {
                  split(order[i], f, "\t")
                  printf "  %s (%s in %s): %s\n", f[1], tolower(f[2]), layers[order[i]], f[3] } }')
    ntests=0
    if [[ -n "$all_skipped" ]]; then
        ntests=$(printf '%s\n' "$all_skipped" | wc -l)
        echo "tests that did not run:"
        printf '%s\n' "$all_skipped"
    else
        echo "tests that did not run: none"
    fi
    verdict="passed: ${passed#, }"
    [[ -n "$skipped" ]] && verdict="$verdict; layers skipped: ${skipped#, }"
    [[ $ntests -gt 0 ]] && verdict="$verdict; tests skipped: $ntests (above)"
    if [[ -n "$failed" || -n "$notrun" ]]; then
        verdict=""
        [[ -n "$failed" ]] && verdict="failed: ${failed#, }"
        [[ -n "$notrun" ]] && verdict="${verdict:+$verdict; }not run: ${notrun#, }"
        echo "make check: FAILED ($verdict)"
        exit 1
    fi
    echo "make check: $verdict"
    ;;
*)
    usage
    ;;
esac
