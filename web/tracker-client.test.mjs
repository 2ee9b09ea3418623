// Tests of the tracker client, web/static/tracker-client.js, against an
// in-process tracker and in-memory peer connections (web/trackertest.mjs).
// Run with `node --test web/`, or through `go test ./web`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrackerClient, hexToBinary, binaryToHex, isID, randomPeerID, peerName } from './static/tracker-client.js';
import { LABEL } from './static/proto.js';
import { FakeClock } from './peertest.mjs';
import { FakeTracker, FakeRTC, fakeTimers } from './trackertest.mjs';

// The swarm of the demo stream: it holds bytes ≥ 0x80, which JSON carries
// as characters U+0080–U+00FF.
const SWARM = '116adb59cb65023987f145d0d6f5194eb3f2a9fd';

function client(clock, tracker, rtc, extra = {}) {
  const got = { conns: [], messages: [], edges: [], states: [] };
  const c = new TrackerClient({
    url: 'ws://tracker.test/announce',
    infoHash: hexToBinary(SWARM),
    WebSocket: tracker.WebSocket,
    RTCPeerConnection: rtc.RTCPeerConnection,
    timers: fakeTimers(clock),
    stats: () => ({ http: 1000, p2p: 2000.7, relay: 0, stalls: 1, errors: 0, uploaded: 5, downloaded: 2000 }),
    onConnection(conn) {
      got.conns.push(conn);
      conn.onmessage = (data) => got.messages.push(typeof data === 'string' ? data : new Uint8Array(data));
      if (extra.sendOnOpen) conn.channel.send(new Uint8Array([1, 2, 3]));
    },
    onEdge: (edge, rank) => got.edges.push([edge, rank]),
    onState: (s) => got.states.push(s),
    ...extra,
  });
  c.got = got;
  return c;
}

test('IDs are 20 bytes as latin1 strings', () => {
  const ih = hexToBinary(SWARM);
  assert.equal(ih.length, 20);
  assert.ok(isID(ih));
  assert.equal(binaryToHex(ih), SWARM);
  assert.ok(!isID('x'.repeat(19)) && !isID('\u0100'.repeat(20)) && !isID(null));
  const id = randomPeerID();
  assert.match(id, /^-FC0001-[0-9A-Za-z]{12}$/);
  assert.equal(peerName(id), id);
  assert.equal(peerName(ih), SWARM);
  // JSON carries them unchanged.
  assert.equal(JSON.parse(JSON.stringify({ ih })).ih, ih);
});

test('two clients find each other and open a fusioncast/1 channel', async () => {
  const clock = new FakeClock();
  const tracker = new FakeTracker();
  const rtc = new FakeRTC();
  const a = client(clock, tracker, rtc, { sendOnOpen: true });
  const b = client(clock, tracker, rtc, { sendOnOpen: true });
  a.start();
  await clock.advance(100);
  b.start();
  await clock.advance(100);
  assert.equal(a.got.conns.length, 1);
  assert.equal(b.got.conns.length, 1);
  assert.equal(a.got.conns[0].peerId, b.peerId);
  assert.equal(b.got.conns[0].peerId, a.peerId);
  for (const c of [a, b]) {
    const ch = c.got.conns[0].channel;
    assert.equal(ch.label, LABEL);
    assert.equal(ch.binaryType, 'arraybuffer');
    assert.equal(ch.ordered, true);
    assert.deepEqual(c.got.messages, [new Uint8Array([1, 2, 3])]);
  }
  assert.equal(a.connections().length, 1);
  assert.deepEqual(a.got.edges, [[true, 0]], 'the first peer is the primary edge fetcher');
  assert.deepEqual(b.got.edges, [], 'the second is not (one edge in this tracker)');
  assert.deepEqual(a.got.states, ['connecting', 'connected']);
  // Every peer connection was made without STUN or TURN servers.
  for (const pc of rtc.created) assert.deepEqual(pc.cfg, { iceServers: [] });

  // b's first announce, as the tracker read it.
  const ann = tracker.received.find((m) => m.peer_id === b.peerId && m.event === 'started');
  assert.equal(ann.action, 'announce');
  assert.equal(ann.info_hash, hexToBinary(SWARM));
  assert.equal(ann.numwant, 5);
  assert.equal(ann.offers.length, 5);
  for (const o of ann.offers) {
    assert.ok(isID(o.offer_id));
    assert.equal(o.offer.type, 'offer');
    assert.equal(typeof o.offer.sdp, 'string');
  }
  assert.deepEqual(ann.fusioncast, {
    v: 1,
    role: 'viewer',
    max_peers: 20,
    stats: { http: 1000, p2p: 2000, relay: 0, stalls: 1, errors: 0 },
  });
  assert.equal(ann.uploaded, 5);
  assert.equal(ann.downloaded, 2000);
  assert.ok(!('left' in ann));
  // a's answer.
  const answer = tracker.received.find((m) => m.answer);
  assert.equal(answer.peer_id, a.peerId);
  assert.equal(answer.to_peer_id, b.peerId);
  assert.ok(ann.offers.some((o) => o.offer_id === answer.offer_id));
  assert.equal(answer.answer.type, 'answer');

  // b's four other offers went nowhere (two peers in the swarm): dropped
  // as soon as the response says so. a's went nowhere at all.
  assert.equal(b.pending.size, 0);
  assert.equal(a.pending.size, 0);
  await clock.advance(50_000);
  assert.equal(b.got.conns.length, 1);

  b.stop();
  b.stop();
  await clock.advance(10);
  const stopped = tracker.received.find((m) => m.peer_id === b.peerId && m.event === 'stopped');
  assert.equal(tracker.received.filter((m) => m.peer_id === b.peerId && !m.answer).length, 2, 'b connected: no early re-announce');
  assert.ok(stopped, 'stopped announce');
  assert.equal(stopped.offers, undefined);
  assert.equal(a.connections().length, 0, 'the connection closed on both sides');
  a.stop();
});

