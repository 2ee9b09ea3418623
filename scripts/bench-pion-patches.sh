#!/usr/bin/env bash
# The relay's CPU with the released pion/dtls and pion/sctp against our
# patched copies (internal/third_party/pion), in one run: two builds of
# fusioncast, and `fusioncast benchrelay` rounds that alternate between
# them, so that both meet the same machine.
#
#   scripts/bench-pion-patches.sh [N,...] [ROUNDS] [MEASURE] [QUOTA]   (default: 400,600  2  20s  none; as root)
#
# QUOTA caps each relay at that share of one core (benchrelay
# --relay-quota, a cgroup): N viewers on time at 0.5 is 2N per core.
#
# The released build drops go.mod's two replace lines (a copy of go.mod,
# -modfile) and builds with -tags pionreleased; its modules come from the
# module cache (GOSUMDB=off: go.sum has no sums for them while replaced).
# Everything stays on 127.0.0.1 (benchrelay's own rule).
set -euo pipefail
cd "$(dirname "$0")/.."
NS=${1:-400,600}
ROUNDS=${2:-2}
MEASURE=${3:-20s}
QUOTA=${4:-0}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
go build -o "$WORK/patched" ./cmd/fusioncast
sed '/^replace github.com\/pion\/\(dtls\/v3\|sctp\) =>/d' go.mod >"$WORK/go.mod"
cp go.sum "$WORK/go.sum"
GOSUMDB=off GOFLAGS=-mod=mod go build -tags pionreleased -modfile="$WORK/go.mod" -o "$WORK/released" ./cmd/fusioncast
header=
for n in ${NS//,/ }; do
	for r in $(seq "$ROUNDS"); do
		for b in released patched; do
			out=$("$WORK/$b" benchrelay --n "$n" --measure "$MEASURE" --relay-quota "$QUOTA" 2>&1)
			if [ -z "$header" ]; then
				header=$(printf '%s\n' "$out" | sed -n '/^viewers/p' | head -1)
				printf '%-9s %s\n' build "$header"
			fi
			printf '%-9s %s\n' "$b" "$(printf '%s\n' "$out" | sed -n '/^ *[0-9]/p' | tail -1)"
		done
	done
done
