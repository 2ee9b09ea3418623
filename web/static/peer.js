// fusioncast browser peer engine: shares the segments of one live stream
// with other peers over data channels, using the protocol fusioncast/1
// (docs/protocol.md; codec in proto.js). It follows the same scheduling
// rules as the Go engine (package fusioncast/peer); docs/browser-peer.md
// describes both the rules and where the browser differs.
//
// The engine knows neither WebRTC nor fetch nor the wall clock: it talks to
// links ({send(bytes), bufferedAmount, close()}), fetches over HTTP through
// cfg.fetch, hashes through cfg.digest and reads time from cfg.clock, so
// that node tests drive several engines with fake links and a fake clock.
//
//   const engine = new Engine({ swarm, fetch: (info, signal) => ... });
//   engine.setPlaylist([{ seq, size, sha256, url, durationMs }, ...]);
//   const peer = engine.addLink('name', link);   // on the channel's open
//   channel.onmessage = (ev) => engine.receive(peer, ev.data);
//   channel.onbufferedamountlow = () => engine.pump();
//   channel.onclose = () => engine.removeLink(peer);
//   const { data, source } = await engine.get(info, deadline);
//
// Times are milliseconds on the engine's clock (performance.now() in a
// page); a deadline is the clock time by which the player needs a segment.

import {
  decode,
  encode,
  ProtoError,
  VERSION,
  MAX_HELLO_SEGMENTS,
  MAX_OUTSTANDING,
  MAX_BYE_TEXT,
  FLAG_EDGE,
  FLAG_NO_UPLOAD,
} from './proto.js';

// Defaults of the engine's configuration; every one is explained at Engine.
export const DEFAULTS = Object.freeze({
  role: 'viewer',
  uploadKbps: 0,
  noUpload: false,
  keep: 12,
  chunk: 16 * 1024,
  highWater: 1024 * 1024,
  lowWater: 256 * 1024,
  serveWindow: 0,
  edgeStaggerMs: 1000,
  peerWaitMs: 0,
  httpMarginMs: 1500,
  httpRetryMs: 500,
  helloTimeoutMs: 10000,
  pingIdleMs: 5000,
  pingBusyMs: 1000,
  pongTimeoutMs: 30000,
  busyBackoffMs: 1000,
  stallMinMs: 1000,
  statusMinMs: 1000,
  tickMs: 1000,
});

// A playlist whose newest segment is fewer than this many behind the
// newest the engine knows is an older copy and ignored; further behind, the
// stream was restarted with other numbers.
const STALE_SEGMENTS = 64;

// realClock is the page's clock: performance.now() and setTimeout.
export const realClock = Object.freeze({
  now: () => performance.now(),
  after(ms, fn) {
    const h = setTimeout(fn, Math.max(0, ms));
    return { stop: () => clearTimeout(h) };
  },
});

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

// toHex returns the lower-case hex digits of bytes (an ArrayBuffer or a view).
export function toHex(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]];
  return s;
}

// sha256Hex hashes bytes with WebCrypto and returns the digest as hex.
export async function sha256Hex(bytes) {
  return toHex(await crypto.subtle.digest('SHA-256', bytes));
}

// swarmFor returns the swarm of a stream, as 40 hex digits: the first 20
// bytes of SHA-256("fusioncast:" + name), docs/protocol.md "Swarms". The
// tracker's info_hash and the HELLO's swarm are these bytes.
export async function swarmFor(stream) {
  const sum = await crypto.subtle.digest('SHA-256', new TextEncoder().encode('fusioncast:' + stream));
  return toHex(new Uint8Array(sum, 0, 20));
}

// seqAfter reports whether a comes after b, modulo 2³².
export function seqAfter(a, b) {
  return ((a - b) | 0) > 0;
}

function seqCompare(a, b) {
  return (a - b) | 0;
}

// A segment the engine knows of.
class Segment {
  constructor(info, now) {
    this.info = info; // {seq, size, sha256, hash8, url, durationMs}
    this.seen = now;
    this.inPL = true; // in the current playlist window

    this.data = null; // verified bytes
    this.source = ''; // 'http', 'p2p' or 'relay'

    // Fetching from a peer: one whole-segment request, resumed elsewhere
    // from `got` when the peer goes.
    this.buf = null;
    this.got = 0;
    this.from = null; // the Peer asked
    this.reqId = 0;
    this.progressAt = 0; // when the last DATA (or the request) went
    this.contrib = []; // [{peer, start, end}] who sent which bytes of buf
    this.verifying = false; // every byte is here; the digest is running
    this.suspect = null; // {buf, contrib} of a copy from several peers that failed

    this.httpBusy = false;
    this.httpAbort = null;
    this.deadline = null; // when a player needs it
    this.timer = null; // the next decision: HTTP fallback or backup edge fetch
    this.timerAt = 0; // when it is due
    this.peerWait = false; // the timer is a wait for peers that a deadline replaces
    this.waiters = [];
  }
}