test('edge status from announce responses, solicited or not', async () => {
  const clock = new FakeClock();
  const tracker = new FakeTracker({ edges: 2 });
  const rtc = new FakeRTC();
  const a = client(clock, tracker, rtc);
  a.start();
  await clock.advance(10);
  assert.deepEqual(a.got.edges, [[true, 0]]);
  const ih = hexToBinary(SWARM);
  tracker.tell(a.peerId, { complete: 0, incomplete: 3, action: 'announce', interval: 120, info_hash: ih, fusioncast: { v: 1, edge: true, edge_rank: 1 } });
  await clock.advance(10);
  // Another swarm's response and a response without the extension change nothing.
  tracker.tell(a.peerId, { complete: 0, incomplete: 3, action: 'announce', interval: 120, info_hash: 'x'.repeat(20), fusioncast: { v: 1, edge: false } });
  tracker.tell(a.peerId, { complete: 0, incomplete: 3, action: 'announce', interval: 120, info_hash: ih });
  await clock.advance(10);
  tracker.tell(a.peerId, { complete: 0, incomplete: 3, action: 'announce', interval: 120, info_hash: ih, fusioncast: { v: 1 } });
  await clock.advance(10);
  assert.deepEqual(a.got.edges, [
    [true, 0],
    [true, 1],
    [false, 0],
  ]);
  a.stop();
});

test('when the primary leaves, the backups hear their new ranks at once', async () => {
  const clock = new FakeClock();
  const tracker = new FakeTracker({ edges: 2 });
  const rtc = new FakeRTC();
  const [a, b, c, d] = [0, 1, 2, 3].map(() => client(clock, tracker, rtc));
  for (const p of [a, b, c, d]) {
    p.start();
    await clock.advance(100);
  }
  assert.deepEqual([a, b, c, d].map((p) => p.got.edges), [[[true, 0]], [[true, 1]], [], []]);
  // a leaves: b moves up to primary and c is promoted, long before their
  // next announce (120 s); d, still waiting, hears nothing.
  a.stop();
  await clock.advance(100);
  assert.deepEqual(b.got.edges, [
    [true, 1],
    [true, 0],
  ]);
  assert.deepEqual(c.got.edges, [[true, 1]]);
  assert.deepEqual(d.got.edges, []);
  assert.equal(b.edge, true);
  assert.equal(b.rank, 0);
  for (const p of [b, c, d]) p.stop();
});

