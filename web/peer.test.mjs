// Tests of the browser peer engine, web/static/peer.js: several engines in
// one process, on fake links and a fake clock (web/peertest.mjs). Run with
//
//   node --test web/
//
// or through `go test ./web` (TestJavaScript).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode } from './static/proto.js';
import { Engine, swarmFor, seqAfter, toHex } from './static/peer.js';
import { FakeClock, FakeLink, Origin, Stream, Player, SWARM, connect, newEngine, sha256 } from './peertest.mjs';

const DEADLINE_MS = 6000; // the player needs a segment 3 durations after it appears

// run publishes n segments, one per duration, gives every engine the
// playlist, and has each player ask for each new segment.
async function run(clock, stream, n, engines, players) {
  for (let i = 0; i < n; i++) {
    const info = stream.publish();
    for (const e of engines) e.setPlaylist(stream.window());
    for (const p of players) p.want(info, clock.now() + DEADLINE_MS);
    await clock.advance(stream.durationMs);
  }
  await clock.advance(DEADLINE_MS);
}

function checkPlayers(players, n) {
  players.forEach((p, i) => {
    assert.deepEqual(p.errors, [], `player ${i} errors`);
    assert.equal(p.got.size, n, `player ${i} got ${p.got.size} of ${n} segments`);
    for (const [seq, g] of p.got) {
      assert.ok(g.ok, `player ${i} segment ${seq} corrupt`);
      assert.ok(!g.late, `player ${i} segment ${seq} late`);
    }
  });
}

// messages decodes what went over a fake link.
function messages(link) {
  return link.sent.map((b) => decode(b));
}

test('swarmFor matches docs/protocol.md', async () => {
  assert.equal(await swarmFor('demo'), SWARM);
  assert.ok(seqAfter(5, 4) && !seqAfter(4, 5) && seqAfter(0, 0xffffffff));
  assert.equal(toHex(new Uint8Array([0, 15, 255])), '000fff');
});

test('two engines share every segment; the origin sends each once', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin);
  const edge = newEngine(clock, origin);
  edge.setEdge(true, 0);
  const viewer = newEngine(clock, origin);
  connect(clock, edge, viewer);
  const player = new Player(viewer, stream);
  const n = 8;
  await run(clock, stream, n, [edge, viewer], [player]);
  checkPlayers([player], n);
  for (const info of stream.list) {
    assert.equal(origin.count(info.seq), 1, `segment ${info.seq} fetched ${origin.count(info.seq)} times`);
    assert.equal(player.got.get(info.seq).source, 'p2p');
  }
  const se = edge.stats();
  const sv = viewer.stats();
  assert.equal(sv.bytesP2P, n * stream.size);
  assert.equal(se.bytesUp, n * stream.size);
  assert.equal(sv.bytesHTTP, 0);
  assert.equal(se.bytesHTTP, n * stream.size);
  assert.equal(se.edge, true);
  assert.equal(se.edgeRank, 0);
  assert.equal(sv.peers, 1);
  edge.close();
  viewer.close();
});

test('a swarm of six on a ring: every segment reaches everyone, the origin sends it once', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin, { size: 200_000 });
  const engines = Array.from({ length: 6 }, () => newEngine(clock, origin));
  engines[0].setEdge(true, 0);
  for (let i = 0; i < engines.length; i++) connect(clock, engines[i], engines[(i + 1) % engines.length]);
  const players = engines.slice(1).map((e) => new Player(e, stream));
  const n = 6;
  await run(clock, stream, n, engines, players);
  checkPlayers(players, n);
  for (const info of stream.list) assert.equal(origin.count(info.seq), 1);
  let p2p = 0;
  for (const e of engines.slice(1)) p2p += e.stats().segmentsP2P;
  assert.equal(p2p, 5 * n);
});

test('HELLO carries the held segments; HAVE follows verification', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin);
  const a = newEngine(clock, origin);
  a.setEdge(true, 0);
  for (let i = 0; i < 3; i++) {
    stream.publish();
    a.setPlaylist(stream.window());
    await clock.advance(100);
  }
  const b = newEngine(clock, origin);
  const { ab, ba } = connect(clock, a, b);
  const hello = messages(ab)[0];
  assert.equal(hello.type, 'HELLO');
  assert.equal(hello.flags & 1, 1, 'edge flag');
  assert.equal(hello.swarm, SWARM);
  assert.deepEqual(
    hello.segments.map((s) => s.seq),
    stream.list.map((i) => i.seq),
  );
  assert.equal(messages(ba)[0].segments.length, 0);
  const info = stream.publish();
  a.setPlaylist(stream.window());
  await clock.advance(100);
  const have = messages(ab).find((m) => m.type === 'HAVE');
  assert.deepEqual(have, { type: 'HAVE', seq: info.seq, size: info.size, hash8: info.sha256.slice(0, 16) });
});

