// compat.js drives N bittorrent-tracker clients (the real WebTorrent tracker
// client, vendored as bittorrent-tracker-client.js) against one websocket
// tracker from one page, and reports what happened: see runCompat below and
// the Go package fusioncast/internal/trackercompat, which reads the result.
//
// Every client imports its own instance of the bundle (a distinct module URL),
// so each has its own websocket: the client keeps a socket pool per module
// and would otherwise carry every client's messages over one connection,
// which is not what N browsers do.
//
// The page watches the tracker traffic by wrapping window.WebSocket before
// any client exists (the client captures the constructor when its module is
// evaluated). It remembers every offer and answer a client sends and checks
// the ones the tracker relays: same SDP, sender's peer_id, and delivered to
// the right peer.

const bundleURL = new URL('./bittorrent-tracker-client.js', import.meta.url)

// Limits that keep a misbehaving tracker from filling the page.
const maxFramesLogged = 60 // per client
const maxFrameChars = 400
const maxListed = 50 // warnings, errors per client

const enc = new TextEncoder()
const dec = new TextDecoder()

// hex2bin turns hex into the binary string ("latin1", one char per byte)
// that the WebTorrent wire protocol puts in JSON.
function hex2bin (hex) {
  let s = ''
  for (let i = 0; i < hex.length; i += 2) s += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16))
  return s
}

function bin2hex (bin) {
  if (typeof bin !== 'string') return ''
  let s = ''
  for (let i = 0; i < bin.length; i++) s += bin.charCodeAt(i).toString(16).padStart(2, '0')
  return s
}

// randomPeerId returns a 20-byte peer id as hex: an Azureus-style prefix and
// 12 random bytes, one of them at least 0x80 so that the tracker must carry
// the id as bytes, not as UTF-8 text.
function randomPeerId () {
  const b = new Uint8Array(20)
  b.set(enc.encode('-FC0001-'))
  crypto.getRandomValues(b.subarray(8))
  b[19] |= 0x80
  return Array.from(b, x => x.toString(16).padStart(2, '0')).join('')
}

function pushLimited (list, v) {
  if (list.length < maxListed) list.push(v)
}

function errText (e) {
  if (e == null) return 'undefined'
  return e.message ? String(e.message) : String(e)
}

// ---- watching the tracker traffic ----

// owner is the client whose constructor is running: its socket belongs to it.
let owner = null
const sentOffers = new Map() // offer_id (binary) -> {from, type, sdp}
const sentAnswers = new Map() // offer_id (binary) -> {from, to (binary), type, sdp}

function newWire () {
  return {
    sockets: 0,
    sent: { announces: 0, offers: 0, answers: 0, scrapes: 0, other: 0 },
    received: {
      responses: 0, offers: 0, answers: 0, scrapes: 0,
      failures: 0, warnings: 0, other: 0, unparsed: 0, binaryFrames: 0
    },
    offersIntact: 0,
    offersAltered: 0,
    answersIntact: 0,
    answersAltered: 0,
    misrouted: 0,
    frames: []
  }
}

function logFrame (c, dir, text) {
  const w = c.wire
  if (w.frames.length >= maxFramesLogged) return
  // SDPs are long and not interesting in a log: shorten them.
  const short = text.replace(/"sdp":"((?:[^"\\]|\\.){0,40})(?:[^"\\]|\\.)*"/g, '"sdp":"$1…"')
  w.frames.push({ dir, ms: Math.round(performance.now() - c.t0), text: short.slice(0, maxFrameChars) })
}

function onSent (c, data) {
  const text = typeof data === 'string' ? data : dec.decode(data)
  logFrame(c, 'sent', text)
  let m
  try {
    m = JSON.parse(text)
  } catch {
    c.wire.sent.other++
    return
  }
  if (m.action === 'scrape') {
    c.wire.sent.scrapes++
  } else if (m.action === 'announce' && m.answer) {
    c.wire.sent.answers++
    sentAnswers.set(m.offer_id, { from: c.index, to: m.to_peer_id, type: m.answer.type, sdp: m.answer.sdp })
  } else if (m.action === 'announce') {
    c.wire.sent.announces++
    for (const o of m.offers || []) {
      c.wire.sent.offers++
      sentOffers.set(o.offer_id, { from: c.index, type: o.offer?.type, sdp: o.offer?.sdp })
    }
  } else {
    c.wire.sent.other++
  }
}

