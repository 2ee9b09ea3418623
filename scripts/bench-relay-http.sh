#!/usr/bin/env bash
# How many LAN viewers over plain HTTP one relay core serves: an origin
# multicasts the demo over lo, a relay (GOMAXPROCS=1, its own process)
# receives it, and N headless HTTP viewers (`fusioncast viewers --http-only`)
# play the relay's copy. For each N the relay's CPU (user + system, from
# /proc) over the viewers' run is printed with the viewers' stalls: the
# share of one core per viewer gives viewers per core.
#
#   scripts/bench-relay-http.sh [N ...]      (default: 100 300 1000)
#
# Everything stays on 127.0.0.1 and lo.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(mktemp -d)/fusioncast
go build -o "$BIN" ./cmd/fusioncast
WORK=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
GROUP="239.255.0.2:$((PORT + 1))"
cleanup() {
	kill "${RELAY:-}" "${ORIGIN:-}" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$WORK" "$(dirname "$BIN")"
}
trap cleanup EXIT

"$BIN" origin --addr "127.0.0.1:$PORT" --multicast "$GROUP" --mcast-iface lo --mcast-source 127.0.0.1 \
	--mcast-key "$WORK/k.key" --max-conns 20000 --log-level warn >"$WORK/origin.log" 2>&1 &
ORIGIN=$!
sleep 1
GOMAXPROCS=1 "$BIN" relay --iface lo --source 127.0.0.1 --group "$GROUP" --key "$WORK/k.key.pub" \
	--origin "http://127.0.0.1:$PORT" --addr "127.0.0.1:$((PORT + 10))" --log-level warn >"$WORK/relay.log" 2>&1 &
RELAY=$!
sleep 4

ticks() { awk '{print $14 + $15}' "/proc/$RELAY/stat"; }
HZ=$(getconf CLK_TCK)
DUR=20
printf '%8s %12s %14s %10s %12s\n' viewers relay_cpu cpu_per_viewer stalls viewers/core
for N in "${@:-100 300 1000}"; do
	for n in $N; do
		t0=$(ticks)
		s0=$(date +%s.%N)
		out=$("$BIN" viewers -n "$n" --http-only --origin "http://127.0.0.1:$((PORT + 10))" --duration "${DUR}s" --ramp 2s --json)
		s1=$(date +%s.%N)
		t1=$(ticks)
		stalls=$(printf '%s' "$out" | sed -n 's/.*"stalls": *\([0-9]*\).*/\1/p' | head -1)
		awk -v t0="$t0" -v t1="$t1" -v hz="$HZ" -v s0="$s0" -v s1="$s1" -v n="$n" -v st="${stalls:-?}" 'BEGIN {
			cpu = (t1 - t0) / hz / (s1 - s0)
			printf "%8d %11.1f%% %13.3f%% %10s %12.0f\n", n, 100 * cpu, 100 * cpu / n, st, (cpu > 0 ? n / cpu : 0)
		}'
	done
done
