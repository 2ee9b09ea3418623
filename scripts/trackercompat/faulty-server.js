// faulty-server.js is the reference tracker with one deliberate fault, for
// the test that proves internal/trackercompat catches a broken tracker
// (TestHarnessCatchesFaults). Not for anything else.
//
// Usage: node scripts/trackercompat/faulty-server.js PORT FAULT
//
// FAULT is one of:
//
//	alter-answer    change the ice-pwd of every relayed answer's SDP
//	misroute-offer  send every relayed offer back to its own sender
//	miscount        add 1 to "incomplete" in every announce response
//
// Like server.js it listens on 127.0.0.1 and prints "listening PORT".
import Server from 'bittorrent-tracker/server'

const faults = ['alter-answer', 'misroute-offer', 'miscount']
const [portArg, fault] = process.argv.slice(2)
if (!/^\d+$/.test(portArg || '') || !faults.includes(fault)) {
  console.error(`usage: node faulty-server.js PORT ${faults.join('|')}`)
  process.exit(2)
}

const server = new Server({ udp: false, http: false, ws: true, stats: false, trustProxy: false })
const sockets = new Set()

// bin2hex turns a protocol "binary string" into hex, as socket.peerId is.
const bin2hex = s => Array.from(s, ch => ch.charCodeAt(0).toString(16).padStart(2, '0')).join('')

function mangle (text) {
  let m
  try {
    m = JSON.parse(text)
  } catch {
    return { text }
  }
  if (fault === 'alter-answer' && m.answer && m.answer.sdp) {
    m.answer.sdp = m.answer.sdp.replace(/a=ice-pwd:(\S+)/g, (_, pwd) => 'a=ice-pwd:' + [...pwd].reverse().join(''))
  } else if (fault === 'misroute-offer' && m.offer) {
    const from = bin2hex(m.peer_id)
    return { text: JSON.stringify(m), to: [...sockets].find(s => s.peerId === from) }
  } else if (fault === 'miscount' && m.action === 'announce' && m.incomplete != null) {
    m.incomplete += 1
  }
  return { text: JSON.stringify(m) }
}

const onConnection = server.onWebSocketConnection.bind(server)
server.onWebSocketConnection = (socket, opts) => {
  sockets.add(socket)
  socket.on('close', () => sockets.delete(socket))
  const send = socket.send.bind(socket)
  socket.send = (data, cb) => {
    const { text, to } = mangle(String(data))
    if (to && to !== socket) return to.send(text, cb)
    return send(text, cb)
  }
  onConnection(socket, opts)
}

server.on('error', err => {
  console.error(`faulty-server.js: ${err.message}`)
  process.exit(1)
})
server.on('listening', () => {
  console.error(`faulty-server.js: fault ${fault}`)
  process.stdout.write(`listening ${server.ws.address().port}\n`)
})
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close(() => process.exit(0))
    setTimeout(() => process.exit(0), 1000).unref()
  })
}
server.listen(Number(portArg), '127.0.0.1')
