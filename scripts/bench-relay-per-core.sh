#!/usr/bin/env bash
# How many WebRTC viewers one relay core seeds, measured at shares of a
# core: `fusioncast benchrelay` with the relay capped by a cgroup CPU quota
# (--relay-quota), since this 2-core VM cannot run a whole core's worth of
# viewers (pion receivers cost about what the relay does) beside the relay.
# N viewers on time at a quota of q is N/q per core. The last rows run
# without a quota, for comparison.
#
#   scripts/bench-relay-per-core.sh [MEASURE] [N@QUOTA ...]   (as root)
#   default: 30s  200@0.25 400@0.5 500@0.5 600@0.75 600@1 700@1
#
# QUOTA 1 means no cap (the relay has its core, as in plain benchrelay).
# The relay is pinned to CPU 0 and the viewers to CPU 1 alone
# (benchrelay's default lets them use what the relay leaves of CPU 0 too,
# but there the relay preempts them, and their SACKs come late: 600
# viewers at 0.75 were 97.5% on time that way, 100% this way). One CPU
# holds the viewers of up to about 700.
# Everything stays on 127.0.0.1 (benchrelay's own rule).
set -euo pipefail
cd "$(dirname "$0")/.."
MEASURE=${1:-30s}
shift || true
RUNS=("$@")
[ ${#RUNS[@]} -gt 0 ] || RUNS=(200@0.25 400@0.5 500@0.5 600@0.75 600@1 700@1)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
go build -o "$WORK/fusioncast" ./cmd/fusioncast
header=
for run in "${RUNS[@]}"; do
	n=${run%@*} q=${run#*@}
	quota=()
	[ "$q" = 1 ] || quota=(--relay-quota "$q")
	out=$("$WORK/fusioncast" benchrelay --n "$n" --measure "$MEASURE" --relay-cpu 0 --viewer-cpu 1 "${quota[@]}" 2>&1)
	if [ -z "$header" ]; then
		header=$(printf '%s\n' "$out" | sed -n '/^viewers/p' | head -1)
		printf '%-6s %-8s %s\n' quota "per core" "$header"
	fi
	printf '%-6s %-8s %s\n' "$q" "$(awk -v n="$n" -v q="$q" 'BEGIN{printf "%d", n/q}')" "$(printf '%s\n' "$out" | sed -n '/^ *[0-9]/p' | tail -1)"
done
