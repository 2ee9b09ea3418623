#!/usr/bin/env bash
# vendor-hlsjs.sh refreshes the vendored copy of hls.js that the web package
# embeds: web/static/vendor/hls.js/{hls.min.js,LICENSE,VERSION}.
#
# Usage: scripts/vendor-hlsjs.sh            # the pinned version below
#        VERSION=1.7.4 scripts/vendor-hlsjs.sh
#
# Needs node and npm (only "npm pack", which downloads the published tarball from the
# registry; nothing is installed). The vendored files are committed.
set -euo pipefail

VERSION=${VERSION:-1.7.4}

cd "$(dirname "$0")/.."
DEST=web/static/vendor/hls.js

if ! command -v npm >/dev/null 2>&1; then
	echo "vendor-hlsjs: npm not found; install Node.js and npm" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "hls.js@$VERSION" >/dev/null)
tarball=("$tmp"/hls.js-"$VERSION".tgz)
if [ ! -f "${tarball[0]}" ]; then
	echo "vendor-hlsjs: npm pack did not produce hls.js-$VERSION.tgz" >&2
	exit 1
fi
tar -xzf "${tarball[0]}" -C "$tmp" package/dist/hls.min.js package/LICENSE package/package.json

got=$(node -p 'require(process.argv[1]).version' "$tmp/package/package.json")
if [ "$got" != "$VERSION" ]; then
	echo "vendor-hlsjs: tarball is version '$got', want '$VERSION'" >&2
	exit 1
fi

mkdir -p "$DEST"
cp "$tmp/package/dist/hls.min.js" "$DEST/hls.min.js"
cp "$tmp/package/LICENSE" "$DEST/LICENSE"
echo "$VERSION" >"$DEST/VERSION"
echo "vendor-hlsjs: hls.js $VERSION -> $DEST ($(wc -c <"$DEST/hls.min.js") bytes, sha256 $(sha256sum "$DEST/hls.min.js" | cut -c1-16)…)"
