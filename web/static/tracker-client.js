// fusioncast tracker client: finds the other peers of a swarm through a
// WebTorrent-compatible websocket tracker (docs/tracker.md) and opens one
// WebRTC data channel, labelled fusioncast/1, to each. It follows the rules
// of the Go peers (package fusioncast/peer/rtc, docs/peer-connections.md).
//
//   const tc = new TrackerClient({
//     url: 'ws://127.0.0.1:8081/announce',
//     infoHash: hexToBinary(swarm),          // 20 bytes as a latin1 string
//     onConnection(conn) { conn.onmessage = ...; conn.onclose = ...; },
//     onEdge(edge, rank) { ... },
//     stats: () => ({ http, p2p, relay, stalls, errors, uploaded, downloaded }),
//   });
//   tc.start();
//   ...
//   tc.stop();
//
// Wire: every message is a JSON object in a text frame; IDs (info_hash,
// peer_id, offer_id, to_peer_id) are 20-byte values carried as strings of
// 20 characters U+0000–U+00FF. The client announces with WebRTC offers,
// answers the offers the tracker relays to it, and reads the "fusioncast"
// extension of every announce response (edge, edge_rank), including
// unsolicited ones.
//
// Offers and answers are not trickled: the client waits for ICE gathering
// to complete (at most iceTimeoutMs) and sends the whole SDP, as the Go
// peers do. There are no STUN or TURN servers: only host candidates, so
// peers pair on a LAN or one machine.

import { LABEL } from './proto.js';

export const TRACKER_DEFAULTS = Object.freeze({
  maxPeers: 20, // connections, open or being set up, our unanswered offers included
  offers: 5, // unanswered offers at most (the WebTorrent client's number per announce)
  staleOfferMs: 10_000, // an unanswered offer this old is withdrawn before an announce, or to make room
  offerTimeoutMs: 50_000, // and any unanswered offer this old
  connectTimeoutMs: 15_000, // the channel must open this soon after the answer
  iceTimeoutMs: 5_000, // ICE gathering; then the SDP goes as it is
  minIntervalMs: 1_000, // the tracker's interval, bounded
  maxIntervalMs: 3_600_000,
  silenceMs: 90_000, // no message from the tracker for max(this, 2 × interval + 30 s): dial again
  backoffMinMs: 1_000, // after a lost connection or a refusal: 1 s doubling to 60 s, with jitter
  backoffMaxMs: 60_000,
  sendRate: 3, // messages to the tracker per second (its limit is 4), in bursts of sendBurst
  sendBurst: 12,
  closeFlushMs: 1_000, // wait this long for a channel's send buffer to drain on close
});

// A connection keeps at most this much that arrived before its user took
// it (the channel's open event comes late in some browsers).
const EARLY_MESSAGES = 64;
const EARLY_BYTES = 1 << 20;

const ALNUM = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

function randomBytes(n) {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return b;
}

// hexToBinary turns 2n hex digits into the n-character latin1 string the
// WebTorrent wire protocol uses for IDs.
export function hexToBinary(hex) {
  let s = '';
  for (let i = 0; i < hex.length; i += 2) s += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return s;
}

export function binaryToHex(s) {
  let h = '';
  for (let i = 0; i < s.length; i++) h += s.charCodeAt(i).toString(16).padStart(2, '0');
  return h;
}

// peerName returns a peer_id for logs: as text when it is printable ASCII
// ("-FC0001-…", as fusioncast and WebTorrent peers make them), else hex.
export function peerName(id) {
  return /^[\x20-\x7e]*$/.test(id) ? id : binaryToHex(id);
}

// isID reports whether v is a 20-byte ID as the wire carries it.
export function isID(v) {
  if (typeof v !== 'string' || v.length !== 20) return false;
  for (let i = 0; i < 20; i++) if (v.charCodeAt(i) > 0xff) return false;
  return true;
}

// randomPeerID returns "-FC0001-" and 12 random letters and digits, like
// the Go peers' IDs.
export function randomPeerID(random = randomBytes) {
  let s = '-FC0001-';
  for (const b of random(12)) s += ALNUM[b % ALNUM.length];
  return s;
}