// A Peer is another peer, over one link.
export class Peer {
  constructor(engine, name, link, now, n) {
    this.engine = engine;
    this.name = name;
    this.n = n; // order of arrival: breaks ties between equal peers
    this.link = link;
    this.openedAt = now;

    this.helloSent = false;
    this.helloRecv = false;
    this.version = 0;
    this.role = 'viewer';
    this.flags = 0;
    this.uploadKbps = 0;
    this.has = new Map(); // seq → hash8 it announced

    this.out = new Map(); // our requests to it: request id → Segment
    this.nextId = 0;
    this.in = []; // its requests we accepted: {id, data, next, end}
    this.busyUntil = 0;

    this.pingNonce = null;
    this.pingSentAt = 0;
    this.lastPingAt = now;
    this.rttMs = 0;

    this.closed = false;
    this.byeReason = ''; // the BYE it sent us, if any
  }

  get edge() {
    return (this.flags & FLAG_EDGE) !== 0;
  }

  send(msg) {
    if (this.closed) return;
    try {
      this.link.send(encode(msg));
    } catch (err) {
      this.engine.log('debug', `send to ${this.name} failed; dropping it: ${err}`);
      this.engine.removeLink(this);
    }
  }

  // cancel withdraws this peer's request for s.
  cancel(s) {
    if (s.from !== this) return;
    this.out.delete(s.reqId);
    s.from = null;
    this.send({ type: 'CANCEL', requestId: s.reqId });
  }

  // better reports whether this peer is a better source than q: fewer
  // requests outstanding, then an edge fetcher or a relay, then more upload,
  // then the earlier link.
  better(q) {
    if (this.out.size !== q.out.size) return this.out.size < q.out.size;
    const pe = this.edge || this.role === 'relay';
    const qe = q.edge || q.role === 'relay';
    if (pe !== qe) return pe;
    if (this.uploadKbps !== q.uploadKbps) return this.uploadKbps > q.uploadKbps;
    return this.n < q.n;
  }

  // find returns its request id while it is being served, or null.
  find(id) {
    const r = this.in.find((x) => x.id === id);
    return r && r.next < r.end ? r : null;
  }
}

class ProtocolViolation extends Error {}

// Engine shares the segments of one stream. Configuration (cfg), with the
// defaults of DEFAULTS:
//
//   swarm         the swarm, 40 hex digits (swarmFor); required
//   fetch         (info, signal) => Promise<ArrayBuffer|Uint8Array>: the
//                 segment over HTTP; required
//   role          'viewer' or 'relay'
//   uploadKbps    upload offered to the swarm (HELLO, STATUS); 0 unsaid
//   noUpload      serve nothing (still receive)
//   clock         {now(), after(ms, fn) → {stop()}}; realClock
//   digest        (Uint8Array) => Promise<hex SHA-256>; sha256Hex
//   keep          segments older than the window that stay servable: 12
//   chunk         DATA payload: 16 KiB
//   highWater     send DATA only while the link buffers less: 1 MiB
//   lowWater      the link's bufferedAmountLowThreshold: 256 KiB
//   serveWindow   bytes of accepted requests not yet sent; a request
//                 beyond it gets ABSENT busy (one is always accepted):
//                 0 = half a second of uploadKbps, or 1 MiB if unsaid
//   edgeStaggerMs a backup edge fetcher of rank r fetches a new segment
//                 over HTTP r × this after it appeared unless a peer has
//                 it by then: 1 s
//   peerWaitMs    a viewer that is not an edge fetcher waits this long for
//                 a new segment from peers when no player deadline is
//                 known: 0 = one segment duration (at least 1 s)
//   httpMarginMs  fall back to HTTP this long before a deadline, or three
//                 times the recent HTTP fetch time if that is more: 1.5 s
//   onSegment     (seq, source) after each verified segment
//   onBadPeer     (peer, why, kind) after a peer was dropped for sending
//                 bytes that failed verification (kind 'bad-data') or for
//                 breaking the protocol ('protocol-error')
//   onBye         (peer, reason, text) when a peer says BYE
//   onLog         (level, text)
export class Engine {
  constructor(cfg) {
    if (!cfg || typeof cfg.fetch !== 'function') throw new TypeError('peer: cfg.fetch is required');
    if (typeof cfg.swarm !== 'string' || !/^[0-9a-f]{40}$/.test(cfg.swarm)) {
      throw new TypeError('peer: cfg.swarm must be 40 hex digits');
    }
    this.cfg = { ...DEFAULTS, clock: realClock, digest: sha256Hex, ...cfg };
    this.clock = this.cfg.clock;
    this.segs = new Map(); // seq → Segment
    this.window = []; // the playlist's sequence numbers, oldest first
    this.newest = 0;
    this.hasAny = false;
    this.evicted = new Map(); // seq → hash8 of dropped segments we held (bounded)
    this.peers = new Set();
    this.edge = false;
    this.rank = 0;
    this.statusAt = -Infinity;
    this.statusTimer = null;
    this.httpAvg = 0; // moving average of HTTP fetch times
    this.order = []; // accepted requests, served one after another: {p, id}
    this.pumpTimer = null;
    this.lastServed = null; // the peer whose link got DATA last
    this.nextPeer = 0;
    this.closed = false;
    this.counters = {
      bytesHTTP: 0, // segment bytes fetched over HTTP (including copies a peer beat)
      bytesP2P: 0, // verified segment bytes from viewers
      bytesRelay: 0, // verified segment bytes from relay agents
      bytesUp: 0, // DATA payload bytes sent
      segmentsHTTP: 0,
      segmentsP2P: 0,
      badData: 0, // segments from peers that failed verification
      badPeers: 0, // peers dropped for sending bad bytes
      httpErrors: 0,
      protocolDrops: 0,
      unknownMessages: 0,
    };
    this.tick = this.clock.after(this.cfg.tickMs, () => this.maintain());
  }

