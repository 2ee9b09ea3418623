#!/usr/bin/env bash
# The origin's unicast egress for the same N viewers, without and with a
# relay, over HTTP and over WebRTC, in one run. An origin multicasts the demo
# over lo to a relay, and a tracker runs beside it. Four rows, each N viewers
# for SECONDS:
#
#   1. HTTP viewers (`fusioncast viewers --http-only`) play the origin;
#   2. the same play the relay's copy over HTTP;
#   3. WebRTC viewers (`fusioncast viewers --tracker ...`) play the origin:
#      playlists from the origin, segments from each other, the tracker's
#      edge fetchers fetching new segments from the origin. No relay is in
#      the swarm: the relay runs without --tracker until this row is over;
#   4. the same with the relay in the swarm: it is restarted with --tracker
#      and seeds the viewers over WebRTC what it receives by multicast.
#
# For each row the origin's segment egress over HTTP (its unicast; repairs are
# excluded, they go to /mcast/, and so are playlists) and its multicast
# egress are read from its /metrics and divided by the segment bytes it
# published meanwhile: over the whole row, and from WARMUP seconds after the
# viewers start to the end (the steady state, without the joins). With the
# viewers' byte split (HTTP / from other peers / from the relay; in row 2
# "HTTP" is the relay's) and stalls.
#
#   scripts/bench-relay-egress.sh [N] [SECONDS] [WARMUP]   (default: 20 viewers, 30 s, 10 s)
#
# Everything stays on 127.0.0.1 and lo. Every process is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
DUR=${2:-30}
WARM=${3:-10}
if ! [ "$WARM" -ge 1 ] 2>/dev/null || ! [ "$WARM" -lt "$DUR" ] 2>/dev/null; then
	echo "usage: $0 [N] [SECONDS] [WARMUP]: WARMUP must be whole seconds, at least 1 and less than SECONDS" >&2
	exit 2
