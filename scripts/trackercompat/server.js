// server.js runs the reference WebTorrent tracker: the bittorrent-tracker
// server at the version pinned in package.json, websocket only (no HTTP or
// UDP tracker, no stats page, X-Forwarded-For ignored). fusioncast's tracker
// must behave like it on the wire; the benchmarks run both side by side.
//
// Usage: node scripts/trackercompat/server.js PORT [HOST]
//
// HOST defaults to 127.0.0.1; PORT 0 picks a free port. When the server
// listens it prints "listening PORT" (the real port) on stdout, one line;
// everything else goes to stderr. SIGINT and SIGTERM close it and exit 0.
// Announce URL: ws://HOST:PORT (the server answers websocket upgrades on any
// path). Set DEBUG=bittorrent-tracker:* to log every message.
//
// The server keeps the package's defaults: announce interval 120 s (10 min /
// 5 for websocket peers), at most 1000 peers per swarm, peers forgotten
// after 20 min without an announce.
import fs from 'node:fs'
import Server from 'bittorrent-tracker/server'

const usage = 'usage: node server.js PORT [HOST]'
const [portArg, host = '127.0.0.1'] = process.argv.slice(2)
if (portArg === undefined || !/^\d+$/.test(portArg) || Number(portArg) > 65535) {
  console.error(usage)
  process.exit(2)
}

// Refuse to run another version than the pinned one (a stale node_modules).
const pkgURL = new URL('./package.json', import.meta.url)
const installedURL = new URL('./node_modules/bittorrent-tracker/package.json', import.meta.url)
const pinned = JSON.parse(fs.readFileSync(pkgURL, 'utf8')).devDependencies['bittorrent-tracker']
const installed = JSON.parse(fs.readFileSync(installedURL, 'utf8')).version
if (installed !== pinned) {
  console.error(`server.js: node_modules has bittorrent-tracker ${installed}, package.json pins ${pinned}: run scripts/trackercompat/install.sh`)
  process.exit(1)
}

const server = new Server({ udp: false, http: false, ws: true, stats: false, trustProxy: false })

server.on('error', err => {
  console.error(`server.js: ${err.message}`)
  process.exit(1)
})
server.on('warning', err => {
  console.error(`server.js: warning: ${err.message}`)
})
server.on('listening', () => {
  console.error(`server.js: bittorrent-tracker ${installed} on ws://${host}:${server.ws.address().port}`)
  process.stdout.write(`listening ${server.ws.address().port}\n`)
})

let closing = false
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (closing) return
    closing = true
    server.close(() => process.exit(0))
    // Open websockets can hold the http server's close: do not wait for them.
    setTimeout(() => process.exit(0), 1000).unref()
  })
}

server.listen(Number(portArg), host)

// With `node --expose-gc`, SIGUSR2 runs a full garbage collection (the
// memory benchmark measures the resident size before and after one).
process.on('SIGUSR2', () => {
  if (typeof globalThis.gc === 'function') {
    globalThis.gc()
    console.error('server.js: garbage collected')
  }
})
