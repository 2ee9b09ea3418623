#!/usr/bin/env bash
# run-server.sh starts the reference WebTorrent tracker (server.js, the pinned
# bittorrent-tracker server, websocket only), installing the npm packages
# first if they are missing or stale (install.sh).
#
# Usage: scripts/trackercompat/run-server.sh PORT [HOST]   # HOST: 127.0.0.1
#
# It prints "listening PORT" when ready; stop it with Ctrl-C or SIGTERM.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
"$here/install.sh"
exec node "$here/server.js" "$@"
