#!/usr/bin/env bash
# The origin's unicast egress for the same N viewers, without and with a
# relay, in one run: an origin multicasts the demo over lo to a relay; N
# headless HTTP viewers (`fusioncast viewers --http-only`) first play the
# origin itself, then the relay's copy. For each run the origin's segment
# egress over HTTP (its unicast, repairs excluded: they go to /mcast/) and
# its multicast egress are read from its /metrics, per segment published.
#
#   scripts/bench-relay-egress.sh [N] [SECONDS]      (default: 20 viewers, 30 s)
#
# Everything stays on 127.0.0.1 and lo.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
DUR=${2:-30}
BIN=$(mktemp -d)/fusioncast
go build -o "$BIN" ./cmd/fusioncast
WORK=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
GROUP="239.255.0.3:$((PORT + 1))"
ORIGIN_URL="http://127.0.0.1:$PORT"
RELAY_URL="http://127.0.0.1:$((PORT + 10))"
cleanup() {
	kill "${RELAY:-}" "${ORIGIN:-}" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$WORK" "$(dirname "$BIN")"
}
trap cleanup EXIT

"$BIN" origin --addr "127.0.0.1:$PORT" --multicast "$GROUP" --mcast-iface lo --mcast-source 127.0.0.1 \
	--mcast-key "$WORK/k.key" --log-level warn >"$WORK/origin.log" 2>&1 &
ORIGIN=$!
sleep 1
"$BIN" relay --iface lo --source 127.0.0.1 --group "$GROUP" --key "$WORK/k.key.pub" --origin "$ORIGIN_URL" \
	--addr "127.0.0.1:$((PORT + 10))" --log-level warn >"$WORK/relay.log" 2>&1 &
RELAY=$!
sleep 4

metric() { # the value of one series of the origin's /metrics (0 if absent)
	curl -s "$ORIGIN_URL/metrics" | awk -v s="$1" 'index($0, s" ") == 1 { v = $2 } END { print v + 0 }'
}
snapshot() {
	echo "$(metric 'fusioncast_origin_segment_egress_bytes_total{stream="demo"}') $(metric 'fusioncast_origin_egress_bytes_total{stream="demo",transport="multicast"}') $(metric 'fusioncast_origin_published_bytes_total{stream="demo"}')"
}
printf '%-22s %8s %22s %24s %8s\n' "viewers play" viewers "unicast copies/segment" "multicast bytes/segment" stalls
for target in origin relay; do
	url=$ORIGIN_URL
	[ "$target" = relay ] && url=$RELAY_URL
	read -r u0 m0 p0 < <(snapshot)
	out=$("$BIN" viewers -n "$N" --http-only --origin "$url" --duration "${DUR}s" --json)
	read -r u1 m1 p1 < <(snapshot)
	stalls=$(printf '%s' "$out" | sed -n 's/.*"stalls": *\([0-9]*\).*/\1/p' | head -1)
	awk -v t="$target" -v n="$N" -v u0="$u0" -v u1="$u1" -v m0="$m0" -v m1="$m1" -v p0="$p0" -v p1="$p1" -v st="${stalls:-?}" 'BEGIN {
		p = p1 - p0
		printf "%-22s %8d %22.2f %24.2f %8s\n", "the " t, n, (p > 0 ? (u1 - u0) / p : 0), (p > 0 ? (m1 - m0) / p : 0), st
	}'
done
curl -s "$RELAY_URL/status.json" | sed -n 's/.*"segments_http":\([0-9]*\).*"redirects":\([0-9]*\).*/relay: segments fetched over HTTP \1, redirects to the origin \2/p'