// A peer that answers every request with junk: the engine detects it by
// the SHA-256, sends BYE bad-data, drops it, counts it, and the player still
// gets every segment intact and in time.
test('a corrupted DATA is detected and its sender dropped', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin);
  const edge = newEngine(clock, origin);
  edge.setEdge(true, 0);
  const reported = [];
  const victim = newEngine(clock, origin, { onBadPeer: (p, why, kind) => reported.push(`${p.name}: ${kind}: ${why}`) });
  connect(clock, edge, victim, { delayMs: 30 }); // the honest peer is slower

  // Mallory: a raw link that claims to be an edge fetcher with everything.
  const toVictim = new FakeLink(clock);
  const fromVictim = new FakeLink(clock);
  const vp = victim.addLink('mallory', fromVictim);
  toVictim.deliver = (m) => victim.receive(vp, m);
  const malloryGot = [];
  fromVictim.deliver = (m) => {
    const msg = decode(new Uint8Array(m));
    malloryGot.push(msg);
    if (msg.type === 'REQUEST') {
      for (let off = 0; off < msg.length; off += 16384) {
        const n = Math.min(16384, msg.length - off);
        toVictim.send(encode({ type: 'DATA', requestId: msg.requestId, offset: msg.offset + off, payload: new Uint8Array(n).fill(7) }));
      }
    }
  };
  fromVictim.onFarClose = () => {};
  toVictim.send(encode({ type: 'HELLO', version: 1, role: 'viewer', flags: 1, uploadKbps: 1 << 30, swarm: SWARM, segments: [] }));

  const player = new Player(victim, stream);
  const n = 4;
  for (let i = 0; i < n; i++) {
    const info = stream.publish();
    edge.setPlaylist(stream.window());
    victim.setPlaylist(stream.window());
    if (!fromVictim.closed) toVictim.send(encode({ type: 'HAVE', seq: info.seq, size: info.size, hash8: info.sha256.slice(0, 16) }));
    player.want(info, clock.now() + DEADLINE_MS);
    await clock.advance(stream.durationMs);
  }
  await clock.advance(DEADLINE_MS);
  checkPlayers([player], n);
  const st = victim.stats();
  assert.equal(st.badData, 1, 'one bad segment: the peer is gone after it');
  assert.equal(st.badPeers, 1);
  assert.equal(st.peers, 1, 'only the honest peer is left');
  const bye = malloryGot.find((m) => m.type === 'BYE');
  assert.ok(bye, 'mallory got a BYE');
  assert.equal(bye.reason, 'bad-data');
  assert.equal(reported.length, 1);
  assert.match(reported[0], /^mallory: bad-data: segment \d+ failed verification$/);
  assert.equal(st.bytesP2P, n * stream.size, 'bad bytes are not counted');
});

test('protocol errors: BYE protocol-error with the reason', async () => {
  for (const [name, first, then, want] of [
    ['text before HELLO', 'text', null, 'text message'],
    ['HAVE before HELLO', encode({ type: 'HAVE', seq: 1, size: 1, hash8: '00'.repeat(8) }), null, 'first message is HAVE, not HELLO'],
    ['malformed', new Uint8Array([0x02, 1, 2]), null, 'proto: short message'],
    ['second HELLO', 'hello', 'hello', 'second HELLO'],
    ['unknown type first', new Uint8Array([0x42]), null, 'proto: unknown message type 0x42'],
  ]) {
    const clock = new FakeClock();
    const origin = new Origin(clock);
    const e = newEngine(clock, origin);
    const out = new FakeLink(clock);
    const got = [];
    out.deliver = (m) => got.push(decode(new Uint8Array(m)));
    const p = e.addLink('x', out);
    const hello = encode({ type: 'HELLO', version: 1, role: 'viewer', flags: 0, uploadKbps: 0, swarm: SWARM, segments: [] });
    for (const m of [first, then]) {
      if (m === null) continue;
      e.receive(p, m === 'hello' ? hello : m);
    }
    await clock.advance(10);
    const bye = got.find((m) => m.type === 'BYE');
    assert.ok(bye, name);
    assert.equal(bye.reason, 'protocol-error', name);
    assert.equal(bye.text, want, name);
    assert.equal(e.stats().protocolDrops, 1, name);
    assert.equal(e.stats().peers, 0, name);
  }
});

