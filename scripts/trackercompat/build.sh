#!/usr/bin/env bash
# build.sh refreshes the vendored bittorrent-tracker client that
# internal/trackercompat embeds, from the versions pinned in package.json and
# package-lock.json:
#
#	internal/trackercompat/static/bittorrent-tracker-client.js   the ES module bundle
#	internal/trackercompat/static/bittorrent-tracker-LICENSE     bittorrent-tracker's MIT licence
#	internal/trackercompat/static/VERSION                        bittorrent-tracker's version
#	internal/trackercompat/static/THIRD-PARTY-NOTICES            every bundled package's licence
#
# Usage: scripts/trackercompat/build.sh
#
# To move to another version: edit the pins in package.json, run
# `npm install --package-lock-only --ignore-scripts` here, then this script,
# and commit package.json, package-lock.json and the files above.
#
# It first reinstalls the packages from scratch (install.sh: npm ci
# --ignore-scripts into scripts/trackercompat/node_modules, which is
# git-ignored); that is also all the reference tracker server (server.js,
# run-server.sh) needs. A Makefile target could call this script, as
# vendor-hlsjs does for hls.js.
#
# The client imports node's "events" module and reads process.browser; the
# rest of its dependencies ship browser builds (selected by their "browser"
# fields and export conditions, which --platform=browser follows). So the
# only shims are the "events" package from npm (pinned here as a
# devDependency; esbuild resolves the bare import to it) and
# --define:process.browser=true. Nothing needs Buffer; debug, streamx and the
# websocket code look for process only behind typeof checks.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dest=$root/internal/trackercompat/static

FORCE=1 "$here/install.sh" # a clean npm ci: the bundle comes from exactly the lock file

cd "$here"
version=$(node -p 'require("./node_modules/bittorrent-tracker/package.json").version')
pinned=$(node -p 'require("./package.json").devDependencies["bittorrent-tracker"]')
if [ "$version" != "$pinned" ]; then
	echo "trackercompat/build: installed bittorrent-tracker $version, package.json pins $pinned" >&2
	exit 1
fi
esbuild_version=$(node_modules/.bin/esbuild --version)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

node_modules/.bin/esbuild entry.js \
	--bundle --format=esm --platform=browser \
	--define:process.browser=true \
	--minify --legal-comments=none \
	--metafile="$tmp/meta.json" \
	--outfile="$tmp/bittorrent-tracker-client.js" \
	--log-level=warning

{
	echo "Licence notices of the npm packages bundled into bittorrent-tracker-client.js:"
	echo "bittorrent-tracker $version, built with esbuild $esbuild_version by scripts/trackercompat/build.sh"
	echo "(package-lock.json sha256 $(sha256sum package-lock.json | cut -d' ' -f1))."
	echo
} >"$tmp/THIRD-PARTY-NOTICES"
node notices.js "$tmp/meta.json" "$tmp/notices"
cat "$tmp/notices" >>"$tmp/THIRD-PARTY-NOTICES"

mkdir -p "$dest"
{
	echo "/*! bittorrent-tracker $version client (https://github.com/webtorrent/bittorrent-tracker), MIT License, WebTorrent LLC."
	echo " * Browser bundle built with esbuild $esbuild_version by scripts/trackercompat/build.sh; licences: bittorrent-tracker-LICENSE, THIRD-PARTY-NOTICES. */"
	cat "$tmp/bittorrent-tracker-client.js"
} >"$dest/bittorrent-tracker-client.js"
cp node_modules/bittorrent-tracker/LICENSE "$dest/bittorrent-tracker-LICENSE"
cp "$tmp/THIRD-PARTY-NOTICES" "$dest/THIRD-PARTY-NOTICES"
echo "$version" >"$dest/VERSION"

echo "trackercompat/build: bittorrent-tracker $version -> ${dest#"$root"/}/bittorrent-tracker-client.js ($(wc -c <"$dest/bittorrent-tracker-client.js") bytes, sha256 $(sha256sum "$dest/bittorrent-tracker-client.js" | cut -c1-16)…)"
