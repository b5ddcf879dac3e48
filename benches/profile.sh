#!/usr/bin/env bash
# Instructions (callgrind) and allocations per token exchange, keliweb against oauth2 5, for
# the six cases of BENCHMARKS.md's table 2, from one build of the `exchange` bench:
#
#   bash benches/profile.sh              # all six cases, 20,000 exchanges each
#   bash benches/profile.sh error        # one keliweb case and oauth2's
#
# Each case runs the bench's profile mode (`EXCHANGE_PROFILE=<case>`) under valgrind; the count
# is the inclusive one of the function holding that side's exchanges (`keliweb_rounds`,
# `oauth2_rounds`), divided by the number of exchanges. Needs valgrind (callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/.."
exchanges=20000
bench=$(cargo bench --bench exchange --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message["target"]["name"] == "exchange" and message.get("executable"):
        print(message["executable"])')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
grants=("${@:-password refresh error}")
read -r -a grants <<<"${grants[*]}"
echo "| case | instructions per exchange | vs oauth2 | allocations per exchange (bytes) | without the transport's response |"
echo "|---|---:|---:|---:|---:|"
for grant in "${grants[@]}"; do
    declare -A counts=()
    for side in oauth2 keliweb; do
        case_name=$grant
        function=keliweb_rounds
        if [ "$side" = oauth2 ]; then
            case_name=oauth2-$grant
            function=oauth2_rounds
        fi
        if ! EXCHANGE_PROFILE=$case_name valgrind --tool=callgrind \
            --callgrind-out-file="$out/$case_name.out" "$bench" --bench >"$out/$case_name.log" 2>&1; then
            echo "benches/profile.sh: $case_name failed:" >&2
            cat "$out/$case_name.log" >&2
            exit 1
        fi
        instructions=$(callgrind_annotate --inclusive=yes "$out/$case_name.out" |
            awk -v name="exchange::$function" '$0 ~ name" " && !found { gsub(",", "", $1); found = $1 } END { print found }')
        counts[$side]=$instructions
        allocations=$(awk -F'\t' '$1 == "ALLOCS" && $2 ~ /\/(oauth2-)?'"$grant"'$/ { printf "%.2f (%.0f B)", $3, $4 }' "$out/$case_name.log")
        # The transport's copy of the response (the bench clones the canned one for each
        # exchange, on both sides), taken out.
        own=$(awk -F'\t' '$1 == "ALLOCS" { if ($2 ~ /response$/) { n -= $3; b -= $4 } else { n += $3; b += $4 } }
            END { printf "%.2f (%.0f B)", n, b }' "$out/$case_name.log")
        ratio=$(python3 -c "print(f'{${counts[$side]} / ${counts[oauth2]}:.2f}×')")
        per_exchange=$(python3 -c "print(f'{$instructions / $exchanges / 1000:.1f} k')")
        echo "| $side: $grant | $per_exchange | $ratio | $allocations | $own |"
    done
done