fi
BIN=$(mktemp -d)/fusioncast
WORK=$(mktemp -d)
cleanup() {
	local p
	for p in "${VIEWERS:-}" "${RELAY:-}" "${TRACKER:-}" "${ORIGIN:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$WORK" "$(dirname "$BIN")"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
go build -o "$BIN" ./cmd/fusioncast
PORT=$((20000 + RANDOM % 20000))
GROUP="239.255.0.3:$((PORT + 1))"
ORIGIN_URL="http://127.0.0.1:$PORT"
TRACKER_HTTP="http://127.0.0.1:$((PORT + 2))"
TRACKER_URL="ws://127.0.0.1:$((PORT + 2))/announce"
RELAY_URL="http://127.0.0.1:$((PORT + 10))"

"$BIN" origin --addr "127.0.0.1:$PORT" --multicast "$GROUP" --mcast-iface lo --mcast-source 127.0.0.1 \
	--mcast-key "$WORK/k.key" --log-level warn >"$WORK/origin.log" 2>&1 &
ORIGIN=$!
"$BIN" tracker --addr "127.0.0.1:$((PORT + 2))" --log-level warn >"$WORK/tracker.log" 2>&1 &
TRACKER=$!
up() { # up NAME URL LOG: wait until URL answers, or give up with the log
	local i
	for i in $(seq 40); do
		curl -sf -o /dev/null "$2" && return
		sleep 0.25
	done
	echo "error: the $1 did not start: $(tail -3 "$3")" >&2
	exit 1
}
up origin "$ORIGIN_URL/metrics" "$WORK/origin.log"
up tracker "$TRACKER_HTTP/healthz" "$WORK/tracker.log"

relay_status() { # one number of the relay's /status.json (empty if unreadable)
	curl -s "$RELAY_URL/status.json" | sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" || true
}
relays_in_swarm() { # relay agents the tracker holds in its swarms
	curl -s "$TRACKER_HTTP/admin/swarms" | awk -F: '/"relays":/ { s += $2 } END { print s + 0 }' || true
}
start_relay() { # start_relay [--tracker URL]: start the relay and wait until it holds a playlist's window
	"$BIN" relay --iface lo --source 127.0.0.1 --group "$GROUP" --key "$WORK/k.key.pub" --origin "$ORIGIN_URL" \
		--addr "127.0.0.1:$((PORT + 10))" --log-level warn "$@" >>"$WORK/relay.log" 2>&1 &
	RELAY=$!
	local i held
	for i in $(seq 60); do
		held=$(relay_status segments)
		[ "${held:-0}" -ge 6 ] && return
		sleep 0.5
	done
	echo "warning: after 30 s the relay holds ${held:-no} segments (relay log: $(tail -3 "$WORK/relay.log"))" >&2
}
stop_relay() {
	kill "$RELAY" 2>/dev/null || true
	wait "$RELAY" 2>/dev/null || true
	RELAY=
}
relay_summary() { # what the relay fetched from the origin and sent the origin's way
	curl -s "$RELAY_URL/status.json" | sed -n 's/.*"segments_http": *\([0-9]*\).*"redirects": *\([0-9]*\).*/segments fetched over HTTP \1, redirects to the origin \2/p' || true
}

metric() { # the value of one series of the origin's /metrics (0 if absent)
	curl -s "$ORIGIN_URL/metrics" | awk -v s="$1" 'index($0, s" ") == 1 { v = $2 } END { print v + 0 }' || true
}
snapshot() {
	echo "$(metric 'fusioncast_origin_segment_egress_bytes_total{stream="demo"}') $(metric 'fusioncast_origin_egress_bytes_total{stream="demo",transport="multicast"}') $(metric 'fusioncast_origin_published_bytes_total{stream="demo"}')"
}
jnum() { # the first number named $1 in the viewers' JSON summary
	sed -n "s/.*\"$1\": *\(-\{0,1\}[0-9.]*\).*/\1/p" "$WORK/viewers.json" | head -1
}

row() { # row LABEL VIEWERS-ARGS...: N viewers for DUR seconds, one line of the table
	local label=$1 u0 m0 p0 uw mw pw u1 m1 p1
	shift
	read -r u0 m0 p0 < <(snapshot)
	"$BIN" viewers -n "$N" --duration "${DUR}s" --json "$@" >"$WORK/viewers.json" 2>>"$WORK/viewers.log" &
	VIEWERS=$!
	sleep "$WARM"
	read -r uw mw pw < <(snapshot)
	if ! wait "$VIEWERS"; then
		echo "viewers failed ($label): $(tail -3 "$WORK/viewers.log")" >&2
		: >"$WORK/viewers.json"
	fi
	VIEWERS=
	read -r u1 m1 p1 < <(snapshot)
	awk -v l="$label" -v n="$N" -v u0="$u0" -v uw="$uw" -v u1="$u1" -v m0="$m0" -v m1="$m1" -v p0="$p0" -v pw="$pw" -v p1="$p1" \
		-v h="$(jnum http)" -v pp="$(jnum p2p)" -v r="$(jnum relay)" -v st="$(jnum stalls)" 'BEGIN {
		mb = 1e6
		printf "%-30s %7d %14.2f %14.2f %15.2f %8.1f %8.1f %8.1f %7s\n", l, n,
			(p1 > p0 ? (u1 - u0) / (p1 - p0) : 0), (p1 > pw ? (u1 - uw) / (p1 - pw) : 0),
			(p1 > p0 ? (m1 - m0) / (p1 - p0) : 0), h / mb, pp / mb, r / mb, (st == "" ? "?" : st)
	}'
}

start_relay
printf '%-30s %7s %14s %14s %15s %8s %8s %8s %7s\n' "" "" "origin unicast" "copies/segment" "origin mcast" "viewers" "MB" "" ""
printf '%-30s %7s %14s %14s %15s %8s %8s %8s %7s\n' "viewers" n "whole row" "after ${WARM}s" "bytes/seg byte" http p2p relay stalls
row "1 HTTP, play the origin" --http-only --origin "$ORIGIN_URL"
row "2 HTTP, play the relay" --http-only --origin "$RELAY_URL"
R2=$(relay_summary)
if [ "$(relays_in_swarm)" != 0 ]; then
	echo "error: a relay is in the tracker's swarm before row 3" >&2
	exit 1
fi
row "3 WebRTC, no relay in swarm" --origin "$ORIGIN_URL" --tracker "$TRACKER_URL"
stop_relay
start_relay --tracker "$TRACKER_URL"
for i in $(seq 20); do
	[ "$(relays_in_swarm)" = 1 ] && break
	sleep 0.5
done
[ "$(relays_in_swarm)" = 1 ] || echo "warning: the tracker does not list the relay in the swarm" >&2
row "4 WebRTC, relay seeds swarm" --origin "$ORIGIN_URL" --tracker "$TRACKER_URL"
echo "relay in row 2: ${R2:-status unreadable}"
echo "relay in row 4 (restarted with --tracker): $(relay_summary), sent to peers over WebRTC $(curl -s "$RELAY_URL/metrics" | awk '/^fusioncast_relay_swarm_upload_bytes_total/ { printf "%.1f MB", $2 / 1e6 }')"
