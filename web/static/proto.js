// fusioncast peer wire protocol "fusioncast/1": the binary messages viewers
// and relay agents exchange over a WebRTC data channel to share segments.
// docs/protocol.md is the specification. This module is the browser's codec;
// the Go codec is package fusioncast/peer/proto. Both are tested against
// testdata/protocol/vectors.json and use the same field names and error
// texts.
//
//   import { decode, encode, ProtoError } from './proto.js';
//   channel.binaryType = 'arraybuffer';
//   channel.onmessage = (ev) => {
//     let msg;
//     try {
//       msg = decode(new Uint8Array(ev.data));
//     } catch (err) {
//       // A message of a later version: ignore it.
//       if (err instanceof ProtoError && err.unknownType) return;
//       throw err; // close with BYE protocol-error
//     }
//     ...
//   };
//   channel.send(encode({ type: 'PING', nonce: 7 }));
//
// Messages are plain objects with a `type` ('HELLO', 'HAVE', 'REQUEST',
// 'DATA', 'CANCEL', 'ABSENT', 'BYE', 'PING', 'PONG', 'STATUS') and the fields
// of that type:
//
//   HELLO    version, role ('viewer'|'relay'), flags, uploadKbps, swarm (40 hex
//            digits), segments: [{ seq, size, hash8 }]
//   HAVE     seq, size, hash8
//   REQUEST  requestId, seq, hash8, offset, length
//   DATA     requestId, offset, payload (Uint8Array)
//   CANCEL   requestId
//   ABSENT   requestId, reason ('not-here'|'evicted'|'busy'|'bad-range')
//   BYE      reason ('closing'|'protocol-error'|'bad-data'|'unsupported-version'|
//            'wrong-swarm'|'overloaded'|'pruned'|'timeout'), text
//   PING     nonce
//   PONG     nonce
//   STATUS   flags, uploadKbps
//
// Numbers are unsigned 32-bit integers (version and flags: 8-bit); hash8 is
// the first 8 bytes of the segment's SHA-256 as 16 lower-case hex digits,
// the {hash16} of its URL.

export const LABEL = 'fusioncast/1';
export const VERSION = 1;

export const MAX_PAYLOAD = 65536;
export const DATA_HEADER_LEN = 9;
export const MAX_MESSAGE_LEN = DATA_HEADER_LEN + MAX_PAYLOAD;
export const MAX_HELLO_SEGMENTS = 64;
export const MAX_BYE_TEXT = 123;
export const MAX_OUTSTANDING = 16;
export const MAX_RANGE_END = 0xffffffff;

export const FLAG_EDGE = 1 << 0;
export const FLAG_NO_UPLOAD = 1 << 1;

// Type bytes, by name.
export const TYPES = Object.freeze({
  HELLO: 0x01,
  HAVE: 0x02,
  REQUEST: 0x03,
  DATA: 0x04,
  CANCEL: 0x05,
  ABSENT: 0x06,
  BYE: 0x07,
  PING: 0x08,
  PONG: 0x09,
  STATUS: 0x0a,
});

const TYPE_NAMES = [];
for (const [name, code] of Object.entries(TYPES)) TYPE_NAMES[code] = name;

export const ROLES = Object.freeze(['viewer', 'relay']);
export const ABSENT_REASONS = Object.freeze(['not-here', 'evicted', 'busy', 'bad-range']);
export const BYE_REASONS = Object.freeze([
  'closing',
  'protocol-error',
  'bad-data',
  'unsupported-version',
  'wrong-swarm',
  'overloaded',
  'pruned',
  'timeout',
]);

const HELLO_HEADER_LEN = 29;
const ENTRY_LEN = 16;

// ProtoError is what decode and encode throw for a message that breaks the
// protocol. `message` is one of the texts listed in docs/protocol.md,
// "Errors" ("proto: short message"); `unknownType` is true when the type
// byte is not one of fusioncast/1 — such a message is to be ignored.
export class ProtoError extends Error {
  constructor(message, unknownType = false) {
    super(message);
    this.name = 'ProtoError';
    this.unknownType = unknownType;
  }
}