function onReceived (c, data, clients) {
  const w = c.wire
  let text = data
  if (typeof data !== 'string') {
    w.received.binaryFrames++
    text = dec.decode(data)
  }
  logFrame(c, 'received', text)
  let m
  try {
    m = JSON.parse(text)
  } catch {
    w.received.unparsed++
    return
  }
  if (m['failure reason'] != null) w.received.failures++
  if (m['warning message'] != null) w.received.warnings++
  if (m.offer) {
    w.received.offers++
    const sent = sentOffers.get(m.offer_id)
    const from = sent && clients[sent.from]
    if (!sent) {
      w.offersAltered++
      pushLimited(c.errors, `tracker relayed an offer with an offer_id nobody sent (${bin2hex(m.offer_id)})`)
    } else if (sent.from === c.index) {
      w.misrouted++
      pushLimited(c.errors, 'tracker sent a client its own offer')
    } else if (m.peer_id !== hex2bin(from.peerId)) {
      w.offersAltered++
      pushLimited(c.errors, `offer from client ${sent.from} arrived with peer_id ${bin2hex(m.peer_id)}, want ${from.peerId}`)
    } else if (m.offer.type !== sent.type || m.offer.sdp !== sent.sdp) {
      w.offersAltered++
      pushLimited(c.errors, `offer from client ${sent.from} arrived altered`)
    } else {
      w.offersIntact++
    }
  } else if (m.answer) {
    w.received.answers++
    const sent = sentAnswers.get(m.offer_id)
    const offer = sentOffers.get(m.offer_id)
    const from = sent && clients[sent.from]
    if (!sent) {
      w.answersAltered++
      pushLimited(c.errors, `tracker relayed an answer with an offer_id nobody answered (${bin2hex(m.offer_id)})`)
    } else if (!offer || offer.from !== c.index || sent.to !== hex2bin(c.peerId)) {
      w.misrouted++
      pushLimited(c.errors, `tracker delivered client ${sent.from}'s answer for client ${offer ? offer.from : '?'} to client ${c.index}`)
    } else if (m.peer_id !== hex2bin(from.peerId)) {
      w.answersAltered++
      pushLimited(c.errors, `answer from client ${sent.from} arrived with peer_id ${bin2hex(m.peer_id)}, want ${from.peerId}`)
    } else if (m.answer.type !== sent.type || m.answer.sdp !== sent.sdp) {
      w.answersAltered++
      pushLimited(c.errors, `answer from client ${sent.from} arrived altered`)
    } else {
      w.answersIntact++
    }
  } else if (m.action === 'announce' && m.complete != null) {
    w.received.responses++
  } else if (m.action === 'scrape') {
    w.received.scrapes++
  } else if (m['failure reason'] == null && m['warning message'] == null) {
    w.received.other++
  }
}

let clientsForWire = []
const NativeWebSocket = window.WebSocket
class TrackedWebSocket extends NativeWebSocket {
  constructor (...args) {
    super(...args)
    const c = owner
    if (!c) return // not one of ours
    c.wire.sockets++
    this.addEventListener('message', ev => onReceived(c, ev.data, clientsForWire))
    this._fcOwner = c
  }

  send (data) {
    if (this._fcOwner) onSent(this._fcOwner, data)
    return super.send(data)
  }
}
window.WebSocket = TrackedWebSocket

// ---- the run ----

