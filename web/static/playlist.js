// fusioncast playlist helpers: what the peer engine and the player need
// from HLS media playlists (docs/hls.md), without hls.js.

// MAX_SEQ is the largest media sequence number fusioncast/1 carries
// (docs/protocol.md, "Conventions"): streams beyond it are fetched over
// HTTP only.
export const MAX_SEQ = 0xffffffff;

// parseSegmentTag reads the attributes of an EXT-X-FUSIONCAST-SEGMENT tag
// (docs/hls.md): {size, sha256}, each null when absent or malformed.
export function parseSegmentTag(attrs) {
  const size = /(?:^|,)SIZE=(\d+)/.exec(attrs);
  const sum = /(?:^|,)SHA256="([0-9a-fA-F]{64})"/.exec(attrs);
  return {
    size: size ? Number(size[1]) : null,
    sha256: sum ? sum[1].toLowerCase() : null,
  };
}

// parsePlaylist reads what the engine needs from the text of a media
// playlist: the segments that carry an EXT-X-FUSIONCAST-SEGMENT tag, as
// {seq, size, sha256, url, durationMs}, oldest first; the target duration;
// and the last sequence number (to check against MAX_SEQ).
export function parsePlaylist(text, baseURL) {
  const lines = text.split(/\r?\n/);
  if (lines[0].trim() !== '#EXTM3U') throw new Error('not an HLS playlist');
  const window = [];
  let seq = 0;
  let targetMs = 0;
  let tag = null;
  let durationMs = 0;
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const colon = line.indexOf(':');
      const name = colon < 0 ? line.slice(1) : line.slice(1, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1);
      if (name === 'EXT-X-MEDIA-SEQUENCE') seq = Number(value);
      else if (name === 'EXT-X-TARGETDURATION') targetMs = Number(value) * 1000;
      else if (name === 'EXT-X-FUSIONCAST-SEGMENT') tag = parseSegmentTag(value);
      else if (name === 'EXTINF') durationMs = Math.round(parseFloat(value) * 1000) || 0;
      continue;
    }
    if (tag && tag.size > 0 && tag.sha256 && Number.isInteger(seq) && seq <= MAX_SEQ) {
      window.push({ seq, size: tag.size, sha256: tag.sha256, url: new URL(line, baseURL).href, durationMs });
    }
    seq++;
    tag = null;
    durationMs = 0;
  }
  return { window, targetMs, lastSeq: seq - 1 };
}

// discontinuityRebaser returns a function that rewrites a playlist's
// EXT-X-DISCONTINUITY-SEQUENCE to its value minus the first value it saw
// (or minus a smaller one seen later, after a restart of the stream).
//
// Why: hls.js 1.7.4 walks an array indexed by discontinuity sequence number
// on every playlist load (stream-controller, initPTS.some). The demo's
// clock-derived EXT-X-DISCONTINUITY-SEQUENCE is about 6 × 10^7, which makes
// that walk cost about a second of main-thread CPU per reload. Subtracting a
// constant keeps the differences hls.js relies on.
export function discontinuityRebaser() {
  let base = null;
  return (text) =>
    text.replace(/^#EXT-X-DISCONTINUITY-SEQUENCE:(\d+)([ \t]*\r?)$/m, (line, n, rest) => {
      const v = Number(n);
      if (!Number.isSafeInteger(v)) return line;
      if (base === null || v < base) base = v;
      return `#EXT-X-DISCONTINUITY-SEQUENCE:${v - base}${rest}`;
    });
}