function randomID(random) {
  return String.fromCharCode(...random(20));
}

function isSDP(v, type) {
  return v !== null && typeof v === 'object' && v.type === type && typeof v.sdp === 'string';
}

// Conn is one peer connection.
class Conn {
  constructor(client, pc, peerId, offerer) {
    this.client = client;
    this.pc = pc;
    this.peerId = peerId; // the remote peer_id, '' while an offer is unanswered
    this.offerer = offerer; // we made the offer
    this.offerId = '';
    this.sdp = null; // our offer, once gathered
    this.channel = null;
    this.open = false;
    this.closed = false;
    this.timer = null;
    this.createdAt = client.timers.now();
    this.onclose = null; // set by the user of an open connection
    this.onmessage = null; // likewise: (data) for each message
    this.early = []; // messages that came before onmessage was set
    this.earlyBytes = 0;
  }

  // take hands a message to onmessage, or keeps it until onmessage is set
  // (a channel may deliver messages before its open event has run).
  take(data) {
    if (this.onmessage) {
      this.onmessage(data);
      return;
    }
    this.early.push(data);
    this.earlyBytes += typeof data === 'string' ? data.length : data.byteLength;
    if (this.early.length > EARLY_MESSAGES || this.earlyBytes > EARLY_BYTES) {
      this.client.log('warn', 'peer sent too much before its channel opened; closed');
      this.close();
    }
  }

  // flush delivers what came early, once onmessage is set.
  flush() {
    const early = this.early;
    this.early = [];
    this.earlyBytes = 0;
    for (const data of early) {
      if (this.closed || !this.onmessage) return;
      this.onmessage(data);
    }
  }

  // close closes the channel once its send buffer is empty (at most
  // closeFlushMs later, so that a BYE gets out), then the connection.
  close() {
    if (this.closed) return;
    this.closed = true;
    this.client.forget(this);
    const ch = this.channel;
    const t = this.client.timers;
    const finish = () => {
      try {
        if (ch) ch.close();
      } catch {
        // already closed
      }
      try {
        this.pc.close();
      } catch {
        // already closed
      }
    };
    if (ch && ch.readyState === 'open' && ch.bufferedAmount > 0) {
      const deadline = t.now() + this.client.cfg.closeFlushMs;
      const poll = () => {
        if (ch.bufferedAmount === 0 || ch.readyState !== 'open' || t.now() >= deadline) finish();
        else t.setTimeout(poll, 20);
      };
      poll();
    } else {
      finish();
    }
    if (this.timer) t.clearTimeout(this.timer);
    const cb = this.onclose;
    this.onclose = null;
    if (this.open && cb) cb();
  }
}

// TrackerClient keeps one peer in one swarm of one tracker. Options, with
// TRACKER_DEFAULTS for the numbers:
//
//   url              ws:// or wss:// address of the tracker; required
//   infoHash         the swarm, 20 bytes as a latin1 string; required
//   peerId           this peer's ID; randomPeerID() if absent
//   onConnection     (conn) once a data channel is open: conn.peerId,
//                    conn.channel (binaryType 'arraybuffer'), conn.close();
//                    set conn.onmessage ((data) for each message; a
//                    connection without it is closed) and conn.onclose
//   onEdge           (edge, rank) when the tracker's word changes
//   onState          (state) 'connecting', 'connected', 'closed'
//   stats            () => {http, p2p, relay, stalls, errors, uploaded,
//                    downloaded}, sent with every announce
//   WebSocket, RTCPeerConnection, timers ({now, setTimeout, clearTimeout}),
//   random (n → Uint8Array): what the page provides, replaceable in tests
//   rtcConfig        RTCPeerConnection configuration; { iceServers: [] }
//   onLog            (level, text)
export class TrackerClient {
  constructor(opts) {
    if (!opts || typeof opts.url !== 'string' || !/^wss?:\/\//.test(opts.url)) {
      throw new TypeError('tracker: url must be ws:// or wss://');
    }
    if (!isID(opts.infoHash)) throw new TypeError('tracker: infoHash must be 20 bytes');
    this.cfg = { ...TRACKER_DEFAULTS, ...opts };
    this.url = opts.url;
    this.infoHash = opts.infoHash;
    this.random = opts.random || randomBytes;
    this.peerId = opts.peerId || randomPeerID(this.random);
    if (!isID(this.peerId)) throw new TypeError('tracker: peerId must be 20 bytes');
    this.WS = opts.WebSocket || globalThis.WebSocket;
    this.PC = opts.RTCPeerConnection || globalThis.RTCPeerConnection;
    this.timers = opts.timers || {
      now: () => Date.now(),
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (h) => clearTimeout(h),
    };
    this.rtcConfig = opts.rtcConfig || { iceServers: [] };
    this.conns = new Map(); // remote peer_id → Conn (one per peer; answered offers and answers being set up too)
    this.pending = new Map(); // offer_id → Conn (our unanswered offers)
    this.banned = new Map(); // peer_id → until (ms), Infinity for the session
    this.ws = null;
    this.state = 'closed';
    this.started = false;
    this.stopped = false;
    this.joined = false; // "started" was answered on this websocket
    this.gathering = false; // an announce's offers are being made
    this.awaiting = null; // the offers of the announce waiting for its response
    this.announceTimer = null;
    this.dialTimer = null;
    this.silenceTimer = null;
    this.failures = 0;
    this.intervalMs = 120_000;
    this.edge = false;
    this.rank = 0;
    this.outq = []; // messages waiting for the send rate
    this.tokens = this.cfg.sendBurst;
    this.tokensAt = 0;
    this.sendTimer = null;
    this.announces = 0;
    this.lastFailure = '';
  }