test('an unknown message type after HELLO is ignored; a wrong swarm is refused', async () => {
  const clock = new FakeClock();
  const e = newEngine(clock, new Origin(clock));
  const out = new FakeLink(clock);
  const got = [];
  out.deliver = (m) => got.push(decode(new Uint8Array(m)));
  const p = e.addLink('x', out);
  e.receive(p, encode({ type: 'HELLO', version: 3, role: 'relay', flags: 0xfc, uploadKbps: 5, swarm: SWARM, segments: [] }));
  e.receive(p, new Uint8Array([0x42, 1, 2, 3]));
  e.receive(p, encode({ type: 'PING', nonce: 77 }));
  await clock.advance(10);
  assert.deepEqual(got.at(-1), { type: 'PONG', nonce: 77 });
  assert.equal(e.stats().unknownMessages, 1);
  assert.equal(p.version, 1);
  assert.equal(p.role, 'relay');

  const out2 = new FakeLink(clock);
  const got2 = [];
  out2.deliver = (m) => got2.push(decode(new Uint8Array(m)));
  const q = e.addLink('y', out2);
  e.receive(q, encode({ type: 'HELLO', version: 1, role: 'viewer', flags: 0, uploadKbps: 0, swarm: 'ab'.repeat(20), segments: [] }));
  await clock.advance(10);
  assert.equal(got2.at(-1).type, 'BYE');
  assert.equal(got2.at(-1).reason, 'wrong-swarm');
  assert.equal(e.stats().peers, 1);
});

// A peer that leaves halfway through a segment: the requester asks another
// holder for the rest, starting at the byte it reached.
test('a request resumes at the byte reached when its peer leaves', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin, { size: 400_000 });
  const a = newEngine(clock, origin);
  const c = newEngine(clock, origin);
  const info = stream.publish();
  // a and c have the segment already.
  for (const e of [a, c]) {
    e.setEdge(true, 0);
    e.setPlaylist(stream.window());
  }
  await clock.advance(100);
  assert.equal(a.has(info.seq), 'http');
  assert.equal(c.has(info.seq), 'http');
  const b = newEngine(clock, origin);
  b.setPlaylist(stream.window());
  const la = connect(clock, a, b, { bytesPerMs: 100 }); // 100 kB/s: 4 s for the segment
  const player = new Player(b, stream);
  player.want(info, clock.now() + 10_000);
  await clock.advance(10);
  const lc = connect(clock, c, b); // c comes later: a is on it
  await clock.advance(1500);
  const reqA = messages(la.ba).filter((m) => m.type === 'REQUEST');
  assert.equal(reqA.length, 1, 'b asked a');
  assert.equal(reqA[0].offset, 0);
  la.kill(); // a's tab closes
  await clock.advance(3000);
  const reqC = messages(lc.ba).filter((m) => m.type === 'REQUEST');
  assert.equal(reqC.length, 1, 'b asked c for the rest');
  assert.ok(reqC[0].offset > 0 && reqC[0].offset % 16384 === 0, `resumed at ${reqC[0].offset}`);
  assert.equal(reqC[0].offset + reqC[0].length, info.size);
  checkPlayers([player], 1);
  assert.equal(player.got.get(info.seq).source, 'p2p');
  assert.equal(b.stats().bytesP2P, info.size);
  assert.equal(origin.count(info.seq), 2, 'only the two edge fetchers used HTTP');
});

// A request that stops making progress moves to another holder.
test('a stalled request moves to another holder', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin);
  const a = newEngine(clock, origin);
  const c = newEngine(clock, origin);
  const info = stream.publish();
  for (const e of [a, c]) {
    e.setEdge(true, 0);
    e.setPlaylist(stream.window());
  }
  await clock.advance(100);
  a.cfg.chunk = 1000; // so that a sends little before it stops
  const b = newEngine(clock, origin);
  b.setPlaylist(stream.window());
  const la = connect(clock, a, b);
  c.setEdge(false);
  connect(clock, c, b);
  // a stops serving after its first DATA (a frozen tab).
  const send = la.ab.send.bind(la.ab);
  let data = 0;
  la.ab.send = (m) => {
    if (m[0] === 0x04 && data++ >= 1) return;
    send(m);
  };
  const player = new Player(b, stream);
  player.want(info, clock.now() + 10_000);
  await clock.advance(4000);
  checkPlayers([player], 1);
  assert.equal(player.got.get(info.seq).source, 'p2p');
  assert.ok(messages(la.ba).some((m) => m.type === 'CANCEL'), 'b cancelled its request to a');
});