function sleep (ms) {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/**
 * runCompat runs `clients` bittorrent-tracker clients in one swarm of the
 * tracker and returns a JSON string of the result (see the Go type
 * trackercompat.Result for its fields). Phases, in order, each wait bounded:
 *
 *   started    client i starts (event "started", 5 offers) and waits for its
 *              update: complete 0, incomplete i+1. Started one after the
 *              other, so the tracker relays each client's offers to all
 *              earlier ones: with at most 6 clients, every pair gets an offer.
 *   connect    wait until every pair has an open data channel and a message
 *              went each way over it.
 *   completed  client 0 announces "completed" (left 0): complete 1,
 *              incomplete N-1.
 *   update     every client re-announces (no event, numwant 0): same counts.
 *   scrape     client 0 scrapes the info hash: same counts.
 *   stopped    clients N-1 … 1 announce "stopped" (their sockets stay open).
 *   final      client 0 re-announces: complete 1, incomplete 0.
 *
 * Then every client and peer is destroyed. Nothing throws: problems are in
 * the result's errors. timeoutMs bounds the whole run except the teardown
 * (at most 2 s more); the connect phase leaves min(5 s, timeoutMs/4) of it
 * to the phases after it.
 */
async function runCompat ({ trackerURL, infoHashHex, clients: n = 2, timeoutMs = 30000 } = {}) {
  const t0 = performance.now()
  const deadline = t0 + timeoutMs
  const result = {
    trackerURL,
    infoHash: infoHashHex,
    bundleVersion: '',
    clients: [],
    pairs: [],
    scrape: null,
    errors: [],
    elapsedMs: 0
  }
  const fail = msg => pushLimited(result.errors, msg)
  const remaining = () => deadline - performance.now()

  // waitFor polls cond every 20 ms until it holds or capMs (bounded by the
  // deadline) passes; it reports whether cond held.
  const waitFor = async (cond, capMs) => {
    const until = Math.min(deadline, performance.now() + capMs)
    while (!cond()) {
      if (performance.now() >= until) return false
      await sleep(20)
    }
    return true
  }

  if (!/^wss?:\/\//.test(trackerURL || '')) {
    fail(`trackerURL ${JSON.stringify(trackerURL)} is not a ws:// or wss:// URL`)
    return JSON.stringify(result)
  }
  if (!/^[0-9a-f]{40}$/.test(infoHashHex || '')) {
    fail(`infoHashHex ${JSON.stringify(infoHashHex)} is not 40 lowercase hex digits`)
    return JSON.stringify(result)
  }
  if (!Number.isInteger(n) || n < 2 || n > 6) {
    fail(`clients ${n}: want 2 to 6`)
    return JSON.stringify(result)
  }

  let tearingDown = false
  const cs = []
  clientsForWire = cs
  sentOffers.clear()
  sentAnswers.clear()
  const pairs = new Map() // "i-j" (i<j) -> pair
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const p = { a: i, b: j, connections: 0, connected: false, aToB: false, bToA: false, connectMs: 0, errors: [] }
      pairs.set(`${i}-${j}`, p)
      result.pairs.push(p)
    }
  }
  const pairOf = (i, j) => pairs.get(i < j ? `${i}-${j}` : `${j}-${i}`)
  const peers = []

  for (let i = 0; i < n; i++) {
    const c = {
      index: i,
      peerId: randomPeerId(),
      phase: 'started',
      seeding: false,
      updates: [],
      warnings: [],
      errors: [],
      peers: 0,
      wire: newWire(),
      t0,
      client: null
    }
    cs.push(c)
    result.clients.push(c)
  }
  const byPeerId = new Map(cs.map(c => [c.peerId, c]))

  const onPeer = (c, peer) => {
    c.peers++
    if (tearingDown) {
      peer.destroy()
      return
    }
    peers.push(peer)
    const other = byPeerId.get(peer.id)
    if (!other || other === c) {
      pushLimited(c.errors, `peer event for unknown peer id ${peer.id}`)
      return
    }
    const p = pairOf(c.index, other.index)
    peer.on('connect', () => {
      if (tearingDown) return
      if (c.index < other.index) p.connections++ // count each connection once
      try {
        peer.send(JSON.stringify({ hello: 'fusioncast', from: c.peerId, to: other.peerId }))
      } catch (e) {
        pushLimited(p.errors, `client ${c.index} send: ${errText(e)}`)
      }
    })
    peer.on('data', data => {
      let m
      try {
        m = JSON.parse(typeof data === 'string' ? data : dec.decode(data))
      } catch {
        pushLimited(p.errors, `client ${c.index} got a message that is not JSON`)
        return
      }
      if (m.hello !== 'fusioncast' || m.from !== other.peerId || m.to !== c.peerId) {
        pushLimited(p.errors, `client ${c.index} got a message meant for another pair: ${JSON.stringify(m)}`)
        return
      }
      if (other.index === p.a) p.aToB = true
      else p.bToA = true
      if (p.aToB && p.bToA && !p.connected) {
        p.connected = true
        p.connectMs = Math.round(performance.now() - t0)
      }
    })
    peer.on('error', e => {
      if (!tearingDown) pushLimited(p.errors, `client ${c.index}: ${errText(e)}`)
    })
  }

  // Each client gets its own instance of the bundle, hence its own socket.
  try {
    for (const c of cs) {
      const mod = await import(`${bundleURL.href}?client=${c.index}`)
      // The constructor opens the client's socket: it is c's.
      owner = c
      let client
      try {
        client = new (mod.Client)({
          infoHash: infoHashHex,
          peerId: c.peerId,
          announce: [trackerURL],
          rtcConfig: { iceServers: [] }, // host candidates only: never ask a STUN server
          // Like WebTorrent: every announce says how much is left.
          getAnnounceOpts: () => ({ uploaded: 0, downloaded: 0, left: c.seeding ? 0 : 1 << 20 })
        })
      } finally {
        owner = null
      }
      c.client = client
      client.on('update', d => {
        if (!tearingDown) c.updates.push({ phase: c.phase, complete: d.complete, incomplete: d.incomplete, interval: d.interval ?? 0 })
      })
      client.on('scrape', d => {
        if (!tearingDown && !result.scrape) {
          result.scrape = { complete: d.complete ?? -1, incomplete: d.incomplete ?? -1, downloaded: d.downloaded ?? -1 }
        }
      })
      client.on('warning', e => { if (!tearingDown) pushLimited(c.warnings, errText(e)) })
      client.on('error', e => { if (!tearingDown) pushLimited(c.errors, errText(e)) })
      client.on('peer', peer => onPeer(c, peer))
    }
    try {
      const r = await fetch(new URL('./VERSION', import.meta.url))
      if (r.ok) result.bundleVersion = (await r.text()).trim()
    } catch {}

    // announce makes client c announce with fn, in phase, and waits up to
    // capMs for the update that answers it (or for a warning, which is how
    // the client reports a "failure reason").
    const announce = async (c, phase, fn, capMs = 5000) => {
      c.phase = phase
      const before = c.updates.length
      const warningsBefore = c.warnings.length
      fn(c.client)
      if (!await waitFor(() => c.updates.length > before || c.warnings.length > warningsBefore, capMs)) {
        fail(`${phase}: client ${c.index} got no update within ${capMs} ms or before the deadline`)
        return false
      }
      return true
    }

    // Started one by one: client i's offers go to clients 0 … i-1.
    for (const c of cs) {
      await announce(c, 'started', cl => cl.start(), 10000)
      c.phase = 'connect'
    }

    // Keep a reserve of the deadline for the phases after this one, so that
    // a tracker that cannot connect peers still gets its counts checked.
    const reserveMs = Math.min(5000, timeoutMs / 4)
    if (!await waitFor(() => result.pairs.every(p => p.connected), Math.max(0, remaining() - reserveMs))) {
      const missing = result.pairs.filter(p => !p.connected).map(p => `${p.a}-${p.b}`)
      fail(`connect: no data channel carried a message both ways between clients ${missing.join(', ')} within ${Math.round(performance.now() - t0)} ms of the start`)
    }

    cs[0].seeding = true
    await announce(cs[0], 'completed', cl => cl.complete())
    for (const c of cs) await announce(c, 'update', cl => cl.update({ numwant: 0 }))

    {
      const before = cs[0].warnings.length
      cs[0].phase = 'scrape'
      cs[0].client.scrape()
      if (!await waitFor(() => result.scrape || cs[0].warnings.length > before, 5000)) {
        fail(`scrape: client 0 got no scrape response within 5000 ms`)
      }
    }

    for (let i = n - 1; i >= 1; i--) {
      // A tracker need not answer a "stopped" announce: wait briefly, and
      // record the update only if one comes.
      const c = cs[i]
      c.phase = 'stopped'
      const before = c.updates.length
      c.client.stop()
      await waitFor(() => c.updates.length > before, 1000)
    }
    await announce(cs[0], 'final', cl => cl.update({ numwant: 0 }))
  } catch (e) {
    fail(`page: ${errText(e)}${e && e.stack ? '\n' + e.stack : ''}`)
  } finally {
    owner = null
    tearingDown = true
    await Promise.race([
      Promise.all(cs.filter(c => c.client).map(c => new Promise(resolve => c.client.destroy(() => resolve())))),
      sleep(2000)
    ])
    for (const p of peers) {
      try { p.destroy() } catch {}
    }
  }

  result.elapsedMs = Math.round(performance.now() - t0)
  for (const c of cs) {
    delete c.client
    delete c.t0
    delete c.phase
    delete c.seeding
  }
  return JSON.stringify(result)
}

window.runCompat = runCompat
