#!/usr/bin/env bash
# setup-deps.sh installs the programs the test suites and benchmarks use, on
# Debian, when run as root: chromium (browser tests), ffmpeg (ingest tests),
# nftables and iproute2 (namespace tests), nginx and wrk (serving benchmark),
# Node.js and npm (the reference WebTorrent tracker of the compatibility
# tests and of fusioncast benchtracker).
# As another user it only says what is missing; the suites that need those
# programs then skip and say why (or fail, with FUSIONCAST_REQUIRE_ALL=1).
set -euo pipefail

declare -A pkg=(
	[chromium]=chromium
	[ffmpeg]=ffmpeg
	[nft]=nftables
	[ip]=iproute2
	[nginx]=nginx-light
	[wrk]=wrk
	[taskset]=util-linux
	[node]=nodejs
	[npm]=npm
)
missing=()
for bin in "${!pkg[@]}"; do
	command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("${pkg[$bin]}")
done
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "setup-deps: missing ${missing[*]}; install them (as root: apt-get install ${missing[*]})." >&2
	echo "setup-deps: the suites that need them will skip." >&2
	exit 0
fi
echo "setup-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ]; then
	apt-get update -q
fi
apt-get install -y -q --no-install-recommends "${missing[@]}" || { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; }
