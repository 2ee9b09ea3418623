#!/usr/bin/env bash
# install.sh installs the pinned npm packages of package-lock.json into
# scripts/trackercompat/node_modules (git-ignored), unless they are already
# there: node_modules/.fusioncast-lock-sha256 records the sha256 of the
# package-lock.json they were installed from, and the Go test of
# internal/trackercompat checks the same stamp.
#
# Usage: scripts/trackercompat/install.sh        # install if missing or stale
#        FORCE=1 scripts/trackercompat/install.sh # always reinstall
#
# Scripts are ignored (npm ci --ignore-scripts): the only ones in the tree
# are the optional native modules' (node-datachannel, a WebRTC binding for
# node that the browser does not need and whose install script downloads a
# prebuilt binary; bufferutil and utf-8-validate, which ws does without) and
# esbuild's, which only checks its platform binary (@esbuild/linux-x64 is
# installed as an optional dependency without it).
set -euo pipefail

cd "$(dirname "$0")"

for tool in node npm sha256sum; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "trackercompat/install: $tool not found; install Node.js (20 or later) and npm" >&2
		exit 1
	fi
done

want=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.fusioncast-lock-sha256
if [ "${FORCE:-}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi

echo "trackercompat/install: npm ci --ignore-scripts in $(pwd)" >&2
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2
echo "$want" >"$stamp"
