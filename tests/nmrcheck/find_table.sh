#!/bin/sh
# SPDX-License-Identifier: MIT
# find_table.sh NMRCHECK MODDIR CATALOGUE [SEEDS]
#
# The table of docs/nmrcheck.md "The catalogue and its figures": for each
# planted bug of CATALOGUE, the schedules nmrcheck needs to find it (the
# schedule number of the first defect plus one; --jobs 1, --first, the
# catalogue's options) for seeds 1 to SEEDS (default 5), and their median.
# Not a test: it prints the rows, for the docs.
set -u
nmrcheck=$1 moddir=$2 catalogue=$3 seeds=${4:-5}
grep '^[a-z_]* *|' "$catalogue" | while IFS='|' read -r name kind options modules rules; do
    name=$(echo $name) kind=$(echo $kind)
    list= values=
    s=1
    while [ "$s" -le "$seeds" ]; do
        # shellcheck disable=SC2086
        n=$("$nmrcheck" --first --jobs 1 --seconds 60 --seed "$s" --progress=off $options \
            -M "$moddir" $modules 2>&1 | sed -n 's/^  seed: .*(schedule \([0-9]*\)).*/\1/p' | head -n 1)
        n=${n:+$((n + 1))}
        list="$list${list:+, }${n:-not found}"
        values="$values ${n:-999999999}"
        s=$((s + 1))
    done
    median=$(printf '%s\n' $values | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    echo "| $name | $kind | $list | $median |"
done