  log(level, text) {
    if (this.cfg.onLog) this.cfg.onLog(level, text);
  }

  setState(s) {
    if (this.state === s) return;
    this.state = s;
    if (this.cfg.onState) this.cfg.onState(s);
  }

  // start connects to the tracker and joins the swarm.
  start() {
    if (this.started) return;
    this.started = true;
    this.tokensAt = this.timers.now();
    this.connect();
  }

  // stop leaves the swarm (event "stopped"), closes the websocket and every
  // peer connection. Safe to call twice.
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    const t = this.timers;
    for (const h of [this.announceTimer, this.dialTimer, this.silenceTimer, this.sendTimer]) if (h) t.clearTimeout(h);
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState === 1) {
      // Not paced: the last message. The websocket sends it before its close.
      ws.send(JSON.stringify({ ...this.request('stopped'), numwant: 0 }));
    }
    if (ws) {
      try {
        ws.close(1000);
      } catch {
        // not open
      }
    }
    this.outq = [];
    for (const c of [...this.conns.values(), ...this.pending.values()]) c.close();
    this.setEdge(false, 0);
    this.setState('closed');
  }

  // ban refuses a peer for ms milliseconds (Infinity: for the session) and
  // closes the connection to it.
  ban(peerId, ms) {
    this.banned.set(peerId, this.timers.now() + ms);
    const c = this.conns.get(peerId);
    if (c) c.close();
  }

  isBanned(peerId) {
    const until = this.banned.get(peerId);
    if (until === undefined) return false;
    if (until > this.timers.now()) return true;
    this.banned.delete(peerId);
    return false;
  }

  // connections returns the open connections.
  connections() {
    return [...this.conns.values()].filter((c) => c.open);
  }

  // --- the tracker connection ---------------------------------------------

  connect() {
    this.dialTimer = null;
    if (this.stopped) return;
    this.setState('connecting');
    let ws;
    try {
      ws = new this.WS(this.url);
    } catch (err) {
      this.lost(null, String(err));
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.setState('connected');
      this.joined = false;
      this.heard();
      this.announce();
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws || typeof ev.data !== 'string') return;
      this.heard();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        this.log('warn', 'tracker: a message that is not JSON');
        return;
      }
      if (msg !== null && typeof msg === 'object' && !Array.isArray(msg)) this.onMessage(msg);
    };
    ws.onclose = () => this.lost(ws, 'closed');
    ws.onerror = () => this.log('debug', 'tracker: websocket error');
  }

  // heard notes a sign of life from the tracker: silence beyond
  // max(silenceMs, 2 × interval + 30 s) drops the connection.
  heard() {
    if (this.silenceTimer) this.timers.clearTimeout(this.silenceTimer);
    const ws = this.ws;
    const ms = Math.max(this.cfg.silenceMs, 2 * this.intervalMs + 30_000);
    this.silenceTimer = this.timers.setTimeout(() => {
      this.silenceTimer = null;
      if (this.ws === ws) this.lost(ws, 'tracker silent');
    }, ms);
  }

  // lost drops the tracker connection (ws, or a failed attempt) and dials
  // again after a backoff. Our unanswered offers can no longer be answered;
  // connections being set up go on. The tracker forgets a peer whose
  // connection closed, so the edge role ends.
  lost(ws, why) {
    if (ws !== null && this.ws !== ws) return;
    if (ws) {
      this.ws = null;
      try {
        ws.close();
      } catch {
        // already closed
      }
    }
    if (this.stopped) return;
    for (const h of [this.announceTimer, this.silenceTimer, this.sendTimer]) if (h) this.timers.clearTimeout(h);
    this.announceTimer = this.silenceTimer = this.sendTimer = null;
    this.outq = [];
    this.awaiting = null;
    for (const c of [...this.pending.values()]) c.close();
    this.setEdge(false, 0);
    this.setState('connecting');
    const d = this.backoff();
    this.log('info', `tracker: ${why}; dialling again in ${Math.round(d)} ms`);
    this.dialTimer = this.timers.setTimeout(() => this.connect(), d);
  }

  // backoff returns the wait after the failures so far: 1 s doubling to
  // 60 s, drawn from [d/2, d].
  backoff() {
    const d = Math.min(this.cfg.backoffMinMs * 2 ** Math.min(this.failures, 10), this.cfg.backoffMaxMs);
    this.failures++;
    return d / 2 + (this.random(1)[0] / 255) * (d / 2);
  }

  // send queues a message for the tracker; messages go out in order, at
  // most sendRate per second in bursts of sendBurst, so that a burst of
  // answers stays within the tracker's announce rate.
  send(msg) {
    if (!this.ws) return false;
    this.outq.push(JSON.stringify(msg));
    this.flush();
    return true;
  }

  flush() {
    const t = this.timers;
    const now = t.now();
    this.tokens = Math.min(this.cfg.sendBurst, this.tokens + ((now - this.tokensAt) * this.cfg.sendRate) / 1000);
    this.tokensAt = now;
    while (this.outq.length > 0 && this.tokens >= 1 - 1e-9) {
      if (!this.ws || this.ws.readyState !== 1) {
        this.outq = [];
        return;
      }
      this.ws.send(this.outq.shift());
      this.tokens--;
    }
    if (this.outq.length > 0 && !this.sendTimer) {
      this.sendTimer = t.setTimeout(() => {
        this.sendTimer = null;
        this.flush();
      }, Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.cfg.sendRate)));
    }
  }

  // request returns an announce of this peer with the fusioncast extension.
  request(event) {
    const s = (this.cfg.stats && this.cfg.stats()) || {};
    const n = (v) => (Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);
    const msg = {
      action: 'announce',
      info_hash: this.infoHash,
      peer_id: this.peerId,
      uploaded: n(s.uploaded),
      downloaded: n(s.downloaded),
      fusioncast: {
        v: 1,
        role: 'viewer',
        max_peers: this.cfg.maxPeers,
        stats: { http: n(s.http), p2p: n(s.p2p), relay: n(s.relay), stalls: n(s.stalls), errors: n(s.errors) },
      },
    };
    if (event) msg.event = event;
    return msg;
  }

  // --- announces and offers -------------------------------------------------

  // announce makes offers and, once their candidates are gathered, sends
  // an announce carrying them. Unanswered offers are kept to at most
  // `offers` and to at most half the room left below maxPeers (offerRoom);
  // offers older than staleOfferMs are withdrawn first.
  async announce() {
    if (!this.ws || this.gathering || this.stopped) return;
    const ws = this.ws;
    this.scheduleAnnounce(this.intervalMs); // the next one, unless the response names another
    const event = this.joined ? '' : 'started';
    for (let c = this.oldestOffer(); c && this.timers.now() - c.createdAt >= this.cfg.staleOfferMs; c = this.oldestOffer()) {
      c.close();
    }
    const n = Math.min(this.cfg.offers, offerRoom(this.cfg.maxPeers - this.conns.size)) - this.pending.size;
    const t0 = this.timers.now();
    this.gathering = true;
    let made;
    try {
      made = await Promise.all(
        Array.from({ length: Math.max(0, n) }, () =>
          this.makeOffer().catch((err) => {
            this.log('warn', `tracker: cannot make an offer: ${err}`);
            return null;
          }),
        ),
      );
    } finally {
      this.gathering = false;
    }
    const batch = made.filter((c) => c !== null && !c.closed);
    if (this.ws !== ws || this.stopped) {
      for (const c of batch) c.close();
      return;
    }
    const msg = this.request(event);
    msg.numwant = batch.length;
    msg.offers = batch.map((c) => ({ offer: c.sdp, offer_id: c.offerId }));
    this.awaiting = batch;
    this.send(msg);
    this.announces++;
    this.log('debug', `tracker: announce${event ? ' ' + event : ''} with ${batch.length} offers (${this.timers.now() - t0} ms to make them), ${this.conns.size} connections`);
  }

  scheduleAnnounce(ms) {
    if (this.announceTimer) this.timers.clearTimeout(this.announceTimer);
    this.announceTimer = this.timers.setTimeout(() => {
      this.announceTimer = null;
      this.announce();
    }, ms);
  }

  oldestOffer() {
    let oldest = null;
    for (const c of this.pending.values()) if (!oldest || c.createdAt < oldest.createdAt) oldest = c;
    return oldest;
  }

  // makeOffer creates a connection, its data channel and the complete
  // offer SDP; the offer counts as pending from the start.
  async makeOffer() {
    const pc = new this.PC(this.rtcConfig);
    const conn = new Conn(this, pc, '', true);
    conn.offerId = randomID(this.random);
    this.pending.set(conn.offerId, conn);
    try {
      const ch = pc.createDataChannel(LABEL, { ordered: true });
      this.watch(conn, ch);
      await pc.setLocalDescription(await pc.createOffer());
      await this.gathered(pc);
    } catch (err) {
      conn.close();
      throw err;
    }
    if (conn.closed) throw new Error('closed while gathering');
    const d = pc.localDescription;
    conn.sdp = { type: d.type, sdp: d.sdp };
    conn.timer = this.timers.setTimeout(() => {
      this.log('debug', 'tracker: offer unanswered; closed');
      conn.close();
    }, this.cfg.offerTimeoutMs - (this.timers.now() - conn.createdAt));
    return conn;
  }

  // gathered resolves when ICE gathering is complete, or after iceTimeoutMs.
  gathered(pc) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      let timer = null;
      const done = () => {
        if (timer === null) return;
        this.timers.clearTimeout(timer);
        timer = null;
        pc.removeEventListener('icegatheringstatechange', check);
        pc.removeEventListener('icecandidate', onCandidate);
        resolve();
      };
      const check = () => {
        if (pc.iceGatheringState === 'complete') done();
      };
      const onCandidate = (ev) => {
        if (!ev.candidate) done();
      };
      timer = this.timers.setTimeout(done, this.cfg.iceTimeoutMs);
      pc.addEventListener('icegatheringstatechange', check);
      pc.addEventListener('icecandidate', onCandidate);
    });
  }

  // watch wires a data channel and its connection's state.
  watch(conn, ch) {
    conn.channel = ch;
    ch.binaryType = 'arraybuffer';
    const opened = () => {
      if (conn.closed || conn.open) return;
      conn.open = true;
      if (conn.timer) this.timers.clearTimeout(conn.timer);
      conn.timer = null;
      this.log('debug', `peer ${peerName(conn.peerId)} connected (${conn.offerer ? 'our offer' : 'its offer'}, ${this.timers.now() - conn.createdAt} ms)`);
      if (this.cfg.onConnection) this.cfg.onConnection(conn);
      if (!conn.onmessage) {
        conn.close();
        return;
      }
      conn.flush();
    };
    ch.onopen = opened;
    ch.onmessage = (ev) => conn.take(ev.data);
    ch.onclose = () => conn.close();
    conn.pc.onconnectionstatechange = () => {
      const s = conn.pc.connectionState;
      if (s === 'failed' || s === 'closed') conn.close();
    };
    if (ch.readyState === 'open') opened(); // an answerer's channel may come open
  }

  forget(conn) {
    if (conn.peerId && this.conns.get(conn.peerId) === conn) this.conns.delete(conn.peerId);
    if (conn.offerId && this.pending.get(conn.offerId) === conn) this.pending.delete(conn.offerId);
  }

  setEdge(edge, rank) {
    if (this.edge === edge && this.rank === rank) return;
    this.edge = edge;
    this.rank = rank;
    if (this.cfg.onEdge) this.cfg.onEdge(edge, rank);
  }

  // --- messages from the tracker --------------------------------------------

  onMessage(msg) {
    if (typeof msg['failure reason'] === 'string') {
      this.refused(msg);
      return;
    }
    if (typeof msg['warning message'] === 'string') this.log('info', `tracker: ${msg['warning message']}`);
    if (msg.action !== 'announce' || msg.info_hash !== this.infoHash) return;
    if (isID(msg.peer_id) && isID(msg.offer_id) && msg.peer_id !== this.peerId) {
      if (isSDP(msg.offer, 'offer')) {
        this.answerOffer(msg);
        return;
      }
      if (isSDP(msg.answer, 'answer')) {
        this.takeAnswer(msg);
        return;
      }
    }
    if (msg.offer === undefined && msg.answer === undefined) this.announced(msg);
  }

  // refused handles a failure: for our swarm (or none named), our announce
  // had no effect, so its offers are dropped and it is tried again after a
  // backoff.
  refused(msg) {
    const reason = msg['failure reason'];
    if (msg.info_hash !== undefined && msg.info_hash !== null && msg.info_hash !== this.infoHash) {
      this.log('warn', `tracker: failure for another swarm: ${reason}`);
      return;
    }
    this.lastFailure = reason;
    const d = this.backoff();
    this.log('warn', `tracker refused: ${reason}; again in ${Math.round(d)} ms`);
    if (this.awaiting) {
      for (const c of this.awaiting) c.close();
      this.awaiting = null;
    }
    if (!this.gathering) this.scheduleAnnounce(d);
  }

  // announced handles an announce response: the reply to our announce, or
  // an unsolicited one that names this peer an edge fetcher.
  announced(msg) {
    const ext = msg.fusioncast;
    if (ext !== null && typeof ext === 'object' && Number.isInteger(ext.v) && ext.v >= 1) {
      // Only a response to a peer that sent the extension carries it.
      const edge = ext.edge === true;
      const rank = edge && Number.isInteger(ext.edge_rank) && ext.edge_rank >= 0 ? ext.edge_rank : 0;
      this.setEdge(edge, rank);
    }
    if (!this.awaiting) return;
    const batch = this.awaiting;
    this.awaiting = null;
    this.joined = true;
    this.failures = 0;
    if (Number.isInteger(msg.interval) && msg.interval > 0) {
      this.intervalMs = Math.min(Math.max(msg.interval * 1000, this.cfg.minIntervalMs), this.cfg.maxIntervalMs);
      if (!this.gathering) this.scheduleAnnounce(this.intervalMs);
      this.heard();
    }
    // The tracker relays offer i to a different peer for i < the peers it
    // found, in order; with n peers in the swarm (this one included), the
    // offers from n - 1 on went nowhere.
    if (Number.isInteger(msg.complete) && Number.isInteger(msg.incomplete)) {
      batch.forEach((c, i) => {
        if (i >= msg.complete + msg.incomplete - 1) c.close();
      });
    }
  }

  // prefer reports whether a new connection with remote should replace the
  // existing one. An open connection is kept. Of two connections being set
  // up (both peers offered to each other), both sides keep the one whose
  // offerer has the smaller peer_id.
  prefer(existing, newOfferer, remote) {
    if (existing.open || existing.offerer === newOfferer) return false;
    const weAreSmaller = this.peerId < remote; // code units 0–255: byte order
    return newOfferer === weAreSmaller;
  }

  // makeRoom reports whether a connection answering an offer fits in
  // maxPeers. Our unanswered offers count too, so that an answer to one of
  // them always fits; only offers older than staleOfferMs, which their
  // peers most likely ignored, are withdrawn to make room.
  makeRoom() {
    if (this.conns.size >= this.cfg.maxPeers) return false;
    while (this.conns.size + this.pending.size >= this.cfg.maxPeers) {
      const c = this.oldestOffer();
      if (this.timers.now() - c.createdAt < this.cfg.staleOfferMs) return false;
      c.close();
    }
    return true;
  }

  // answerOffer answers an offer the tracker relayed, if there is room.
  async answerOffer(msg) {
    const from = msg.peer_id;
    if (this.isBanned(from)) return;
    const old = this.conns.get(from);
    if (old) {
      if (!this.prefer(old, false, from)) {
        this.log('debug', 'tracker: offer ignored: already connected');
        return;
      }
      old.close();
    }
    if (!this.makeRoom()) {
      this.log('debug', 'tracker: offer ignored: at the connection cap');
      return;
    }
    let pc;
    try {
      pc = new this.PC(this.rtcConfig);
    } catch (err) {
      this.log('warn', `tracker: ${err}`);
      return;
    }
    const conn = new Conn(this, pc, from, false);
    this.conns.set(from, conn);
    pc.ondatachannel = (ev) => {
      const ch = ev.channel;
      // One channel, ours: a plain WebTorrent client opens one with a
      // random label; unordered or partially reliable ones are not
      // fusioncast/1 either.
      if (ch.label !== LABEL || ch.ordered === false || ch.maxRetransmits != null || ch.maxPacketLifeTime != null || conn.channel) {
        this.log('debug', `tracker: data channel ${JSON.stringify(ch.label)} refused`);
        conn.close();
        return;
      }
      this.watch(conn, ch);
    };
    const ws = this.ws;
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: msg.offer.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await this.gathered(pc);
    } catch (err) {
      this.log('info', `tracker: cannot answer an offer: ${err}`);
      conn.close();
      return;
    }
    if (conn.closed) return;
    if (this.ws !== ws || this.stopped) {
      conn.close();
      return;
    }
    const d = pc.localDescription;
    this.send({
      action: 'announce',
      info_hash: this.infoHash,
      peer_id: this.peerId,
      to_peer_id: from,
      offer_id: msg.offer_id,
      answer: { type: d.type, sdp: d.sdp },
    });
    conn.timer = this.timers.setTimeout(() => {
      if (!conn.open) conn.close();
    }, this.cfg.connectTimeoutMs);
    this.log('debug', `tracker: answered ${peerName(from)} (${this.timers.now() - conn.createdAt} ms)`);
  }

  // takeAnswer completes one of our offers with a relayed answer.
  async takeAnswer(msg) {
    const conn = this.pending.get(msg.offer_id);
    if (!conn || conn.closed) return; // expired, dropped, or not ours
    this.pending.delete(conn.offerId);
    if (conn.timer) this.timers.clearTimeout(conn.timer);
    conn.timer = null;
    const from = msg.peer_id;
    if (this.isBanned(from)) {
      conn.close();
      return;
    }
    const old = this.conns.get(from);
    if (old) {
      if (!this.prefer(old, true, from)) {
        conn.close();
        return;
      }
      old.close();
    }
    if (this.conns.size >= this.cfg.maxPeers) {
      conn.close();
      return;
    }
    conn.peerId = from;
    this.conns.set(from, conn);
    conn.timer = this.timers.setTimeout(() => {
      if (!conn.open) conn.close();
    }, this.cfg.connectTimeoutMs);
    try {
      await conn.pc.setRemoteDescription({ type: 'answer', sdp: msg.answer.sdp });
    } catch (err) {
      this.log('info', `tracker: bad answer: ${err}`);
      conn.close();
    }
  }
}

// offerRoom returns how many of `free` places below maxPeers our own offers
// may hold: half, and at least one. The other half stays for answering the
// offers of others, so that peers that all offer at once still accept each
// other's.
function offerRoom(free) {
  return Math.max(Math.floor(free / 2), Math.min(free, 1));
}
