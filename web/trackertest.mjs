// Fakes for the tests of web/static/tracker-client.js: a WebSocket that
// talks to an in-process WebTorrent-style tracker, and RTCPeerConnections
// whose data channels connect in memory. Nothing here is served with the
// page.

// FakeTimers adapts a FakeClock (peertest.mjs) to the client's timers.
export function fakeTimers(clock) {
  return {
    now: () => clock.now(),
    setTimeout: (fn, ms) => clock.after(ms, fn),
    clearTimeout: (h) => h && h.stop(),
  };
}

class Emitter {
  constructor() {
    this.listeners = new Map();
  }

  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
  }

  removeEventListener(type, fn) {
    const l = this.listeners.get(type);
    if (l) l.delete(fn);
  }

  emit(type, ev = {}) {
    const h = this['on' + type];
    if (h) h.call(this, ev);
    for (const fn of this.listeners.get(type) || []) fn.call(this, ev);
  }
}

// FakeTracker relays offers and answers between FakeWebSockets, like the
// fusioncast tracker (docs/tracker.md), and records every message. Every
// peer is a candidate edge fetcher; when one leaves, each peer whose rank
// changed is told with an unsolicited response, as the tracker does.
export class FakeTracker {
  constructor({ interval = 120, edges = 1 } = {}) {
    this.interval = interval;
    this.edges = edges;
    this.sockets = new Set();
    this.peers = new Map(); // peer_id → socket
    this.order = []; // peer_ids by age
    this.ext = new Set(); // peer_ids that sent the fusioncast extension
    this.received = []; // every message, parsed
  }

  // WebSocket is the constructor to give a client.
  get WebSocket() {
    const tracker = this;
    return class extends FakeWebSocket {
      constructor(url) {
        super(tracker, url);
      }
    };
  }

  rank(id) {
    const i = this.order.indexOf(id);
    return i >= 0 && i < this.edges ? i : -1;
  }

  handle(ws, text) {
    const m = JSON.parse(text);
    this.received.push(m);
    if (m.action !== 'announce') return;
    if (m.answer) {
      const to = this.peers.get(m.to_peer_id);
      if (to) to.deliver({ action: 'announce', answer: m.answer, offer_id: m.offer_id, peer_id: m.peer_id, info_hash: m.info_hash });
      return;
    }
    if (m.event === 'stopped') {
      this.leave(m.peer_id);
    } else if (!this.peers.has(m.peer_id)) {
      this.peers.set(m.peer_id, ws);
      this.order.push(m.peer_id);
      if (m.fusioncast) this.ext.add(m.peer_id);
      ws.peerId = m.peer_id;
      ws.infoHash = m.info_hash;
    }
    const others = [...this.peers.keys()].filter((id) => id !== m.peer_id);
    (m.offers || []).slice(0, others.length).forEach((o, i) => {
      this.peers.get(others[i]).deliver({ action: 'announce', offer: o.offer, offer_id: o.offer_id, peer_id: m.peer_id, info_hash: m.info_hash });
    });
    ws.deliver(this.response(m.peer_id, m.info_hash, !!m.fusioncast));
  }

  // response is an announce response for id, with the extension if ext.
  response(id, infoHash, ext) {
    const resp = { complete: 0, incomplete: this.peers.size, action: 'announce', interval: this.interval, info_hash: infoHash };
    if (ext) {
      const r = this.rank(id);
      resp.fusioncast = { v: 1, edge: r >= 0, edge_rank: Math.max(r, 0) };
    }
    return resp;
  }

  // leave removes id and tells every fusioncast peer whose rank changed.
  leave(id) {
    const before = new Map(this.order.map((p) => [p, this.rank(p)]));
    this.peers.delete(id);
    this.order = this.order.filter((p) => p !== id);
    for (const [p, r] of before) {
      if (p !== id && this.ext.has(p) && this.rank(p) !== r) {
        const ws = this.peers.get(p);
        ws.deliver(this.response(p, ws.infoHash, true));
      }
    }
    this.ext.delete(id);
  }

  // tell sends a message to a peer, as an unsolicited response.
  tell(peerId, msg) {
    this.peers.get(peerId).deliver(msg);
  }

  close(ws) {
    this.sockets.delete(ws);
    if (ws.peerId && this.peers.get(ws.peerId) === ws) this.leave(ws.peerId);
  }
}

class FakeWebSocket extends Emitter {
  constructor(tracker, url) {
    super();
    this.tracker = tracker;
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    tracker.sockets.add(this);
    queueMicrotask(() => {
      this.readyState = 1;
      this.emit('open');
    });
  }

  send(text) {
    if (this.readyState !== 1) throw new Error('not open');
    if (typeof text !== 'string') throw new Error('text frames only');
    this.sent.push(text);
    queueMicrotask(() => this.tracker.handle(this, text));
  }