  log(level, text) {
    if (this.cfg.onLog) this.cfg.onLog(level, text);
  }

  now() {
    return this.clock.now();
  }

  // stats returns a copy of the counters, with the open links, the edge
  // status and the peers.
  stats() {
    return { ...this.counters, peers: this.peers.size, edge: this.edge, edgeRank: this.edge ? this.rank : null };
  }

  // close says BYE to every peer, stops every timer and fails pending gets.
  // Safe to call twice.
  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.tick) this.tick.stop();
    if (this.statusTimer) this.statusTimer.stop();
    if (this.pumpTimer) this.pumpTimer.stop();
    for (const p of [...this.peers]) this.drop(p, 'closing', 'engine closed');
    for (const s of this.segs.values()) {
      this.stopTimer(s);
      if (s.httpAbort) s.httpAbort.abort();
      this.wake(s);
    }
  }

  flags() {
    return (this.edge ? FLAG_EDGE : 0) | (this.cfg.noUpload ? FLAG_NO_UPLOAD : 0);
  }

  // setEdge makes the engine an edge fetcher of the given rank (0: the
  // primary), or not; the tracker decides. Peers learn it by STATUS.
  setEdge(edge, rank = 0) {
    edge = !!edge;
    rank = edge ? rank : 0;
    if (this.closed || (this.edge === edge && this.rank === rank)) return;
    this.edge = edge;
    this.rank = rank;
    this.sendStatus();
    // A new primary fetches at once the newest segment nobody has yet
    // (unless a relay brings it: see schedule).
    if (edge && rank === 0 && this.hasAny && !this.hasRelay()) {
      const s = this.segs.get(this.newest);
      if (s && !s.data && !s.from && !s.httpBusy && !s.verifying) this.startHTTP(s);
    }
  }

  // sendStatus tells every peer the flags, at most once per statusMinMs.
  sendStatus() {
    if (this.statusTimer) return;
    const wait = this.statusAt + this.cfg.statusMinMs - this.now();
    if (wait > 0) {
      this.statusTimer = this.clock.after(wait, () => {
        this.statusTimer = null;
        if (!this.closed) this.sendStatus();
      });
      return;
    }
    this.statusAt = this.now();
    const st = { type: 'STATUS', flags: this.flags(), uploadKbps: this.cfg.uploadKbps };
    for (const p of this.peers) if (p.helloSent) p.send(st);
  }

  // normalize checks a segment description and adds its hash8.
  static normalize(info) {
    const { seq, size, sha256 } = info;
    if (!Number.isInteger(seq) || seq < 0 || seq > 0xffffffff) throw new RangeError(`peer: bad seq ${seq}`);
    if (!Number.isInteger(size) || size < 1 || size > 0xffffffff) throw new RangeError(`peer: bad size ${size}`);
    if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) throw new TypeError('peer: sha256 must be 64 hex digits');
    return {
      seq,
      size,
      sha256,
      hash8: sha256.slice(0, 16),
      url: info.url || '',
      durationMs: info.durationMs > 0 ? info.durationMs : 0,
    };
  }

  // setPlaylist gives the engine the playlist's window, oldest first:
  // [{seq, size, sha256, url, durationMs}]. The newest segment, when new to
  // the engine, is scheduled (see schedule): the primary edge fetcher
  // fetches it over HTTP at once, the others wait for peers. Other segments
  // new to the engine (the window it sees when it joins) are asked of peers
  // that have them, and fetched over HTTP only when the player asks. A
  // window older than one already seen is ignored.
  setPlaylist(window) {
    if (this.closed || window.length === 0) return;
    const last = window[window.length - 1].seq;
    if (this.hasAny && seqAfter(this.newest, last) && seqCompare(this.newest, last) < STALE_SEGMENTS) {
      return; // an older copy of the playlist (two sources, or a cache)
    }
    const now = this.now();
    const inPL = new Set();
    this.window = [];
    window.forEach((raw, i) => {
      const info = Engine.normalize(raw);
      inPL.add(info.seq);
      this.window.push(info.seq);
      let s = this.segs.get(info.seq);
      if (s && (s.info.sha256 !== info.sha256 || s.info.size !== info.size)) {
        this.forget(s); // another version of this sequence number
        s = null;
      }
      if (s) {
        s.inPL = true;
        if (!s.info.url) s.info.url = info.url;
        return;
      }
      s = new Segment(info, now);
      this.segs.set(info.seq, s);
      const isNew = !this.hasAny || seqAfter(info.seq, this.newest);
      if (isNew) {
        this.newest = info.seq;
        this.hasAny = true;
      }
      this.schedule(s, isNew && i === window.length - 1);
    });
    // Segments that left the window stay servable for `keep` more.
    const old = [];
    for (const [seq, s] of this.segs) {
      if (!inPL.has(seq)) {
        s.inPL = false;
        old.push(seq);
      }
    }
    old.sort(seqCompare);
    while (old.length > this.cfg.keep) this.forget(this.segs.get(old.shift()));
  }

  // ensure returns the engine's segment for info, adding it if the player
  // asks for one the engine has not seen in a playlist yet.
  ensure(raw) {
    const info = Engine.normalize(raw);
    let s = this.segs.get(info.seq);
    if (s && (s.info.sha256 !== info.sha256 || s.info.size !== info.size)) {
      this.forget(s);
      s = null;
    }
    if (s) return s;
    s = new Segment(info, this.now());
    this.segs.set(info.seq, s);
    const isNew = !this.hasAny || seqAfter(info.seq, this.newest);
    if (isNew) {
      this.newest = info.seq;
      this.hasAny = true;
    }
    this.schedule(s, isNew);
    return s;
  }

  // schedule decides how a segment new to the engine will be fetched. The
  // newest segment of a running stream follows the edge rules; older ones
  // (the window an engine sees when it joins, or a segment a reload
  // skipped) are only asked of peers that have them, and fetched over HTTP
  // only once the player wants them.
  schedule(s, newest) {
    // A relay agent among the peers brings each segment by multicast: an
    // edge fetcher then waits for it like a backup one rank further back,
    // so that the origin sends nothing by unicast to the relay's LAN while
    // the relay delivers.
    const rank = this.hasRelay() ? this.rank + 1 : this.rank;
    if (newest && this.edge && rank === 0) {
      this.startHTTP(s);
      return;
    }
    if (newest && this.edge) {
      this.setTimer(s, rank * this.cfg.edgeStaggerMs);
    } else if (newest) {
      this.setTimer(s, this.peerWait(s));
      s.peerWait = true;
    }
    this.request(s);
  }

  // hasRelay reports whether a relay agent is among the peers.
  hasRelay() {
    for (const p of this.peers) if (p.helloRecv && p.role === 'relay') return true;
    return false;
  }

  peerWait(s) {
    return this.cfg.peerWaitMs > 0 ? this.cfg.peerWaitMs : Math.max(s.info.durationMs, 1000);
  }

  // margin is how long before a deadline to fall back to HTTP: httpMarginMs,
  // or three times the recent HTTP fetch time if that is more.
  margin() {
    return Math.max(this.cfg.httpMarginMs, 3 * this.httpAvg);
  }

  setTimer(s, ms) {
    this.stopTimer(s);
    s.peerWait = false;
    s.timerAt = this.now() + Math.max(ms, 0);
    s.timer = this.clock.after(Math.max(ms, 0), () => {
      s.timer = null;
      if (!this.closed && this.segs.get(s.info.seq) === s) this.decide(s);
    });
  }

  stopTimer(s) {
    if (s.timer) {
      s.timer.stop();
      s.timer = null;
    }
  }

  // decide runs when a segment's wait is over: unless a peer is delivering
  // it in time, fetch it over HTTP.
  decide(s) {
    if (s.data || s.httpBusy) return;
    if (s.verifying) {
      this.setTimer(s, 50); // the digest takes a moment
      return;
    }
    const now = this.now();
    const at = s.deadline === null ? 0 : s.deadline - this.margin();
    if (s.from && s.deadline !== null && now < at) {
      this.setTimer(s, at - now); // a peer is on it and there is time
      return;
    }
    if (s.from && s.deadline === null) {
      // A peer is on it and no player waits yet: give it one more duration.
      this.setTimer(s, Math.max(s.info.durationMs, 1000));
      s.peerWait = true;
      return;
    }
    this.startHTTP(s);
  }

  // forget drops a segment entirely.
  forget(s) {
    this.stopTimer(s);
    if (s.from) s.from.cancel(s);
    if (s.httpAbort) s.httpAbort.abort();
    if (s.data) {
      this.evicted.set(s.info.seq, s.info.hash8);
      if (this.evicted.size > MAX_HELLO_SEGMENTS) this.evicted.delete(this.evicted.keys().next().value);
    }
    this.segs.delete(s.info.seq);
    this.wake(s);
  }

  wake(s) {
    const ws = s.waiters;
    s.waiters = [];
    for (const w of ws) {
      if (s.data) w.resolve({ data: s.data, source: s.source });
      else w.reject(new Error(`peer: segment ${s.info.seq} dropped before it arrived`));
    }
  }

  // get resolves to {data, source} once the engine has the segment,
  // verified, fetching it from peers or over HTTP in time for deadline
  // (clock time; null: unknown). info is the playlist's description of it
  // ({seq, size, sha256, url, durationMs}). The bytes are the engine's own
  // copy, shared with the peers it serves: do not modify or transfer them.
  get(info, deadline = null, signal = undefined) {
    if (this.closed) return Promise.reject(new Error('peer: engine closed'));
    let s;
    try {
      s = this.ensure(info);
    } catch (err) {
      return Promise.reject(err);
    }
    if (s.data) return Promise.resolve({ data: s.data, source: s.source });
    this.wantBy(s, deadline);
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      s.waiters.push(w);
      if (signal) {
        const onAbort = () => {
          const i = s.waiters.indexOf(w);
          if (i >= 0) s.waiters.splice(i, 1);
          reject(signal.reason ?? new Error('aborted'));
        };
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  // want tells the engine that the player needs segment info by deadline,
  // without waiting for it. It returns the segment's source if the engine
  // has it already, else ''.
  want(info, deadline = null) {
    if (this.closed) return '';
    const s = this.ensure(info);
    if (!s.data) this.wantBy(s, deadline);
    return s.source;
  }

  // has returns where the segment came from, or '' if the engine lacks it.
  has(seq) {
    const s = this.segs.get(seq);
    return s && s.data ? s.source : '';
  }

  // wantBy plans s's HTTP fallback a margin before deadline. The deadline
  // replaces a viewer's wait for peers (peerWait), which only stands in for
  // it, even when it is later: falling back seconds before the player needs
  // the segment cuts its spread through the swarm short. An earlier
  // decision of another kind (a backup edge fetcher's stagger) is kept.
  wantBy(s, deadline) {
    if (s.data) return;
    const now = this.now();
    if (deadline !== null && deadline !== undefined && (s.deadline === null || deadline < s.deadline)) {
      s.deadline = deadline;
      const at = deadline - this.margin();
      if (!s.httpBusy && (!s.timer || s.peerWait || at < s.timerAt)) this.setTimer(s, at - now);
    } else if (s.deadline === null && !s.timer && !s.httpBusy && !s.verifying && !s.from) {
      // Asked for without a deadline and nothing planned: as a new segment.
      this.setTimer(s, this.peerWait(s));
      s.peerWait = true;
    }
    this.request(s);
  }

  // startHTTP fetches s over HTTP.
  startHTTP(s) {
    if (s.httpBusy || s.data) return;
    s.httpBusy = true;
    this.stopTimer(s);
    const info = s.info;
    const ac = new AbortController();
    s.httpAbort = ac;
    // Through the clock: a test's fake clock then runs the fetch as one of
    // its events.
    this.log('debug', `HTTP fetch of ${info.seq} starts (edge ${this.edge} ${this.rank}, deadline in ${s.deadline === null ? '-' : Math.round(s.deadline - this.now())} ms, seen ${Math.round(this.now() - s.seen)} ms ago)`);
    const start = this.now();
    this.clock.after(0, () => {
      if (ac.signal.aborted) {
        this.fetched(s, info, null, new Error('aborted'));
        return;
      }
      let p;
      try {
        p = Promise.resolve(this.cfg.fetch(info, ac.signal));
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (b) => this.fetched(s, info, b, null, start),
        (err) => this.fetched(s, info, null, err),
      );
    });
  }

  // fetched takes the result of an HTTP fetch of s.
  fetched(s, info, body, err, start) {
    let b = null;
    if (!err) {
      b = body instanceof Uint8Array ? body : new Uint8Array(body);
      this.counters.bytesHTTP += b.length; // origin egress, even if a peer was faster
      const d = this.now() - start;
      this.httpAvg = this.httpAvg === 0 ? d : (3 * this.httpAvg + d) / 4;
    }
    const current = () => !this.closed && this.segs.get(info.seq) === s && !s.data;
    if (!current()) {
      s.httpBusy = false;
      s.httpAbort = null;
      return;
    }
    if (!err && b.length !== info.size) err = new Error(`size ${b.length}, playlist says ${info.size}`);
    const fail = (e) => {
      s.httpBusy = false;
      s.httpAbort = null;
      this.counters.httpErrors++;
      this.log('warn', `HTTP fetch of segment ${info.seq} failed: ${e && e.message ? e.message : e}`);
      this.setTimer(s, this.cfg.httpRetryMs); // try again (or a peer has it by then)
    };
    if (err) {
      fail(err);
      return;
    }
    this.cfg.digest(b).then(
      (hex) => {
        if (!current()) {
          s.httpBusy = false;
          s.httpAbort = null;
          return;
        }
        if (hex !== info.sha256) {
          fail(new Error('SHA-256 does not match the playlist'));
          return;
        }
        s.httpBusy = false;
        s.httpAbort = null;
        this.counters.segmentsHTTP++;
        this.complete(s, b, 'http');
      },
      (e) => fail(e),
    );
  }

  // complete stores verified bytes, tells the peers and wakes the waiters.
  complete(s, b, source) {
    s.data = b;
    s.source = source;
    s.buf = null;
    s.contrib = [];
    if (s.from) s.from.cancel(s);
    this.stopTimer(s);
    if (s.httpAbort) {
      s.httpAbort.abort(); // a peer was faster
      s.httpAbort = null;
    }
    if (s.suspect) this.judge(s);
    const have = { type: 'HAVE', seq: s.info.seq, size: s.info.size, hash8: s.info.hash8 };
    for (const p of this.peers) {
      if (p.helloSent && p.has.get(s.info.seq) !== s.info.hash8) p.send(have);
    }
    this.wake(s);
    if (this.cfg.onSegment) {
      const seq = s.info.seq;
      this.clock.after(0, () => this.cfg.onSegment(seq, source));
    }
  }

  // judge compares the ranges of a failed copy that came from several
  // peers with the good copy: the peers whose bytes differ are dropped.
  judge(s) {
    const { buf, contrib } = s.suspect;
    s.suspect = null;
    const bad = new Set();
    for (const c of contrib) {
      if (bad.has(c.peer)) continue;
      for (let i = c.start; i < c.end; i++) {
        if (buf[i] !== s.data[i]) {
          bad.add(c.peer);
          break;
        }
      }
    }
    for (const p of bad) this.badPeer(p, `segment ${s.info.seq} failed verification`);
  }

  badPeer(p, why) {
    this.counters.badPeers++;
    this.log('warn', `peer ${p.name} sent bad data; dropped (${why})`);
    this.drop(p, 'bad-data', why);
    if (this.cfg.onBadPeer) this.cfg.onBadPeer(p, why, 'bad-data');
  }

  // request asks the best peer that has s for the rest of it, unless
  // someone is delivering it. except: a peer to skip.
  request(s, except = null) {
    if (s.data || s.from || s.httpBusy || s.verifying || !s.inPL || this.closed) return false;
    const best = this.bestHolder(s, except);
    if (!best) return false;
    this.ask(best, s);
    return true;
  }

  bestHolder(s, except) {
    const now = this.now();
    let best = null;
    for (const p of this.peers) {
      if (
        p === except ||
        !p.helloRecv ||
        p.has.get(s.info.seq) !== s.info.hash8 ||
        (p.flags & FLAG_NO_UPLOAD) !== 0 ||
        p.out.size >= MAX_OUTSTANDING ||
        p.busyUntil > now
      ) {
        continue;
      }
      if (!best || p.better(best)) best = p;
    }
    return best;
  }

  // ask sends p a REQUEST for the bytes of s still missing.
  ask(p, s) {
    if (!s.buf) {
      s.buf = new Uint8Array(s.info.size); // from the playlist, never from a peer
      s.got = 0;
      s.contrib = [];
    }
    const id = p.nextId;
    p.nextId = (p.nextId + 1) >>> 0;
    p.out.set(id, s);
    s.from = p;
    s.reqId = id;
    s.progressAt = this.now();
    p.send({
      type: 'REQUEST',
      requestId: id,
      seq: s.info.seq,
      hash8: s.info.hash8,
      offset: s.got,
      length: s.info.size - s.got,
    });
  }

  // --- links ----------------------------------------------------------------

  // addLink starts the protocol on a link that just opened: it sends HELLO
  // with up to 64 of the newest segments held. The caller passes every
  // message the link receives to receive, tells removeLink when it closes
  // and calls pump when its buffered amount falls low.
  addLink(name, link) {
    const p = new Peer(this, name, link, this.now(), ++this.nextPeer);
    if (this.closed) {
      p.closed = true;
      link.close();
      return p;
    }
    this.peers.add(p);
    const segments = this.heldNewest(MAX_HELLO_SEGMENTS).map((s) => ({
      seq: s.info.seq,
      size: s.info.size,
      hash8: s.info.hash8,
    }));
    p.helloSent = true;
    p.send({
      type: 'HELLO',
      version: VERSION,
      role: this.cfg.role,
      flags: this.flags(),
      uploadKbps: this.cfg.uploadKbps,
      swarm: this.cfg.swarm,
      segments,
    });
    return p;
  }

  // heldNewest returns up to n held segments, in ascending seq order (the
  // HELLO's order: numeric, no wrap).
  heldNewest(n) {
    const held = [];
    for (const s of this.segs.values()) if (s.data) held.push(s);
    held.sort((a, b) => seqCompare(a.info.seq, b.info.seq));
    const newest = held.slice(-n);
    return newest.sort((a, b) => a.info.seq - b.info.seq);
  }

  // removeLink forgets a peer whose link closed: its requests go elsewhere.
  removeLink(p) {
    if (p.closed) return;
    p.closed = true;
    this.peers.delete(p);
    if (this.lastServed === p) this.lastServed = null;
    try {
      p.link.close();
    } catch {
      // closing a closed link
    }
    const out = [...p.out.values()];
    p.out.clear();
    p.in = [];
    for (const s of out) s.from = null;
    for (const s of out) this.request(s); // resume from another peer; the timer guards the deadline
    this.pump();
  }

  // drop sends BYE and removes the peer.
  drop(p, reason, text) {
    if (p.closed) return;
    p.send({ type: 'BYE', reason, text: clip(text, MAX_BYE_TEXT) });
    this.removeLink(p);
  }

  protocolError(p, why) {
    this.counters.protocolDrops++;
    this.log('info', `peer ${p.name} broke the protocol; dropped: ${why}`);
    this.drop(p, 'protocol-error', why);
    if (this.cfg.onBadPeer) this.cfg.onBadPeer(p, why, 'protocol-error');
  }

  // receive handles one message from p's link (an ArrayBuffer or a
  // Uint8Array; a string is a protocol error).
  receive(p, data) {
    if (p.closed || this.closed) return;
    if (typeof data === 'string') {
      this.protocolError(p, 'text message');
      return;
    }
    let m;
    try {
      m = decode(data instanceof Uint8Array ? data : new Uint8Array(data));
    } catch (err) {
      if (err instanceof ProtoError && err.unknownType && p.helloRecv) {
        this.counters.unknownMessages++; // a later version's message
        return;
      }
      this.protocolError(p, err instanceof ProtoError ? err.message : String(err));
      return;
    }
    if (!p.helloRecv && m.type !== 'HELLO') {
      this.protocolError(p, `first message is ${m.type}, not HELLO`);
      return;
    }
    try {
      this.handle(p, m);
    } catch (err) {
      if (!(err instanceof ProtocolViolation)) throw err;
      this.protocolError(p, err.message);
    }
  }

  handle(p, m) {
    const now = this.now();
    switch (m.type) {
      case 'HELLO': {
        if (p.helloRecv) throw new ProtocolViolation('second HELLO');
        if (m.swarm !== this.cfg.swarm) {
          this.drop(p, 'wrong-swarm', 'HELLO names swarm ' + m.swarm);
          return;
        }
        p.helloRecv = true;
        p.version = Math.min(VERSION, m.version);
        p.role = m.role;
        p.flags = m.flags;
        p.uploadKbps = m.uploadKbps;
        for (const sg of m.segments) p.has.set(sg.seq, sg.hash8);
        this.trimHas(p);
        for (const sg of m.segments) {
          const s = this.segs.get(sg.seq);
          if (s && s.info.hash8 === sg.hash8 && s.info.size === sg.size) this.request(s);
        }
        return;
      }
      case 'HAVE': {
        p.has.set(m.seq, m.hash8);
        this.trimHas(p);
        const s = this.segs.get(m.seq);
        if (s && s.info.hash8 === m.hash8 && s.info.size === m.size) this.request(s);
        return;
      }
      case 'STATUS':
        p.flags = m.flags;
        p.uploadKbps = m.uploadKbps;
        return;
      case 'REQUEST':
        this.serve(p, m);
        return;
      case 'DATA':
        this.data(p, m);
        return;
      case 'CANCEL': {
        const i = p.in.findIndex((r) => r.id === m.requestId);
        if (i >= 0) p.in.splice(i, 1);
        this.pump();
        return;
      }
      case 'ABSENT': {
        const s = p.out.get(m.requestId);
        if (!s) return; // cancelled meanwhile
        p.out.delete(m.requestId);
        s.from = null;
        if (m.reason === 'busy') p.busyUntil = now + this.cfg.busyBackoffMs;
        else p.has.delete(s.info.seq);
        if (m.reason === 'bad-range') this.log('warn', `peer ${p.name} says the range of segment ${s.info.seq} is bad`);
        this.request(s);
        return;
      }
      case 'BYE':
        p.byeReason = m.reason;
        if (m.reason === 'bad-data') this.log('warn', `peer ${p.name} says we sent bad data: ${m.text}`);
        if (this.cfg.onBye) this.cfg.onBye(p, m.reason, m.text);
        this.removeLink(p);
        return;
      case 'PING':
        p.send({ type: 'PONG', nonce: m.nonce });
        return;
      case 'PONG':
        if (p.pingNonce !== null && m.nonce === p.pingNonce) {
          p.rttMs = now - p.pingSentAt;
          p.pingNonce = null;
        }
        return;
    }
  }

  // trimHas bounds what the engine remembers of a peer's segments.
  trimHas(p) {
    const limit = MAX_HELLO_SEGMENTS + this.cfg.keep + 16;
    if (p.has.size <= limit) return;
    const seqs = [...p.has.keys()].sort(seqCompare);
    for (const seq of seqs.slice(0, seqs.length - limit)) p.has.delete(seq);
  }

  // serve accepts the other peer's request into the serving order, or
  // answers ABSENT.
  serve(p, m) {
    if (p.in.some((r) => r.id === m.requestId)) {
      throw new ProtocolViolation(`request ${m.requestId} is outstanding already`);
    }
    const s = this.segs.get(m.seq);
    const absent = (reason) => p.send({ type: 'ABSENT', requestId: m.requestId, reason });
    if (this.cfg.noUpload || p.in.length >= MAX_OUTSTANDING) {
      absent('busy');
    } else if (!s || s.info.hash8 !== m.hash8 || !s.data) {
      absent(this.evicted.get(m.seq) === m.hash8 ? 'evicted' : 'not-here');
    } else if (m.offset + m.length > s.data.length) {
      absent('bad-range');
    } else if (this.queued() > 0 && this.queued() + m.length > this.serveWindow()) {
      absent('busy'); // it would wait too long here: better elsewhere
    } else {
      p.in.push({ id: m.requestId, data: s.data, next: m.offset, end: m.offset + m.length });
      this.order.push({ p, id: m.requestId });
      this.pump();
    }
  }

  // serveWindow bounds the bytes of accepted requests not yet sent:
  // cfg.serveWindow, or half a second of uploadKbps, or 1 MiB.
  serveWindow() {
    if (this.cfg.serveWindow > 0) return this.cfg.serveWindow;
    if (this.cfg.uploadKbps > 0) return Math.max((this.cfg.uploadKbps * 1000) / 8 / 2, 64 * 1024);
    return 1024 * 1024;
  }

  // queued returns the bytes of accepted requests not yet delivered: not
  // yet sent, or still in the buffer of the link served last.
  queued() {
    let n = 0;
    for (const { p, id } of this.order) {
      const r = p.closed ? null : p.find(id);
      if (r) n += r.end - r.next;
    }
    const last = this.lastServed;
    if (last && !last.closed) n += last.link.bufferedAmount;
    return n;
  }

  // pump sends the DATA of the oldest accepted request, then of the next
  // one: one request at a time, so that each requester gets its segment as
  // fast as the upload allows instead of all of them sharing it. It stops
  // while that link buffers highWater or more, and it starts on another
  // link only once the link it wrote to last has drained to lowWater: a
  // whole segment fits in a link's buffer, and segments parked in several
  // links at once would be sent side by side (each data channel has its
  // own congestion control), with every HAVE queued behind them. The
  // link's bufferedamountlow event (or a timer, for links without one)
  // calls it again.
  pump() {
    if (this.closed) return;
    while (this.order.length > 0) {
      const { p, id } = this.order[0];
      const r = p.closed ? null : p.find(id);
      if (!r) {
        this.order.shift();
        p.in = p.in.filter((x) => x.next < x.end);
        continue;
      }
      const last = this.lastServed;
      const handover = last && last !== p && !last.closed && last.link.bufferedAmount > this.cfg.lowWater;
      if (handover || p.link.bufferedAmount >= this.cfg.highWater) {
        if (!this.pumpTimer) {
          this.pumpTimer = this.clock.after(250, () => {
            this.pumpTimer = null;
            this.pump();
          });
        }
        return;
      }
      const n = Math.min(this.cfg.chunk, r.end - r.next);
      p.send({ type: 'DATA', requestId: id, offset: r.next, payload: r.data.subarray(r.next, r.next + n) });
      r.next += n;
      this.counters.bytesUp += n;
      this.lastServed = p;
    }
  }

  // data takes the bytes of one of our requests.
  data(p, m) {
    const s = p.out.get(m.requestId);
    if (!s || m.payload.length === 0) return; // cancelled meanwhile, or empty
    const end = m.offset + m.payload.length;
    if (m.offset !== s.got || end > s.info.size) {
      throw new ProtocolViolation(`DATA at ${m.offset}+${m.payload.length}, expected ${s.got} of ${s.info.size}`);
    }
    s.buf.set(m.payload, s.got);
    const last = s.contrib[s.contrib.length - 1];
    if (last && last.peer === p && last.end === s.got) last.end = end;
    else s.contrib.push({ peer: p, start: s.got, end });
    s.got = end;
    s.progressAt = this.now();
    if (s.got < s.info.size) return;
    p.out.delete(m.requestId);
    s.from = null;
    this.verifyPeerCopy(s);
  }

  // verifyPeerCopy hashes a segment assembled from peers; a good copy is
  // used and shared, a bad one gets its sender dropped.
  verifyPeerCopy(s) {
    const b = s.buf;
    const contrib = s.contrib;
    s.verifying = true;
    const current = () => !this.closed && this.segs.get(s.info.seq) === s && !s.data;
    this.cfg.digest(b).then(
      (hex) => {
        s.verifying = false;
        if (!current()) return;
        if (hex === s.info.sha256) {
          for (const c of contrib) {
            if (c.peer.role === 'relay') this.counters.bytesRelay += c.end - c.start;
            else this.counters.bytesP2P += c.end - c.start;
          }
          this.counters.segmentsP2P++;
          const source = contrib.every((c) => c.peer.role === 'relay') ? 'relay' : 'p2p';
          this.complete(s, b, source);
          return;
        }
        this.counters.badData++;
        s.buf = null;
        s.got = 0;
        s.contrib = [];
        const senders = new Set(contrib.map((c) => c.peer));
        const why = `segment ${s.info.seq} failed verification`;
        if (senders.size === 1) {
          this.badPeer([...senders][0], why);
        } else {
          // Several senders: find the culprit once a good copy is here.
          s.suspect = { buf: b, contrib };
          this.log('warn', `${why}; its bytes came from ${senders.size} peers`);
        }
        this.request(s);
      },
      (err) => {
        s.verifying = false;
        this.log('warn', `digest failed: ${err}`);
        s.buf = null;
        s.got = 0;
        s.contrib = [];
        if (current()) this.request(s);
      },
    );
  }

  // maintain runs every tickMs: HELLO and PONG timeouts, PINGs, and
  // requests that stall.
  maintain() {
    if (this.closed) return;
    const now = this.now();
    for (const p of [...this.peers]) {
      if (!p.helloRecv) {
        if (now - p.openedAt >= this.cfg.helloTimeoutMs) this.drop(p, 'timeout', 'no HELLO');
        continue;
      }
      if (p.pingNonce !== null) {
        if (now - p.pingSentAt >= this.cfg.pongTimeoutMs) this.drop(p, 'timeout', 'no PONG');
        continue;
      }
      const busy = p.out.size > 0 || p.in.length > 0;
      if (now - p.lastPingAt >= (busy ? this.cfg.pingBusyMs : this.cfg.pingIdleMs)) {
        p.pingNonce = (Math.random() * 0x100000000) >>> 0;
        p.pingSentAt = p.lastPingAt = now;
        p.send({ type: 'PING', nonce: p.pingNonce });
      }
    }
    // A request that got nothing for max(stallMinMs, 3 × RTT) moves to
    // another holder, if there is one.
    for (const s of this.segs.values()) {
      const p = s.from;
      if (!p || now - s.progressAt < Math.max(this.cfg.stallMinMs, 3 * p.rttMs)) continue;
      const other = this.bestHolder(s, p);
      if (other) {
        this.log('debug', `request for segment ${s.info.seq} stalled at ${p.name}; asking ${other.name}`);
        p.cancel(s);
        this.ask(other, s);
      }
    }
    this.tick = this.clock.after(this.cfg.tickMs, () => this.maintain());
  }
}

// clip shortens text to at most n bytes of UTF-8, on a character boundary.
function clip(text, n) {
  const enc = new TextEncoder();
  if (enc.encode(text).length <= n) return text;
  let out = '';
  let used = 0;
  for (const ch of text) {
    const len = enc.encode(ch).length;
    if (used + len > n) break;
    out += ch;
    used += len;
  }
  return out;
}