test('flow control: the send buffer stays under the high-water mark', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin, { size: 3_000_000 });
  const a = newEngine(clock, origin);
  a.setEdge(true, 0);
  const info = stream.publish();
  a.setPlaylist(stream.window());
  await clock.advance(100);
  const b = newEngine(clock, origin);
  b.setPlaylist(stream.window());
  const { ab } = connect(clock, a, b, { bytesPerMs: 1000 }); // 1 MB/s
  const player = new Player(b, stream);
  player.want(info, clock.now() + 10_000);
  await clock.advance(6000);
  checkPlayers([player], 1);
  assert.ok(ab.maxBuffered <= a.cfg.highWater + a.cfg.chunk + 64, `buffered up to ${ab.maxBuffered}`);
  assert.ok(ab.maxBuffered >= a.cfg.highWater, 'the buffer was used');
  const sizes = messages(ab).filter((m) => m.type === 'DATA').map((m) => m.payload.length);
  assert.ok(sizes.every((n) => n <= 16384), 'DATA of 16 KiB at most');
});

test('at most 16 outstanding requests per peer, both ways', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const e = newEngine(clock, origin);
  const out = new FakeLink(clock);
  const got = [];
  out.deliver = (m) => got.push(decode(new Uint8Array(m)));
  const p = e.addLink('x', out);
  e.receive(p, encode({ type: 'HELLO', version: 1, role: 'viewer', flags: 0, uploadKbps: 0, swarm: SWARM, segments: [] }));
  for (let id = 0; id < 17; id++) {
    e.receive(p, encode({ type: 'REQUEST', requestId: id, seq: 5, hash8: '00'.repeat(8), offset: 0, length: 10 }));
  }
  await clock.advance(10);
  const absent = got.filter((m) => m.type === 'ABSENT');
  assert.equal(absent.length, 17);
  assert.ok(absent.every((m) => m.reason === 'not-here'));
  // Requests for the same id twice while outstanding is a protocol error;
  // this needs a segment that is served.
});

test('serving: ABSENT reasons, CANCEL, duplicate request ids', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin, { size: 100_000 });
  const e = newEngine(clock, origin, { keep: 0, highWater: 20_000 });
  e.setEdge(true, 0);
  const info = stream.publish();
  e.setPlaylist(stream.window());
  await clock.advance(100);
  const out = new FakeLink(clock, { bytesPerMs: 10 });
  const got = [];
  out.deliver = (m) => got.push(decode(new Uint8Array(m)));
  const p = e.addLink('x', out);
  const h8 = info.sha256.slice(0, 16);
  e.receive(p, encode({ type: 'HELLO', version: 1, role: 'viewer', flags: 0, uploadKbps: 0, swarm: SWARM, segments: [] }));
  e.receive(p, encode({ type: 'REQUEST', requestId: 1, seq: info.seq, hash8: h8, offset: 99_000, length: 2000 }));
  e.receive(p, encode({ type: 'REQUEST', requestId: 2, seq: info.seq, hash8: 'ff'.repeat(8), offset: 0, length: 10 }));
  e.receive(p, encode({ type: 'REQUEST', requestId: 3, seq: info.seq, hash8: h8, offset: 0, length: 100_000 }));
  e.receive(p, encode({ type: 'CANCEL', requestId: 3 }));
  e.receive(p, encode({ type: 'REQUEST', requestId: 4, seq: info.seq, hash8: h8, offset: 50_000, length: 100 }));
  await clock.advance(20_000);
  const absent = got.filter((m) => m.type === 'ABSENT').map((m) => [m.requestId, m.reason]);
  assert.deepEqual(absent, [
    [1, 'bad-range'],
    [2, 'not-here'],
  ]);
  const data = got.filter((m) => m.type === 'DATA');
  // Request 3 was cancelled after its first chunk went out; request 4 is served whole.
  const r3 = data.filter((m) => m.requestId === 3);
  assert.ok(r3.length < 7, `${r3.length} DATA for the cancelled request`);
  const r4 = data.filter((m) => m.requestId === 4);
  assert.equal(r4.length, 1);
  assert.deepEqual(r4[0].payload, stream.bytes(info).subarray(50_000, 50_100));
  // The segment leaves the engine: then it is evicted.
  stream.publish();
  e.setPlaylist(stream.window().slice(-1));
  await clock.advance(100);
  e.receive(p, encode({ type: 'REQUEST', requestId: 5, seq: info.seq, hash8: h8, offset: 0, length: 1 }));
  e.receive(p, encode({ type: 'REQUEST', requestId: 6, seq: info.seq + 1, hash8: h8, offset: 0, length: 1 }));
  e.receive(p, encode({ type: 'REQUEST', requestId: 6, seq: info.seq + 1, hash8: h8, offset: 0, length: 1 }));
  await clock.advance(100);
  assert.deepEqual(
    got.filter((m) => m.type === 'ABSENT' && m.requestId === 5).map((m) => m.reason),
    ['evicted'],
  );
  // Request 6 got ABSENT at once, so its second use is not a duplicate.
  assert.equal(got.filter((m) => m.type === 'BYE').length, 0);
  e.receive(p, encode({ type: 'REQUEST', requestId: 7, seq: info.seq + 1, hash8: stream.list[1].sha256.slice(0, 16), offset: 0, length: 100_000 }));
  e.receive(p, encode({ type: 'REQUEST', requestId: 7, seq: info.seq + 1, hash8: stream.list[1].sha256.slice(0, 16), offset: 0, length: 1 }));
  await clock.advance(10_000); // the BYE waits behind the DATA already buffered
  const bye = got.find((m) => m.type === 'BYE');
  assert.equal(bye.reason, 'protocol-error');
  assert.equal(bye.text, 'request 7 is outstanding already');
});

