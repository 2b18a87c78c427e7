#!/bin/sh
# SPDX-License-Identifier: MIT
# nmrcheck_bench.sh BUILD: nmrcheck's speed, schedules per second, for two
# modules (echo_provider_v1 and echo_client, no threads of its own) without
# workers and with the default two workers; one child, then two.  Each
# figure is the median of three runs of 5,000 schedules; the ratio of two
# children to one is measured in the same run.
set -eu
build=$1
nmrcheck=$build/tools/nmrcheck/nmrcheck
mods="echo_provider_v1 echo_client:threads=0"
rate() {   # jobs workers -> schedules per second (median of 3)
    for i in 1 2 3; do
        # shellcheck disable=SC2086
        "$nmrcheck" --schedules 5000 --seed "$i" --jobs "$1" --workers "$2" --progress=off \
            -M "$build/modules" $mods | sed -n 's/^nmrcheck: [0-9]* schedules in [0-9.]* s (\([0-9]*\)\/s).*/\1/p'
    done | sort -n | sed -n 2p
}
echo "nmrcheck: schedules per second, two modules (median of 3 runs of 5,000)"
printf '  %-28s %8s %8s %7s\n' "" "1 job" "2 jobs" "2/1"
for w in 0 2; do
    one=$(rate 1 "$w")
    two=$(rate 2 "$w")
    printf '  %-28s %8s %8s %7s\n' "--workers $w" "$one" "$two" \
        "$(awk -v a="$two" -v b="$one" 'BEGIN { printf "%.2fx", a / b }')"
done
