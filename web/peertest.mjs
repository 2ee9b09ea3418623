// Test harness for web/static/peer.js (used by peer.test.mjs): a fake
// clock, in-memory links with latency, bandwidth and a send buffer, a fake
// origin and a live stream. Nothing here is served with the page.

import { createHash, randomBytes } from 'node:crypto';
import { Engine } from './static/peer.js';

// settle lets promise callbacks (digests, fetches) run.
export function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}

// FakeClock runs timers in virtual time, in order, when advanced.
export class FakeClock {
  constructor() {
    this.t = 0;
    this.q = [];
    this.n = 0;
  }

  now() {
    return this.t;
  }

  after(ms, fn) {
    const e = { at: this.t + Math.max(0, ms), n: this.n++, fn, stopped: false };
    this.q.push(e);
    return { stop: () => (e.stopped = true) };
  }

  // advance runs every timer due in the next ms milliseconds, letting
  // promises settle between them.
  async advance(ms) {
    const end = this.t + ms;
    for (;;) {
      await settle();
      this.q = this.q.filter((e) => !e.stopped);
      let next = null;
      for (const e of this.q) {
        if (e.at <= end && (!next || e.at < next.at || (e.at === next.at && e.n < next.n))) next = e;
      }
      if (!next) break;
      this.q.splice(this.q.indexOf(next), 1);
      this.t = next.at;
      next.fn();
    }
    this.t = end;
    await settle();
  }
}

export function sha256(b) {
  return createHash('sha256').update(b).digest('hex');
}

// digest is the engines' hash in tests: node's, through a promise, like
// WebCrypto's.
export function digest(b) {
  return Promise.resolve(sha256(b));
}

// FakeLink is one direction of a data channel: send() queues the message,
// which arrives after `delayMs` plus its size at `bytesPerMs`, in order.
// bufferedAmount counts what has not left yet; falling to lowWater or below
// calls onLow, like the bufferedamountlow event.
export class FakeLink {
  constructor(clock, { delayMs = 1, bytesPerMs = 10_000, lowWater = 256 * 1024 } = {}) {
    this.clock = clock;
    this.delayMs = delayMs;
    this.bytesPerMs = bytesPerMs;
    this.lowWater = lowWater;
    this.bufferedAmount = 0;
    this.maxBuffered = 0;
    this.busyUntil = 0; // when the sender's last queued byte leaves
    this.closed = false;
    this.dead = false;
    this.sent = []; // every message, for tests that inspect the wire
    this.deliver = null;
    this.onLow = null;
    this.onFarClose = null;
  }

  send(b) {
    if (this.closed) throw new Error('link closed');
    const copy = new Uint8Array(b);
    this.sent.push(copy);
    this.bufferedAmount += copy.length;
    this.maxBuffered = Math.max(this.maxBuffered, this.bufferedAmount);
    const leave = Math.max(this.busyUntil, this.clock.now()) + copy.length / this.bytesPerMs;
    this.busyUntil = leave;
    this.clock.after(leave - this.clock.now(), () => {
      const before = this.bufferedAmount;
      this.bufferedAmount -= copy.length;
      if (before > this.lowWater && this.bufferedAmount <= this.lowWater && this.onLow && !this.dead) this.onLow();
    });
    this.clock.after(leave - this.clock.now() + this.delayMs, () => {
      if (!this.dead) this.deliver(copy.buffer);
    });
  }

  // close closes after what was sent has arrived, as a data channel does.
  close() {
    if (this.closed) return;
    this.closed = true;
    const at = Math.max(this.busyUntil, this.clock.now()) + this.delayMs;
    this.clock.after(at - this.clock.now(), () => {
      if (!this.dead && this.onFarClose) this.onFarClose();
    });
  }
}

// connect links two engines both ways and returns the links and each
// engine's Peer for the other.
export function connect(clock, a, b, opts = {}) {
  const ab = new FakeLink(clock, opts);
  const ba = new FakeLink(clock, opts);
  const pa = a.addLink(opts.nameB || 'b', ab); // a's view of b
  const pb = b.addLink(opts.nameA || 'a', ba);
  ab.deliver = (m) => b.receive(pb, m);
  ba.deliver = (m) => a.receive(pa, m);
  ab.onLow = () => a.pump();
  ba.onLow = () => b.pump();
  ab.onFarClose = () => b.removeLink(pb);
  ba.onFarClose = () => a.removeLink(pa);
  // kill cuts both directions at once, without BYE (a tab that crashed).
  const kill = () => {
    ab.dead = ba.dead = true;
    a.removeLink(pa);
    b.removeLink(pb);
  };
  return { ab, ba, pa, pb, kill };
}

// Origin serves the segments of a Stream after delayMs, and counts.
export class Origin {
  constructor(clock, delayMs = 20) {
    this.clock = clock;
    this.delayMs = delayMs;
    this.bytes = new Map(); // url → bytes
    this.counts = new Map(); // seq → fetches
    this.log = []; // [{seq, at}] when each fetch started
    this.corrupt = new Set(); // seqs served with wrong bytes (once)
  }

  count(seq) {
    return this.counts.get(seq) || 0;
  }

  total() {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }

  fetch = (info, signal) => {
    this.counts.set(info.seq, this.count(info.seq) + 1);
    this.log.push({ seq: info.seq, at: this.clock.now() });
    return new Promise((resolve, reject) => {
      const t = this.clock.after(this.delayMs, () => {
        let b = this.bytes.get(info.url);
        if (!b) {
          reject(new Error('404'));
          return;
        }
        if (this.corrupt.delete(info.seq)) b = b.map((x) => x ^ 0x5a);
        resolve(b.slice().buffer);
      });
      signal.addEventListener('abort', () => {
        t.stop();
        reject(new Error('aborted'));
      });
    });
  };
}

// Stream publishes segments of `size` random bytes every durationMs; the
// playlist window is the newest `window`.
export class Stream {
  constructor(origin, { size = 100_000, durationMs = 2000, window = 6, firstSeq = 1000 } = {}) {
    this.origin = origin;
    this.size = size;
    this.durationMs = durationMs;
    this.windowSize = window;
    this.seq = firstSeq;
    this.list = [];
  }

  publish() {
    const b = new Uint8Array(randomBytes(this.size));
    const sum = sha256(b);
    const info = {
      seq: this.seq++,
      size: b.length,
      sha256: sum,
      url: `/live/demo/${this.seq - 1}-${sum.slice(0, 16)}.ts`,
      durationMs: this.durationMs,
    };
    this.origin.bytes.set(info.url, b);
    this.list.push(info);
    return info;
  }

  window() {
    return this.list.slice(-this.windowSize);
  }

  bytes(info) {
    return this.origin.bytes.get(info.url);
  }
}

export const SWARM = '116adb59cb65023987f145d0d6f5194eb3f2a9fd';

export function newEngine(clock, origin, extra = {}) {
  return new Engine({ swarm: SWARM, fetch: origin.fetch, clock, digest, ...extra });
}

// Player asks an engine for segments as a player would, and records what
// it got.
export class Player {
  constructor(engine, stream) {
    this.engine = engine;
    this.stream = stream;
    this.got = new Map(); // seq → {source, at, ok}
    this.errors = [];
  }

  want(info, deadline) {
    this.engine.get(info, deadline).then(
      ({ data, source }) => {
        const ok = sha256(data) === info.sha256;
        this.got.set(info.seq, { source, at: this.engine.now(), ok, late: this.engine.now() > deadline });
      },
      (err) => this.errors.push(err),
    );
  }
}