test('serving: one request after another, ABSENT busy beyond the serve window', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin, { size: 400_000 });
  const e = newEngine(clock, origin, { highWater: 64 * 1024 }); // the rest waits in the engine
  e.setEdge(true, 0);
  const infos = [];
  for (let i = 0; i < 3; i++) {
    infos.push(stream.publish());
    e.setPlaylist(stream.window());
    await clock.advance(100);
  }
  const wire = []; // [peer, type, requestId] in the order the engine sent them
  const peers = ['x', 'y'].map((name) => {
    const out = new FakeLink(clock, { bytesPerMs: 1000, lowWater: 16 * 1024 });
    const send = out.send.bind(out);
    out.send = (b) => {
      const m = decode(b);
      wire.push([name, m.type, m.requestId, m.reason]);
      send(b);
    };
    out.deliver = () => {};
    const p = e.addLink(name, out);
    out.onLow = () => e.pump();
    e.receive(p, encode({ type: 'HELLO', version: 1, role: 'viewer', flags: 0, uploadKbps: 0, swarm: SWARM, segments: [] }));
    return p;
  });
  const req = (p, id, info) =>
    e.receive(p, encode({ type: 'REQUEST', requestId: id, seq: info.seq, hash8: info.sha256.slice(0, 16), offset: 0, length: info.size }));
  req(peers[0], 1, infos[0]);
  req(peers[1], 1, infos[1]);
  req(peers[1], 2, infos[2]); // 1.2 MB accepted and not sent would exceed 1 MiB
  await clock.advance(5000);
  const data = wire.filter((w) => w[1] === 'DATA').map((w) => w[0]);
  const firstY = data.indexOf('y');
  assert.ok(firstY > 0 && data.slice(0, firstY).every((n) => n === 'x') && data.slice(firstY).every((n) => n === 'y'), 'x first, then y');
  assert.equal(data.length, 2 * Math.ceil(400_000 / 16384));
  assert.deepEqual(
    wire.filter((w) => w[1] === 'ABSENT'),
    [['y', 'ABSENT', 2, 'busy']],
  );
  assert.equal(e.stats().bytesUp, 800_000);
});

test('edge rules: the primary fetches a new segment at once', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin);
  const e = newEngine(clock, origin);
  e.setEdge(true, 0);
  for (let i = 0; i < 3; i++) {
    const info = stream.publish();
    clock.after(0, () => {}); // nothing else due
    const t0 = clock.now();
    e.setPlaylist(stream.window());
    await clock.advance(1);
    assert.deepEqual(origin.log.at(-1), { seq: info.seq, at: t0 });
    await clock.advance(stream.durationMs - 1);
  }
  // The first playlist's older segments were not fetched: the player did not ask.
  assert.equal(origin.total(), 3);
});

