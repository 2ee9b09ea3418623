// Tests of web/static/playlist.js. Run with `node --test web/`, or through
// `go test ./web`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePlaylist, parseSegmentTag, discontinuityRebaser, MAX_SEQ } from './static/playlist.js';

const SUM = '2c44d8fe4c9b965d449c9ff3be57f58628dc1aac248d4e3c73d7c4a7cbc83d08';

const PLAYLIST = `#EXTM3U
#EXT-X-VERSION:3
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:897818139
#EXT-X-DISCONTINUITY-SEQUENCE:59854543
#EXT-X-PROGRAM-DATE-TIME:2026-11-25T19:51:18.000Z
#EXT-X-FUSIONCAST-SEGMENT:SIZE=161868,SHA256="${SUM}"
#EXTINF:2.000,
897818139-2c44d8fe4c9b965d.ts
#EXTINF:2.000,
897818140-no-tag.ts
#EXT-X-DISCONTINUITY
#EXT-X-FUSIONCAST-SEGMENT:SIZE=100,SHA256="${SUM.toUpperCase()}",LATER=1
#EXTINF:1.960,
https://cdn.example/897818141.ts
`;

test('parsePlaylist reads the segments that carry a fusioncast tag', () => {
  const pl = parsePlaylist(PLAYLIST, 'http://127.0.0.1:8080/live/demo/index.m3u8');
  assert.equal(pl.targetMs, 2000);
  assert.equal(pl.lastSeq, 897818141);
  assert.deepEqual(pl.window, [
    { seq: 897818139, size: 161868, sha256: SUM, url: 'http://127.0.0.1:8080/live/demo/897818139-2c44d8fe4c9b965d.ts', durationMs: 2000 },
    { seq: 897818141, size: 100, sha256: SUM, url: 'https://cdn.example/897818141.ts', durationMs: 1960 },
  ]);
  const crlf = parsePlaylist(PLAYLIST.replaceAll('\n', '\r\n'), 'http://h/x/y.m3u8');
  assert.equal(crlf.window.length, 2);
  assert.throws(() => parsePlaylist('<html>', 'http://h/'), /not an HLS playlist/);
});

test('sequence numbers beyond 2^32 are left out', () => {
  const pl = parsePlaylist(PLAYLIST.replace('897818139', String(MAX_SEQ)), 'http://h/p.m3u8');
  assert.equal(pl.lastSeq, MAX_SEQ + 2);
  assert.deepEqual(pl.window.map((s) => s.seq), [MAX_SEQ]);
});

test('parseSegmentTag', () => {
  assert.deepEqual(parseSegmentTag(`SIZE=5,SHA256="${SUM}"`), { size: 5, sha256: SUM });
  assert.deepEqual(parseSegmentTag('SIZE=x'), { size: null, sha256: null });
  assert.deepEqual(parseSegmentTag(`XSIZE=5,SHA256="${SUM.slice(1)}"`), { size: null, sha256: null });
});

test('discontinuityRebaser keeps differences and makes the numbers small', () => {
  const rebase = discontinuityRebaser();
  const one = rebase(PLAYLIST);
  assert.match(one, /^#EXT-X-DISCONTINUITY-SEQUENCE:0$/m);
  assert.equal(one.replace(/^#EXT-X-DISCONTINUITY-SEQUENCE:.*$/m, ''), PLAYLIST.replace(/^#EXT-X-DISCONTINUITY-SEQUENCE:.*$/m, ''));
  const two = rebase(PLAYLIST.replace('59854543', '59854545'));
  assert.match(two, /^#EXT-X-DISCONTINUITY-SEQUENCE:2$/m);
  assert.match(rebase('#EXTM3U\r\n#EXT-X-DISCONTINUITY-SEQUENCE:59854546\r\n'), /^#EXT-X-DISCONTINUITY-SEQUENCE:3\r$/m);
  // A restart that goes back starts again from 0.
  assert.match(rebase(PLAYLIST.replace('59854543', '7')), /^#EXT-X-DISCONTINUITY-SEQUENCE:0$/m);
  const none = '#EXTM3U\n#EXTINF:2,\na.ts\n';
  assert.equal(rebase(none), none);
});
