// Tests of web/static/proto.js against testdata/protocol/vectors.json, the
// contract it shares with the Go codec (peer/proto). Run with
//
//   node --test web/proto.test.mjs
//
// or through `go test ./peer/proto` (TestJavaScript), which also hands over
// a second file of inputs with the Go codec's verdicts in
// FUSIONCAST_PROTO_EXTRA_VECTORS. This file lives outside web/static so
// that it is not embedded in the binary and served with the page.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  decode,
  encode,
  ProtoError,
  LABEL,
  VERSION,
  MAX_PAYLOAD,
  MAX_MESSAGE_LEN,
  TYPES,
  FLAG_EDGE,
} from './static/proto.js';

const VECTORS = new URL('../testdata/protocol/vectors.json', import.meta.url);

function readVectors(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function fromHex(s) {
  assert.match(s, /^([0-9a-f]{2})*$/, 'hex');
  const b = new Uint8Array(s.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return b;
}

function toHex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// withRepeat returns the bytes of hex followed by the repeat, if any.
function withRepeat(hex, rep) {
  const head = fromHex(hex);
  if (!rep) return head;
  const b = new Uint8Array(head.length + rep.count);
  b.set(head);
  b.fill(rep.byte, head.length);
  return b;
}

// expected turns a vector's message into what decode returns: DATA payloads
// as Uint8Array.
function expected(m) {
  if (m.type !== 'DATA') return m;
  const { payloadRepeat, ...rest } = m;
  return { ...rest, payload: withRepeat(m.payload, payloadRepeat) };
}

// checkFile checks every vector of a file in both directions and returns
// the number of vectors.
function checkFile(path) {
  const f = readVectors(path);
  for (const v of f.valid) {
    const bytes = withRepeat(v.hex, v.repeat);
    const want = expected(v.message);
    let got;
    try {
      got = decode(bytes);
    } catch (err) {
      assert.fail(`${v.name}: decode threw ${err.message}`);
    }
    assert.deepStrictEqual(got, want, `${v.name}: decode`);
    const out = encode(want);
    assert.ok(out instanceof Uint8Array, `${v.name}: encode returns a Uint8Array`);
    assert.equal(toHex(out), toHex(bytes), `${v.name}: encode`);
  }
  for (const v of f.invalid) {
    const bytes = withRepeat(v.hex, v.repeat);
    assert.throws(
      () => decode(bytes),
      (err) => {
        assert.ok(err instanceof ProtoError, `${v.name}: ${err}`);
        assert.equal(err.message, v.error, v.name);
        const unknown = v.error.startsWith('proto: unknown message type');
        assert.equal(err.unknownType, unknown, `${v.name}: unknownType`);
        return true;
      },
      v.name,
    );
  }
  return f.valid.length + f.invalid.length;
}

test('vectors.json', () => {
  const f = readVectors(VECTORS);
  assert.equal(f.protocol, LABEL);
  assert.equal(f.version, VERSION);
  const types = new Set(f.valid.map((v) => v.message.type));
  assert.deepEqual([...types].sort(), Object.keys(TYPES).sort(), 'a valid vector of every type');
  const n = checkFile(VECTORS);
  assert.ok(n > 100, `${n} vectors`);
});

test('vectors from the Go codec (FUSIONCAST_PROTO_EXTRA_VECTORS)', (t) => {
  const path = process.env.FUSIONCAST_PROTO_EXTRA_VECTORS;
  if (!path) {
    t.skip('not run by go test');
    return;
  }
  const n = checkFile(path);
  t.diagnostic(`${n} vectors`);
});

test('DATA payload is a view of the input', () => {
  const buf = new Uint8Array([0xee, 0x04, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 0xee]);
  const msg = decode(buf.subarray(1, 13));
  assert.equal(msg.payload.buffer, buf.buffer);
  assert.equal(msg.payload.byteOffset, 10);
  assert.deepEqual([...msg.payload], [1, 2, 3]);
  // An ArrayBuffer is read as a whole.
  const ab = buf.slice(1, 13).buffer;
  const want = { type: 'DATA', requestId: 1, offset: 0, payload: new Uint8Array([1, 2, 3]) };
  assert.deepEqual(decode(ab), want);
  assert.throws(() => decode('04'), TypeError);
});

test('largest message', () => {
  const msg = { type: 'DATA', requestId: 1, offset: 0, payload: new Uint8Array(MAX_PAYLOAD) };
  assert.equal(encode(msg).length, MAX_MESSAGE_LEN);
});

const hash8 = '2c44d8fe4c9b965d';
const swarm = '667573696f6e636173742d64656d6f2d30303031';
const hello = {
  type: 'HELLO',
  version: 1,
  role: 'viewer',
  flags: FLAG_EDGE,
  uploadKbps: 0,
  swarm,
  segments: [],
};
const segs = (...seqs) => seqs.map((seq) => ({ seq, size: 1, hash8 }));
const req = (offset, length) => ({ type: 'REQUEST', requestId: 1, seq: 1, hash8, offset, length });
const data = (offset, n) => ({ type: 'DATA', requestId: 1, offset, payload: new Uint8Array(n) });

test('encode rejects what decode would reject, with the same text', () => {
  for (const [msg, text] of [
    [{ ...hello, version: 0 }, 'proto: HELLO version 0'],
    [{ ...hello, role: 'seeder' }, 'proto: unknown role'],
    [{ ...hello, segments: segs(...Array(65).keys()) }, 'proto: HELLO with more than 64 segments'],
    [{ ...hello, segments: [{ seq: 1, size: 0, hash8 }] }, 'proto: segment size 0'],
    [{ ...hello, segments: segs(2, 2) }, 'proto: HELLO segments not in ascending order'],
    [{ type: 'HAVE', seq: 1, size: 0, hash8 }, 'proto: segment size 0'],
    [req(0, 0), 'proto: REQUEST length 0'],
    [req(1, 0xffffffff), 'proto: REQUEST offset+length over 4294967295'],
    [data(0, MAX_PAYLOAD + 1), 'proto: DATA payload over 65536 bytes'],
    [data(0xffffffff, 1), 'proto: DATA offset+length over 4294967295'],
    [{ type: 'ABSENT', requestId: 1, reason: 'gone' }, 'proto: unknown ABSENT reason'],
    [{ type: 'BYE', reason: 'bored', text: '' }, 'proto: unknown BYE reason'],
    [{ type: 'BYE', reason: 'closing', text: 'é'.repeat(62) }, 'proto: BYE text over 123 bytes'],
    [{ type: 'BYE', reason: 'closing', text: 'a\uD800b' }, 'proto: BYE text not UTF-8'],
    [{ type: 'BYE', reason: 'closing', text: '\uDC00' }, 'proto: BYE text not UTF-8'],
  ]) {
    assert.throws(() => encode(msg), { name: 'ProtoError', message: text }, text);
  }
});

test('encode names fields of the wrong kind', () => {
  for (const [msg, text] of [
    [null, 'proto: message is not an object'],
    [{ type: 'NOPE' }, 'proto: unknown message type NOPE'],
    [{ type: 'PING' }, 'proto: nonce is not a uint32'],
    [{ type: 'PING', nonce: -1 }, 'proto: nonce is not a uint32'],
    [{ type: 'PING', nonce: 2 ** 32 }, 'proto: nonce is not a uint32'],
    [{ type: 'PING', nonce: 1.5 }, 'proto: nonce is not a uint32'],
    [{ type: 'PING', nonce: '1' }, 'proto: nonce is not a uint32'],
    [{ type: 'STATUS', flags: 256, uploadKbps: 0 }, 'proto: flags is not a uint8'],
    [{ type: 'HAVE', seq: 1, size: 1, hash8: hash8.toUpperCase() }, 'proto: hash8 is not 16 hex digits'],
    [{ type: 'HAVE', seq: 1, size: 1, hash8: hash8 + '00' }, 'proto: hash8 is not 16 hex digits'],
    [{ ...hello, swarm: 'fusioncast-demo-0001' }, 'proto: swarm is not 40 hex digits'],
    [{ ...hello, segments: {} }, 'proto: segments is not an array'],
    [{ ...hello, segments: [7] }, 'proto: segment is not an object'],
    [{ ...data(0, 0), payload: [1, 2] }, 'proto: payload is not a Uint8Array'],
    [{ type: 'BYE', reason: 'closing', text: 7 }, 'proto: text is not a string'],
  ]) {
    assert.throws(() => encode(msg), { name: 'ProtoError', message: text }, text);
  }
  // A BYE without text has an empty one; a surrogate pair is fine.
  assert.deepEqual([...encode({ type: 'BYE', reason: 'timeout' })], [7, 7]);
  assert.equal(decode(encode({ type: 'BYE', reason: 'closing', text: '👋' })).text, '👋');
});

// A small deterministic generator (xorshift32), so that failures repeat.
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

test('mutated vectors: decode throws only ProtoError, and what decodes re-encodes', () => {
  const f = readVectors(VECTORS);
  const next = rng(20260101);
  const inputs = [...f.valid, ...f.invalid]
    .map((v) => withRepeat(v.hex, v.repeat))
    .filter((b) => b.length <= 4096);
  let decoded = 0;
  for (let round = 0; round < 20000; round++) {
    const b = Uint8Array.from(inputs[next() % inputs.length]);
    let m = b;
    switch (next() % 3) {
      case 0:
        if (b.length > 0) b[next() % b.length] = next() & 0xff;
        break;
      case 1:
        m = b.subarray(0, next() % (b.length + 1));
        break;
      default:
        m = new Uint8Array(b.length + 1);
        m.set(b);
        m[b.length] = next() & 0xff;
    }
    let msg;
    try {
      msg = decode(m);
    } catch (err) {
      assert.ok(err instanceof ProtoError, `decode(${toHex(m)}): ${err}`);
      assert.match(err.message, /^proto: /);
      continue;
    }
    decoded++;
    assert.equal(toHex(encode(msg)), toHex(m), `decode(${toHex(m)}) does not re-encode`);
  }
  assert.ok(decoded > 1000, `${decoded} decoded`);
});