test('edge rules: a backup of rank r waits r seconds for a HAVE', async () => {
  for (const rank of [1, 2]) {
    const clock = new FakeClock();
    const origin = new Origin(clock);
    const stream = new Stream(origin);
    const e = newEngine(clock, origin);
    e.setEdge(true, rank);
    stream.publish();
    e.setPlaylist(stream.window()); // the first playlist
    await clock.advance(5000);
    const n0 = origin.total();
    // No peer: HTTP after rank × 1 s, even with a player deadline far away.
    const info = stream.publish();
    const t0 = clock.now();
    e.setPlaylist(stream.window());
    e.get(info, t0 + 20_000);
    await clock.advance(5000);
    assert.equal(origin.total(), n0 + 1);
    assert.equal(origin.log.at(-1).at, t0 + rank * 1000, `rank ${rank}`);
    assert.equal(e.has(info.seq), 'http');
  }
  // With a primary that announces in time, the backup fetches nothing.
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin);
  const primary = newEngine(clock, origin);
  const backup = newEngine(clock, origin);
  primary.setEdge(true, 0);
  backup.setEdge(true, 1);
  connect(clock, primary, backup);
  const player = new Player(backup, stream);
  await run(clock, stream, 4, [backup, primary], [player]);
  checkPlayers([player], 4);
  assert.equal(origin.total(), 4);
});

test('viewer rules: HTTP 1.5 s before the deadline once a player gives one, else one duration after the segment appeared', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin);
  const e = newEngine(clock, origin);
  const old = stream.publish();
  stream.publish();
  e.setPlaylist(stream.window());
  await clock.advance(5000);
  assert.equal(origin.count(old.seq), 0, 'the first playlist: its older segments are not fetched unasked');

  // Asked with a deadline 5 s away: the deadline replaces the wait for
  // peers (one duration, 2 s), later as it is: HTTP 1.5 s before it.
  let info = stream.publish();
  let t0 = clock.now();
  e.setPlaylist(stream.window());
  e.get(info, t0 + 5000);
  await clock.advance(5000);
  assert.deepEqual(
    origin.log.filter((l) => l.seq === info.seq).map((l) => l.at - t0),
    [3500],
  );

  // Asked with a deadline 2.5 s away: HTTP at 1 s.
  info = stream.publish();
  t0 = clock.now();
  e.setPlaylist(stream.window());
  e.get(info, t0 + 2500);
  await clock.advance(5000);
  assert.deepEqual(
    origin.log.filter((l) => l.seq === info.seq).map((l) => l.at - t0),
    [1000],
  );

  // Not asked: HTTP one duration after it appeared.
  info = stream.publish();
  t0 = clock.now();
  e.setPlaylist(stream.window());
  await clock.advance(3000);
  assert.equal(origin.log.at(-1).seq, info.seq);
  assert.equal(origin.log.at(-1).at - t0, 2000);

  // A HAVE before the deadline: no HTTP at all.
  const edge = newEngine(clock, origin);
  edge.setEdge(true, 0);
  edge.setPlaylist(stream.window());
  connect(clock, edge, e);
  await clock.advance(100);
  const before = origin.total();
  info = stream.publish();
  e.setPlaylist(stream.window());
  e.get(info, clock.now() + 5000);
  await clock.advance(500);
  edge.setPlaylist(stream.window()); // the edge sees it later than the viewer
  await clock.advance(5000);
  assert.equal(origin.total(), before + 1, 'only the edge fetched it');
  assert.equal(e.has(info.seq), 'p2p');
});

test('a viewer that joins takes the window from peers, not over HTTP', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin);
  const a = newEngine(clock, origin);
  a.setEdge(true, 0);
  for (let i = 0; i < 6; i++) {
    stream.publish();
    a.setPlaylist(stream.window());
    await clock.advance(stream.durationMs);
  }
  const b = newEngine(clock, origin);
  b.setPlaylist(stream.window());
  connect(clock, a, b);
  await clock.advance(100);
  const n0 = origin.total();
  const player = new Player(b, stream);
  const want = stream.window().slice(-3);
  for (const info of want) player.want(info, clock.now() + 4000);
  await clock.advance(4000);
  checkPlayers([player], 3);
  assert.equal(origin.total(), n0, 'no HTTP');
  assert.equal(b.stats().segmentsP2P, 6, 'the whole window, from the peer');
});