test('re-announces at the interval, with stats; reconnects after the tracker drops it', async () => {
  const clock = new FakeClock();
  const tracker = new FakeTracker({ interval: 60 });
  const rtc = new FakeRTC();
  const a = client(clock, tracker, rtc);
  a.start();
  await clock.advance(10);
  const mine = () => tracker.received.filter((m) => m.peer_id === a.peerId);
  assert.equal(mine().length, 1);
  await clock.advance(60_000);
  assert.equal(mine().length, 2);
  assert.equal(mine()[1].event, undefined, 'a periodic announce has no event');
  assert.ok(mine()[1].fusioncast.stats);
  // The tracker closes the socket: the client loses its edge role and comes back.
  [...tracker.sockets][0].drop();
  await clock.advance(10);
  assert.deepEqual(a.got.edges.at(-1), [false, 0]);
  await clock.advance(1000);
  assert.equal(mine().at(-1).event, 'started');
  assert.deepEqual(a.got.edges.at(-1), [true, 0]);
  a.stop();
});

test('an offer for another protocol is refused', async () => {
  const clock = new FakeClock();
  const tracker = new FakeTracker();
  const rtc = new FakeRTC();
  const a = client(clock, tracker, rtc);
  a.start();
  await clock.advance(10);
  // A plain WebTorrent client: its channel has another label.
  const pc = new rtc.RTCPeerConnection({ iceServers: [] });
  pc.createDataChannel('webtorrent-random-label');
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const other = 'P'.repeat(20);
  tracker.peers.set(other, { deliver() {} });
  tracker.tell(a.peerId, { action: 'announce', offer, offer_id: 'o'.repeat(20), peer_id: other, info_hash: hexToBinary(SWARM) });
  await clock.advance(10);
  const ans = tracker.received.find((m) => m.answer);
  await pc.setRemoteDescription(ans.answer);
  await clock.advance(10);
  assert.equal(a.got.conns.length, 0, 'no connection for another protocol');
  assert.equal(pc.channel.readyState, 'closed');
  assert.equal(a.conns.size, 0);
  a.stop();
});

test('connections, open or being set up, stay within maxPeers', async () => {
  const clock = new FakeClock();
  const tracker = new FakeTracker();
  const rtc = new FakeRTC();
  const a = client(clock, tracker, rtc, { maxPeers: 2 });
  a.start();
  await clock.advance(10);
  assert.equal(tracker.received[0].offers.length, 1, 'offers take at most half the places');
  const others = [];
  for (let i = 0; i < 4; i++) {
    const o = client(clock, tracker, rtc);
    o.start();
    others.push(o);
    for (let t = 0; t < 30; t++) {
      await clock.advance(1000);
      assert.ok(a.conns.size + a.pending.size <= 2);
    }
  }
  await clock.advance(120_000);
  assert.equal(a.connections().length, 2);
  assert.ok(a.conns.size + a.pending.size <= 2);
  for (const x of [a, ...others]) x.stop();
});

test('a banned peer is disconnected and refused', async () => {
  const clock = new FakeClock();
  const tracker = new FakeTracker();
  const rtc = new FakeRTC();
  tracker.interval = 30;
  const a = client(clock, tracker, rtc);
  const b = client(clock, tracker, rtc);
  a.start();
  await clock.advance(10);
  b.start();
  await clock.advance(10);
  assert.equal(a.connections().length, 1);
  let closed = 0;
  a.got.conns[0].onclose = () => closed++;
  a.ban(b.peerId, 60_000);
  await clock.advance(10);
  assert.equal(closed, 1);
  assert.equal(a.connections().length, 0);
  // Both announce again with offers every 30 s: no connection while b is banned.
  await clock.advance(55_000);
  assert.equal(a.connections().length, 0);
  assert.equal(b.connections().length, 0);
  await clock.advance(45_000);
  assert.equal(a.connections().length, 1, 'after the ban, b is welcome again');
  a.stop();
  b.stop();
});

test('messages that come before the open event are kept for the user', async () => {
  const clock = new FakeClock();
  const tracker = new FakeTracker();
  const rtc = new FakeRTC();
  rtc.lateOpen = true;
  const a = client(clock, tracker, rtc);
  const b = client(clock, tracker, rtc, { sendOnOpen: true });
  a.start();
  await clock.advance(10);
  b.start();
  await clock.advance(10);
  assert.equal(a.got.conns.length, 1);
  assert.deepEqual(a.got.messages, [new Uint8Array([1, 2, 3])]);
  a.stop();
  b.stop();
});