function fail(text) {
  throw new ProtoError('proto: ' + text);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function toHex(b, start, end) {
  let s = '';
  for (let i = start; i < end; i++) s += HEX[b[i]];
  return s;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

// --- decode -------------------------------------------------------------

// decode reads one data channel message (a Uint8Array, or an ArrayBuffer as
// a channel with binaryType 'arraybuffer' delivers it). A DATA payload is a
// view of the input, not a copy. Throws ProtoError; when a message breaks
// several rules the error is the first of: empty input, unknown type,
// shorter than the type's fixed part, the fields in wire order, the length
// of the variable part, the HELLO entries in order.
export function decode(input) {
  const b = input instanceof ArrayBuffer ? new Uint8Array(input) : input;
  if (!(b instanceof Uint8Array)) {
    throw new TypeError('decode: want a Uint8Array or an ArrayBuffer');
  }
  if (b.length === 0) fail('short message');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const type = b[0];
  switch (type) {
    case TYPES.HELLO:
      return decodeHello(b, v);
    case TYPES.HAVE: {
      fixedLen(b, 17);
      const size = v.getUint32(5);
      if (size === 0) fail('segment size 0');
      return { type: 'HAVE', seq: v.getUint32(1), size, hash8: toHex(b, 9, 17) };
    }
    case TYPES.REQUEST: {
      fixedLen(b, 25);
      const offset = v.getUint32(17);
      const length = v.getUint32(21);
      if (length === 0) fail('REQUEST length 0');
      if (offset + length > MAX_RANGE_END) fail('REQUEST offset+length over 4294967295');
      return {
        type: 'REQUEST',
        requestId: v.getUint32(1),
        seq: v.getUint32(5),
        hash8: toHex(b, 9, 17),
        offset,
        length,
      };
    }
    case TYPES.DATA: {
      if (b.length < DATA_HEADER_LEN) fail('short message');
      const n = b.length - DATA_HEADER_LEN;
      if (n > MAX_PAYLOAD) fail('DATA payload over 65536 bytes');
      const offset = v.getUint32(5);
      if (offset + n > MAX_RANGE_END) fail('DATA offset+length over 4294967295');
      const payload = b.subarray(DATA_HEADER_LEN);
      return { type: 'DATA', requestId: v.getUint32(1), offset, payload };
    }
    case TYPES.CANCEL:
      fixedLen(b, 5);
      return { type: 'CANCEL', requestId: v.getUint32(1) };
    case TYPES.ABSENT: {
      fixedLen(b, 6);
      const reason = ABSENT_REASONS[b[5]];
      if (reason === undefined) fail('unknown ABSENT reason');
      return { type: 'ABSENT', requestId: v.getUint32(1), reason };
    }
    case TYPES.BYE: {
      if (b.length < 2) fail('short message');
      const reason = BYE_REASONS[b[1]];
      if (reason === undefined) fail('unknown BYE reason');
      if (b.length - 2 > MAX_BYE_TEXT) fail('BYE text over 123 bytes');
      let text;
      try {
        text = utf8Decoder.decode(b.subarray(2));
      } catch {
        fail('BYE text not UTF-8');
      }
      return { type: 'BYE', reason, text };
    }
    case TYPES.PING:
    case TYPES.PONG:
      fixedLen(b, 5);
      return { type: TYPE_NAMES[type], nonce: v.getUint32(1) };
    case TYPES.STATUS:
      fixedLen(b, 6);
      return { type: 'STATUS', flags: b[1], uploadKbps: v.getUint32(2) };
  }
  throw new ProtoError('proto: unknown message type 0x' + HEX[type], true);
}

function fixedLen(b, n) {
  if (b.length < n) fail('short message');
  if (b.length > n) fail('trailing bytes');
}

function decodeHello(b, v) {
  if (b.length < HELLO_HEADER_LEN) fail('short message');
  const version = b[1];
  if (version === 0) fail('HELLO version 0');
  const role = ROLES[b[2]];
  if (role === undefined) fail('unknown role');
  const count = b[28];
  if (count > MAX_HELLO_SEGMENTS) fail('HELLO with more than 64 segments');
  fixedLen(b, HELLO_HEADER_LEN + count * ENTRY_LEN);
  const segments = [];
  let prev = -1;
  for (let i = 0, o = HELLO_HEADER_LEN; i < count; i++, o += ENTRY_LEN) {
    const seq = v.getUint32(o);
    const size = v.getUint32(o + 4);
    if (size === 0) fail('segment size 0');
    if (seq <= prev) fail('HELLO segments not in ascending order');
    prev = seq;
    segments.push({ seq, size, hash8: toHex(b, o + 8, o + 16) });
  }
  return {
    type: 'HELLO',
    version,
    role,
    flags: b[3],
    uploadKbps: v.getUint32(4),
    swarm: toHex(b, 8, 28),
    segments,
  };
}

// --- encode -------------------------------------------------------------

// encode returns the bytes of msg. It checks msg first and throws
// ProtoError with the text decode would throw for the result ("proto: DATA
// payload over 65536 bytes"), or, for a field of the wrong kind, a text that
// names the field ("proto: seq is not a uint32", "proto: hash8 is not 16 hex
// digits"). A DATA payload is copied into the result.
export function encode(msg) {
  if (msg === null || typeof msg !== 'object') fail('message is not an object');
  switch (msg.type) {
    case 'HELLO':
      return encodeHello(msg);
    case 'HAVE': {
      const size = u32(msg, 'size');
      if (size === 0) fail('segment size 0');
      const [b, v] = alloc(TYPES.HAVE, 17);
      v.setUint32(1, u32(msg, 'seq'));
      v.setUint32(5, size);
      putHex(b, 9, msg.hash8, 8, 'hash8');
      return b;
    }
    case 'REQUEST': {
      const offset = u32(msg, 'offset');
      const length = u32(msg, 'length');
      if (length === 0) fail('REQUEST length 0');
      if (offset + length > MAX_RANGE_END) fail('REQUEST offset+length over 4294967295');
      const [b, v] = alloc(TYPES.REQUEST, 25);
      v.setUint32(1, u32(msg, 'requestId'));
      v.setUint32(5, u32(msg, 'seq'));
      putHex(b, 9, msg.hash8, 8, 'hash8');
      v.setUint32(17, offset);
      v.setUint32(21, length);
      return b;
    }
    case 'DATA': {
      const p = msg.payload;
      if (!(p instanceof Uint8Array)) fail('payload is not a Uint8Array');
      if (p.length > MAX_PAYLOAD) fail('DATA payload over 65536 bytes');
      const offset = u32(msg, 'offset');
      if (offset + p.length > MAX_RANGE_END) fail('DATA offset+length over 4294967295');
      const [b, v] = alloc(TYPES.DATA, DATA_HEADER_LEN + p.length);
      v.setUint32(1, u32(msg, 'requestId'));
      v.setUint32(5, offset);
      b.set(p, DATA_HEADER_LEN);
      return b;
    }
    case 'CANCEL': {
      const [b, v] = alloc(TYPES.CANCEL, 5);
      v.setUint32(1, u32(msg, 'requestId'));
      return b;
    }
    case 'ABSENT': {
      const reason = ABSENT_REASONS.indexOf(msg.reason);
      if (reason < 0) fail('unknown ABSENT reason');
      const [b, v] = alloc(TYPES.ABSENT, 6);
      v.setUint32(1, u32(msg, 'requestId'));
      b[5] = reason;
      return b;
    }
    case 'BYE': {
      const reason = BYE_REASONS.indexOf(msg.reason);
      if (reason < 0) fail('unknown BYE reason');
      const text = msg.text ?? '';
      if (typeof text !== 'string') fail('text is not a string');
      // Lone surrogates have no UTF-8 form (TextEncoder would replace them).
      if (/[\uD800-\uDFFF]/u.test(text)) fail('BYE text not UTF-8');
      const t = utf8Encoder.encode(text);
      if (t.length > MAX_BYE_TEXT) fail('BYE text over 123 bytes');
      const [b] = alloc(TYPES.BYE, 2 + t.length);
      b[1] = reason;
      b.set(t, 2);
      return b;
    }
    case 'PING':
    case 'PONG': {
      const [b, v] = alloc(TYPES[msg.type], 5);
      v.setUint32(1, u32(msg, 'nonce'));
      return b;
    }
    case 'STATUS': {
      const [b, v] = alloc(TYPES.STATUS, 6);
      b[1] = u8(msg, 'flags');
      v.setUint32(2, u32(msg, 'uploadKbps'));
      return b;
    }
  }
  fail('unknown message type ' + String(msg.type));
}

function encodeHello(msg) {
  const version = u8(msg, 'version');
  if (version === 0) fail('HELLO version 0');
  const role = ROLES.indexOf(msg.role);
  if (role < 0) fail('unknown role');
  const segs = msg.segments ?? [];
  if (!Array.isArray(segs)) fail('segments is not an array');
  if (segs.length > MAX_HELLO_SEGMENTS) fail('HELLO with more than 64 segments');
  const [b, v] = alloc(TYPES.HELLO, HELLO_HEADER_LEN + segs.length * ENTRY_LEN);
  b[1] = version;
  b[2] = role;
  b[3] = u8(msg, 'flags');
  v.setUint32(4, u32(msg, 'uploadKbps'));
  putHex(b, 8, msg.swarm, 20, 'swarm');
  b[28] = segs.length;
  let prev = -1;
  segs.forEach((s, i) => {
    if (s === null || typeof s !== 'object') fail('segment is not an object');
    const o = HELLO_HEADER_LEN + i * ENTRY_LEN;
    const seq = u32(s, 'seq');
    const size = u32(s, 'size');
    if (size === 0) fail('segment size 0');
    if (seq <= prev) fail('HELLO segments not in ascending order');
    prev = seq;
    v.setUint32(o, seq);
    v.setUint32(o + 4, size);
    putHex(b, o + 8, s.hash8, 8, 'hash8');
  });
  return b;
}

function alloc(type, n) {
  const b = new Uint8Array(n);
  b[0] = type;
  return [b, new DataView(b.buffer)];
}

function u32(obj, key) {
  const x = obj[key];
  if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) fail(key + ' is not a uint32');
  return x;
}

function u8(obj, key) {
  const x = obj[key];
  if (!Number.isInteger(x) || x < 0 || x > 0xff) fail(key + ' is not a uint8');
  return x;
}

const HEX_DIGITS = /^[0-9a-f]*$/;

// putHex writes n bytes given as 2n lower-case hex digits.
function putHex(b, at, s, n, key) {
  if (typeof s !== 'string' || s.length !== 2 * n || !HEX_DIGITS.test(s)) {
    fail(`${key} is not ${2 * n} hex digits`);
  }
  for (let i = 0; i < n; i++) b[at + i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
}