test('a bad HTTP copy is retried; the player never sees it', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin);
  const e = newEngine(clock, origin);
  e.setEdge(true, 0);
  const info = stream.publish();
  origin.corrupt.add(info.seq);
  e.setPlaylist(stream.window());
  const player = new Player(e, stream);
  player.want(info, clock.now() + 5000);
  await clock.advance(2000);
  checkPlayers([player], 1);
  assert.equal(origin.count(info.seq), 2);
  assert.equal(e.stats().httpErrors, 1);
});

test('HELLO timeout, PING and PONG timeout', async () => {
  const clock = new FakeClock();
  const e = newEngine(clock, new Origin(clock));
  const out = new FakeLink(clock);
  const got = [];
  out.deliver = (m) => got.push(decode(new Uint8Array(m)));
  e.addLink('silent', out);
  await clock.advance(11_000);
  assert.equal(got.at(-1).type, 'BYE');
  assert.equal(got.at(-1).reason, 'timeout');

  const out2 = new FakeLink(clock);
  const got2 = [];
  out2.deliver = (m) => got2.push(decode(new Uint8Array(m)));
  const p = e.addLink('mute', out2);
  e.receive(p, encode({ type: 'HELLO', version: 1, role: 'viewer', flags: 0, uploadKbps: 0, swarm: SWARM, segments: [] }));
  await clock.advance(6000);
  const ping = got2.find((m) => m.type === 'PING');
  assert.ok(ping, 'a PING on an idle link within 5 s');
  e.receive(p, encode({ type: 'PONG', nonce: ping.nonce }));
  await clock.advance(6000);
  assert.equal(got2.filter((m) => m.type === 'PING').length, 2);
  await clock.advance(31_000);
  assert.equal(got2.at(-1).type, 'BYE');
  assert.equal(got2.at(-1).text, 'no PONG');
  assert.equal(e.stats().peers, 0);
});

test('STATUS tells peers about a promotion, at most once a second', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const a = newEngine(clock, origin);
  const b = newEngine(clock, origin);
  const { ab, pb } = connect(clock, a, b);
  await clock.advance(10);
  a.setEdge(true, 1);
  a.setEdge(true, 0);
  await clock.advance(10);
  let st = messages(ab).filter((m) => m.type === 'STATUS');
  assert.equal(st.length, 1);
  await clock.advance(1000);
  st = messages(ab).filter((m) => m.type === 'STATUS');
  assert.equal(st.length, 2);
  assert.equal(st[1].flags, 1);
  assert.equal(pb.edge, true);
});

test('a close says BYE closing and fails pending gets', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin);
  const a = newEngine(clock, origin);
  const b = newEngine(clock, origin);
  const { ab } = connect(clock, a, b);
  const info = stream.publish();
  a.setPlaylist(stream.window());
  let err = null;
  a.get(info, clock.now() + 60_000).catch((e) => (err = e));
  a.close();
  a.close();
  await clock.advance(100);
  assert.match(String(err), /dropped|closed/);
  assert.deepEqual(messages(ab).at(-1), { type: 'BYE', reason: 'closing', text: 'engine closed' });
  assert.equal(b.stats().peers, 0);
  await assert.rejects(a.get(info, null), /closed/);
});

test('the engine refuses a bad configuration and bad segment descriptions', () => {
  assert.throws(() => new Engine({ swarm: SWARM }), /fetch/);
  assert.throws(() => new Engine({ swarm: 'x', fetch() {} }), /swarm/);
  const e = new Engine({ swarm: SWARM, fetch() {}, clock: new FakeClock() });
  assert.throws(() => e.setPlaylist([{ seq: 2 ** 32, size: 1, sha256: '00'.repeat(32) }]), /seq/);
  assert.throws(() => e.setPlaylist([{ seq: 1, size: 0, sha256: '00'.repeat(32) }]), /size/);
  assert.throws(() => e.setPlaylist([{ seq: 1, size: 1, sha256: 'XY' }]), /sha256/);
  e.close();
});

test('a verified copy is what the player gets', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin);
  const e = newEngine(clock, origin);
  const info = stream.publish();
  e.setPlaylist(stream.window());
  const got = e.get(info, clock.now() + 1000);
  await clock.advance(1000);
  const { data, source } = await got;
  assert.equal(source, 'http');
  assert.equal(sha256(data), info.sha256);
});