test('ICE gathering that never completes: the SDP goes after the timeout', async () => {
  const clock = new FakeClock();
  const tracker = new FakeTracker();
  const rtc = new FakeRTC();
  rtc.neverGather = true;
  const a = client(clock, tracker, rtc);
  a.start();
  await clock.advance(4_000);
  assert.equal(tracker.received.length, 0);
  await clock.advance(1_100);
  assert.equal(tracker.received.length, 1);
  assert.equal(tracker.received[0].offers.length, 5);
  a.stop();
});

test('peers that offer to each other at once keep the offer of the smaller peer_id', async () => {
  for (const [ida, idb] of [
    ['-FC0001-aaaaaaaaaaaa', '-FC0001-bbbbbbbbbbbb'],
    ['-FC0001-\u00ffbbbbbbbbbbb', '-FC0001-aaaaaaaaaaaa'],
  ]) {
    const clock = new FakeClock();
    const tracker = new FakeTracker();
    const rtc = new FakeRTC();
    const a = client(clock, tracker, rtc, { peerId: ida });
    const b = client(clock, tracker, rtc, { peerId: idb });
    a.start();
    await clock.advance(10);
    b.start();
    await clock.advance(10);
    assert.equal(a.connections().length, 1);
    // The connection drops; both announce again at once, with offers for each other.
    a.connections()[0].close();
    await clock.advance(10);
    assert.equal(b.connections().length, 0);
    a.announce();
    b.announce();
    await clock.advance(100);
    assert.equal(a.connections().length, 1);
    assert.equal(b.connections().length, 1);
    assert.equal(rtc.open(), 2, 'two channel ends: one connection');
    const smallerOffered = ida < idb;
    assert.equal(a.connections()[0].offerer, smallerOffered);
    assert.equal(b.connections()[0].offerer, !smallerOffered);
    a.stop();
    b.stop();
  }
});

test('messages to the tracker are paced: bursts of 12, then 3 a second', async () => {
  const clock = new FakeClock();
  const tracker = new FakeTracker();
  const rtc = new FakeRTC();
  const a = client(clock, tracker, rtc);
  a.start();
  await clock.advance(5000);
  const ws = [...tracker.sockets][0];
  const before = ws.sent.length;
  for (let i = 0; i < 20; i++) a.send({ action: 'scrape', info_hash: hexToBinary(SWARM) });
  assert.equal(ws.sent.length - before, 12);
  await clock.advance(1100);
  assert.equal(ws.sent.length - before, 15);
  await clock.advance(2000);
  assert.equal(ws.sent.length - before, 20);
  a.stop();
});

test('a refusal drops the announce\'s offers; it is tried again after a backoff', async () => {
  const clock = new FakeClock();
  const tracker = new FakeTracker();
  const rtc = new FakeRTC();
  const b = client(clock, tracker, rtc);
  b.start();
  await clock.advance(10);
  const a = client(clock, tracker, rtc);
  const handle = tracker.handle.bind(tracker);
  let refuse = true;
  tracker.handle = (ws, text) => {
    const m = JSON.parse(text);
    if (refuse && m.peer_id === a.peerId) {
      tracker.received.push(m);
      ws.deliver({ action: 'announce', 'failure reason': 'swarm full: too many peers', info_hash: m.info_hash });
      return;
    }
    handle(ws, text);
  };
  a.start();
  await clock.advance(10);
  assert.equal(a.pending.size, 0, 'the refused announce\'s offers are closed');
  assert.equal(a.lastFailure, 'swarm full: too many peers');
  refuse = false;
  await clock.advance(1100);
  assert.equal(tracker.received.filter((m) => m.peer_id === a.peerId).length, 2);
  assert.equal(a.connections().length, 1);
  a.stop();
  b.stop();
});

test('the client refuses a bad configuration', () => {
  assert.throws(() => new TrackerClient({ url: 'http://x', infoHash: 'x'.repeat(20) }), /ws/);
  assert.throws(() => new TrackerClient({ url: 'ws://x', infoHash: 'short' }), /infoHash/);
});