  deliver(msg) {
    if (this.readyState !== 1) return;
    const data = JSON.stringify(msg);
    queueMicrotask(() => this.emit('message', { data }));
  }

  close() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.tracker.close(this);
    queueMicrotask(() => this.emit('close', { code: 1000 }));
  }

  // drop closes the socket from the tracker's side.
  drop() {
    this.close();
  }
}

// FakeRTC makes RTCPeerConnection classes whose offers and answers are
// tokens that pair them in memory.
export class FakeRTC {
  constructor() {
    this.byToken = new Map();
    this.n = 0;
    this.created = [];
    this.neverGather = false; // ICE gathering never completes
    this.lateOpen = false; // the answerer's channel opens after the first message
  }

  get RTCPeerConnection() {
    const rtc = this;
    return class extends FakePC {
      constructor(cfg) {
        super(rtc, cfg);
      }
    };
  }

  // open counts the connections whose channel is open.
  open() {
    return this.created.filter((pc) => pc.channel && pc.channel.readyState === 'open').length;
  }
}

class FakeChannel extends Emitter {
  constructor(pc, label, opts) {
    super();
    this.pc = pc;
    this.label = label;
    this.ordered = opts.ordered !== false;
    this.readyState = 'connecting';
    this.binaryType = 'blob';
    this.bufferedAmount = 0;
    this.bufferedAmountLowThreshold = 0;
    this.far = null;
  }

  send(data) {
    if (this.readyState !== 'open') throw new Error('channel not open');
    const far = this.far;
    const copy = typeof data === 'string' ? data : new Uint8Array(data).slice().buffer;
    queueMicrotask(() => {
      if (far.readyState === 'open' || (far.readyState === 'connecting' && this.pc.rtc.lateOpen)) {
        far.emit('message', { data: copy });
      }
    });
  }

  close() {
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    queueMicrotask(() => this.emit('close'));
    const far = this.far;
    if (far && far.readyState !== 'closed') {
      far.readyState = 'closed';
      queueMicrotask(() => far.emit('close'));
    }
  }
}

class FakePC extends Emitter {
  constructor(rtc, cfg) {
    super();
    this.rtc = rtc;
    this.cfg = cfg;
    this.id = rtc.n++;
    rtc.created.push(this);
    this.iceGatheringState = 'new';
    this.connectionState = 'new';
    this.localDescription = null;
    this.remoteDescription = null;
    this.channel = null;
    this.closed = false;
  }

  createDataChannel(label, opts = {}) {
    this.channel = new FakeChannel(this, label, opts);
    return this.channel;
  }

  async createOffer() {
    return { type: 'offer', sdp: `fake-offer ${this.id} ${this.channel ? this.channel.label : ''}` };
  }

  async createAnswer() {
    return { type: 'answer', sdp: `fake-answer ${this.id}` };
  }

  async setLocalDescription(d) {
    this.localDescription = d;
    this.rtc.byToken.set(d.sdp, this);
    this.iceGatheringState = 'gathering';
    if (this.rtc.neverGather) return;
    queueMicrotask(() => {
      this.iceGatheringState = 'complete';
      this.emit('icegatheringstatechange');
      this.emit('icecandidate', { candidate: null });
    });
  }

  async setRemoteDescription(d) {
    if (this.closed) throw new Error('closed');
    this.remoteDescription = d;
    if (d.type !== 'answer') return;
    // The offerer learns the answer: connect the two.
    const answerer = this.rtc.byToken.get(d.sdp);
    const offerer = this;
    if (!answerer || answerer.closed || !offerer.channel) return;
    const [, , label] = offerer.localDescription.sdp.split(' ');
    const theirs = new FakeChannel(answerer, label, {});
    theirs.far = offerer.channel;
    offerer.channel.far = theirs;
    answerer.channel = theirs;
    queueMicrotask(() => {
      if (answerer.closed || offerer.closed) return;
      offerer.connectionState = answerer.connectionState = 'connected';
      if (this.rtc.lateOpen) {
        // The answerer hears of the channel, the offerer sends at once,
        // and the answerer's open event comes after that message.
        answerer.emit('datachannel', { channel: theirs });
        offerer.channel.readyState = 'open';
        offerer.channel.emit('open');
        setImmediate(() => {
          theirs.readyState = 'open';
          theirs.emit('open');
        });
        return;
      }
      theirs.readyState = 'open';
      answerer.emit('datachannel', { channel: theirs });
      if (answerer.closed) return; // refused
      offerer.channel.readyState = 'open';
      offerer.channel.emit('open');
      theirs.emit('open');
    });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.connectionState = 'closed';
    if (this.channel) this.channel.close();
  }
}