// firstDataTimes records when each link's first DATA is written.
function firstDataTimes(clock, links) {
  const at = links.map(() => null);
  links.forEach((l, i) => {
    const send = l.send.bind(l);
    l.send = (b) => {
      if (at[i] === null && decode(new Uint8Array(b)).type === 'DATA') at[i] = clock.now();
      send(b);
    };
  });
  return at;
}

test('serving: one request at a time; another link only once the last one drained to the low-water mark', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin, { size: 600_000 });
  const a = newEngine(clock, origin, { serveWindow: 2 * 1024 * 1024 });
  a.setEdge(true, 0);
  const info = stream.publish();
  a.setPlaylist(stream.window());
  await clock.advance(100);
  const viewers = [newEngine(clock, origin), newEngine(clock, origin)];
  const links = viewers.map((v, i) => {
    v.setPlaylist(stream.window());
    return connect(clock, a, v, { bytesPerMs: 1000, nameB: `v${i}` }).ab; // 1 MB/s each
  });
  const first = firstDataTimes(clock, links);
  const players = viewers.map((v) => new Player(v, stream));
  players.forEach((p) => p.want(info, clock.now() + 10_000));
  await clock.advance(5000);
  checkPlayers(players, 1);
  const [t1, t2] = [...first].sort((x, y) => x - y);
  // The second link starts once the first holds 256 KiB of its 600 KB:
  // (600,000 − 262,144) bytes at 1 MB/s after the first.
  assert.ok(t2 - t1 >= 330, `second requester's DATA began ${t2 - t1} ms after the first's`);
  assert.equal(a.stats().bytesUp, 2 * 600_000);
});

test('serving: bytes still in the link served last count against the serve window (ABSENT busy)', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin, { size: 600_000 });
  const a = newEngine(clock, origin, { serveWindow: 1024 * 1024 });
  a.setEdge(true, 0);
  const info = stream.publish();
  a.setPlaylist(stream.window());
  await clock.advance(100);
  const v = [newEngine(clock, origin), newEngine(clock, origin)];
  for (const [i, e] of v.entries()) {
    e.setPlaylist(stream.window());
    connect(clock, a, e, { bytesPerMs: 1000, nameB: `v${i}` });
  }
  // Watch what a answers each viewer.
  const absents = [];
  for (const [i, e] of v.entries()) {
    const receive = e.receive.bind(e);
    e.receive = (p, m) => {
      const msg = decode(new Uint8Array(m));
      if (msg.type === 'ABSENT') absents.push({ viewer: i, reason: msg.reason });
      receive(p, m);
    };
  }
  new Player(v[0], stream).want(info, clock.now() + 10_000);
  await clock.advance(20); // v0's request is accepted and written whole into its link
  new Player(v[1], stream).want(info, clock.now() + 10_000);
  await clock.advance(50);
  // 600 KB in v0's link + 600 KB asked > 1 MiB: busy, though nothing is
  // left to write for v0.
  assert.deepEqual(absents, [{ viewer: 1, reason: 'busy' }]);
});

test('edge rules: with a relay among its peers the primary waits one stagger for it', async () => {
  const clock = new FakeClock();
  const origin = new Origin(clock);
  const stream = new Stream(origin);
  // The relay stands for the multicast feed: it has each segment at once.
  const relay = newEngine(clock, origin, { role: 'relay' });
  relay.setEdge(true, 0);
  const primary = newEngine(clock, origin);
  primary.setEdge(true, 0);
  connect(clock, relay, primary);
  await clock.advance(10);
  const player = new Player(primary, stream);
  await run(clock, stream, 4, [relay, primary], [player]);
  checkPlayers([player], 4);
  // One copy per segment (the relay's): the primary took everything from it.
  assert.equal(origin.total(), 4);
  assert.ok(primary.stats().bytesRelay > 0, 'bytes counted as from the relay');
  // A relay that has nothing: the primary fetches one stagger (1 s) later.
  const quiet = newEngine(clock, origin, { role: 'relay', noUpload: true });
  const lone = newEngine(clock, origin);
  lone.setEdge(true, 0);
  connect(clock, quiet, lone);
  await clock.advance(10);
  lone.setPlaylist(stream.window());
  await clock.advance(5000);
  const info = stream.publish();
  const t0 = clock.now();
  lone.setPlaylist(stream.window());
  await clock.advance(3000);
  const fetched = origin.log.filter((l) => l.seq === info.seq).map((l) => l.at - t0);
  assert.deepEqual(fetched, [1000]);
});
