// fusioncast player: plays a live HLS stream with hls.js, verifies every
// segment against the SHA-256 the origin publishes in the playlist, and keeps
// playback statistics in window.fusioncastStats for people (the overlay) and
// for automated browser tests.
//
// Query parameters:
//   ?stream=NAME    play /live/NAME/index.m3u8 (default "demo")
//   ?src=URL        play this playlist instead (absolute or relative URL); the
//                   swarm is still the one of ?stream= when that is given
//   ?tracker=URL    share segments with the other viewers of the stream, who
//                   meet through this tracker (ws:// or wss://); without it
//                   the page fetches everything over HTTP
//   ?debug=1        log the peer engine's details to the console
//
// With a tracker, hls.js asks the peer engine (p2p.js, peer.js) for each
// segment before any HTTP request: see fusioncastLoader below and
// docs/browser-peer.md.
//
// Each segment in a fusioncast playlist is preceded by
//   #EXT-X-FUSIONCAST-SEGMENT:SIZE=<bytes>,SHA256="<64 hex digits>"
// hls.js ignores the tag but keeps it in frag.tagList as
//   ['EXT-X-FUSIONCAST-SEGMENT', 'SIZE=...,SHA256="..."'].

import { startP2P } from './p2p.js';
import { parseSegmentTag, discontinuityRebaser, MAX_SEQ } from './playlist.js';

const SEGMENT_TAG = 'EXT-X-FUSIONCAST-SEGMENT';
const STREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const UPDATE_MS = 500;
// Before playback starts, a segment the player asks for is due this long
// after the request: peers get STARTUP_MS minus the engine's 1.5 s HTTP
// margin to deliver it.
const STARTUP_MS = 2500;

// Playback statistics, updated in place; read them with
// JSON.stringify(window.fusioncastStats).
const stats = {
  stream: '',
  src: '',
  bytes: { http: 0, p2p: 0, relay: 0 },
  bufferSec: 0, // buffered media ahead of currentTime
  latencySec: null, // behind the live edge of the playlist; null for VOD or before start
  wallLatencySec: null, // behind the wall clock, from EXT-X-PROGRAM-DATE-TIME; null without it
  stalls: 0,
  currentTime: 0,
  segments: 0, // fragments loaded
  playing: false,
  errors: 0, // hls.js errors other than stalls
  mediaErrors: 0, // hls.js errors in demuxing or decoding (corrupt data would show here)
  fatalErrors: 0,
  lastError: '',
  verified: 0, // segments whose SHA-256 matched the playlist
  verifyFailures: 0, // segments whose size or SHA-256 did not match
  unverified: 0, // segments without a fusioncast tag, or no WebCrypto available
  // Peer to peer (zero and off without a tracker):
  peers: 0, // open peer connections
  uploaded: 0, // segment bytes sent to peers
  edge: false, // the tracker named this viewer an edge fetcher
  edgeRank: null, // its rank (0: primary), when it is one
  p2p: {
    tracker: '', // the tracker's URL
    state: 'off', // off, connecting, connected, closed, unavailable
    peerId: '', // this viewer's peer_id, hex
    swarm: '', // the swarm (info_hash), hex
    segmentsHTTP: 0, // segments the engine fetched over HTTP
    segmentsP2P: 0, // segments it got from peers (or relays)
    badPeers: 0, // peers dropped for sending bytes that failed verification
    protocolDrops: 0, // peers dropped for breaking the protocol
    httpErrors: 0, // failed HTTP fetches (including bad copies)
  },
};
window.fusioncastStats = stats;

const video = document.getElementById('video');
const ui = {
  source: document.getElementById('source'),
  state: document.getElementById('state'),
  message: document.getElementById('message'),
  cells: Object.fromEntries(
    Array.from(document.querySelectorAll('[data-stat]'), (el) => [el.dataset.stat, el]),
  ),
};

// --- source selection ---------------------------------------------------

function playlistURL() {
  const q = new URLSearchParams(location.search);
  const src = q.get('src');
  const named = q.get('stream');
  if (named !== null && !STREAM_NAME.test(named)) {
    throw new Error(`invalid stream name ${JSON.stringify(named)}`);
  }
  if (src) {
    return { stream: named || '', src: new URL(src, location.href).href };
  }
  const stream = named || 'demo';
  return { stream, src: `/live/${encodeURIComponent(stream)}/index.m3u8` };
}

// trackerURL returns the ?tracker= URL, '' without one.
function trackerURL() {
  const t = new URLSearchParams(location.search).get('tracker');
  if (!t) return '';
  let u;
  try {
    u = new URL(t);
  } catch {
    throw new Error(`invalid tracker URL ${JSON.stringify(t)}`);
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new Error(`the tracker URL must be ws:// or wss://, not ${JSON.stringify(t)}`);
  }
  return u.href;
}

const debug = new URLSearchParams(location.search).get('debug') === '1';

function log(level, text) {
  if (level === 'debug' && !debug) return;
  const f = level === 'warn' ? console.warn : level === 'debug' ? console.debug : console.info;
  f.call(console, `fusioncast: ${text}`);
}

// --- segment verification -----------------------------------------------

// segmentTag returns {size, sha256} from a fragment's fusioncast tag, or null.
function segmentTag(frag) {
  for (const t of frag.tagList || []) {
    if (t[0] !== SEGMENT_TAG || typeof t[1] !== 'string') {
      continue;
    }
    return parseSegmentTag(t[1]);
  }
  return null;
}

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

// verify checks a fragment's bytes against its tag and resolves to true
// (matched), false (mismatch) or null (nothing to check against, or no
// WebCrypto). crypto.subtle.digest copies the bytes before it returns.
async function verify(frag, payload) {
  const tag = segmentTag(frag);
  // WebCrypto only exists in secure contexts (https, localhost, 127.0.0.1).
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!tag || !tag.sha256 || !subtle || !payload || payload.byteLength === 0) {
    stats.unverified++;
    return null;
  }
  if (tag.size !== null && tag.size !== payload.byteLength) {
    verifyFailed(frag, `size ${payload.byteLength}, playlist says ${tag.size}`);
    return false;
  }
  let got;
  try {
    got = hex(await subtle.digest('SHA-256', payload));
  } catch (err) {
    verifyFailed(frag, `digest: ${err}`);
    return false;
  }
  if (got !== tag.sha256) {
    verifyFailed(frag, `sha256 ${got}, playlist says ${tag.sha256}`);
    return false;
  }
  stats.verified++;
  return true;
}

function verifyFailed(frag, why) {
  stats.verifyFailures++;
  console.warn(`fusioncast: segment ${frag.sn} (${frag.relurl || frag.url}) failed verification: ${why}`);
}

// verifyingLoader wraps an hls.js loader class so that every whole fragment
// it loads is hashed before hls.js sees the bytes (it cannot be done from
// FRAG_LOADED: by then hls.js has transferred the buffer to its transmuxer
// worker). A fragment that does not match the playlist's digest is reported
// to hls.js as a load error, so it is never played and hls.js fetches it
// again.
function verifyingLoader(Base) {
  return class VerifyingLoader extends Base {
    load(context, config, callbacks) {
      const onSuccess = callbacks.onSuccess;
      super.load(context, config, {
        ...callbacks,
        onSuccess(response, loaderStats, ctx, networkDetails) {
          // Whole fragments only: LL-HLS parts and byte ranges carry no tag of their own.
          const whole = ctx.frag && !ctx.part && !ctx.rangeStart && !ctx.rangeEnd;
          if (!whole || !(response.data instanceof ArrayBuffer)) {
            onSuccess(response, loaderStats, ctx, networkDetails);
            return;
          }
          verify(ctx.frag, response.data).then((ok) => {
            if (loaderStats.aborted) {
              return;
            }
            if (ok === false) {
              callbacks.onError({ code: 0, text: 'segment failed SHA-256 verification' }, ctx, networkDetails, loaderStats);
              return;
            }
            onSuccess(response, loaderStats, ctx, networkDetails);
          });
        },
      });
    }
  };
}

// --- playlists ----------------------------------------------------------------

// rebaseLoader loads playlists with hls.js's loader and makes their
// EXT-X-DISCONTINUITY-SEQUENCE small (see discontinuityRebaser: a large
// one costs hls.js 1.7.4 about a second of CPU per reload).
const rebaseDiscontinuities = discontinuityRebaser();

function rebaseLoader(Base) {
  return class RebaseLoader extends Base {
    load(context, config, callbacks) {
      super.load(context, config, {
        ...callbacks,
        onSuccess(response, loaderStats, ctx, networkDetails) {
          if (typeof response.data === 'string') {
            response = { ...response, data: rebaseDiscontinuities(response.data) };
          }
          callbacks.onSuccess(response, loaderStats, ctx, networkDetails);
        },
      });
    }
  };
}

// --- the peer engine as hls.js's fragment loader ----------------------------

let p2p = null; // {engine, tracker, stats(), close()} when sharing with peers
let p2pUsable = true; // false for streams fusioncast/1 cannot carry
let httpPlainBytes = 0; // fragment bytes loaded by hls.js's own loader

// segmentInfo returns what the engine needs to know of a fragment, from its
// fusioncast tag, or null if it cannot be shared (no tag, no size).
function segmentInfo(frag) {
  const tag = segmentTag(frag);
  if (!tag || !tag.sha256 || !(tag.size > 0) || !Number.isInteger(frag.sn) || frag.sn < 0 || frag.sn > MAX_SEQ) {
    return null;
  }
  return {
    seq: frag.sn,
    size: tag.size,
    sha256: tag.sha256,
    url: frag.url,
    durationMs: Math.round((frag.duration || 0) * 1000),
  };
}

// onLevelLoaded gives the engine the playlist's window.
function onLevelLoaded(details) {
  if (!p2p || !p2pUsable || !details || !details.fragments) return;
  const frags = details.fragments;
  if (frags.some((f) => Number.isInteger(f.sn) && f.sn > MAX_SEQ)) {
    p2pUsable = false;
    log('warn', 'sequence numbers beyond 2^32: this stream is fetched over HTTP only');
    return;
  }
  const window = [];
  for (const f of frags) {
    const info = segmentInfo(f);
    if (info) window.push(info);
  }
  p2p.engine.setPlaylist(window);
  if (details.url) p2p.setPlaylistURL(details.url, (details.targetduration || 0) * 1000);
}

// deadlineFor returns when the player will need frag, on the engine's
// clock (performance.now()): when the playhead reaches its start.
function deadlineFor(frag) {
  const now = performance.now();
  if (!started) return now + STARTUP_MS;
  const rate = video.playbackRate > 0 ? video.playbackRate : 1;
  const ahead = (frag.start - video.currentTime) / rate;
  return now + Math.max(0, ahead) * 1000;
}

// fusioncastLoader is the fragment loader: whole fragments with a fusioncast
// tag come from the peer engine (which asks peers first and fetches over
// HTTP itself in time for the deadline); everything else, and every
// fragment without a tracker, goes through hls.js's own loader. Every
// fragment is verified before hls.js sees it, whoever delivered it.
function fusioncastLoader(Base) {
  const Verifying = verifyingLoader(Base);
  return class FusioncastLoader extends Verifying {
    load(context, config, callbacks) {
      const frag = context.frag;
      const whole = frag && !context.part && !context.rangeStart && !context.rangeEnd;
      const info = whole && p2p && p2pUsable ? segmentInfo(frag) : null;
      if (!info) {
        super.load(context, config, {
          ...callbacks,
          onSuccess(response, loaderStats, ctx, networkDetails) {
            httpPlainBytes += loaderStats.loaded || 0;
            callbacks.onSuccess(response, loaderStats, ctx, networkDetails);
          },
        });
        return;
      }
      this.loadFromEngine(info, context, config, callbacks);
    }

    loadFromEngine(info, context, config, callbacks) {
      const st = this.stats;
      if (st.loading.start) throw new Error('Loader can only be used once.');
      st.loading.start = performance.now();
      this.context = context;
      this.config = config;
      this.callbacks = callbacks;
      const ac = new AbortController();
      this.engineLoad = ac;
      const gone = () => ac.signal.aborted || !this.callbacks;
      const policy = config.loadPolicy || {};
      const timeoutMs = policy.maxLoadTimeMs > 0 ? policy.maxLoadTimeMs : 20000;
      const timer = setTimeout(() => {
        if (gone()) return;
        ac.abort();
        callbacks.onTimeout(st, context, null);
      }, timeoutMs);
      p2p.engine.get(info, deadlineFor(context.frag), ac.signal).then(
        ({ data }) => {
          clearTimeout(timer);
          if (gone()) return;
          // A copy: hls.js hands the buffer to its worker, and the engine
          // keeps serving its own.
          const buf = data.slice().buffer;
          const now = performance.now();
          st.loading.first = st.loading.start;
          st.loading.end = Math.max(now, st.loading.first + 1);
          st.loaded = st.total = buf.byteLength;
          st.bwEstimate = (8000 * st.total) / (st.loading.end - st.loading.first);
          verify(context.frag, buf).then((ok) => {
            if (gone()) return;
            this.engineLoad = null;
            if (ok === false) {
              callbacks.onError({ code: 0, text: 'segment failed SHA-256 verification' }, context, null, st);
              return;
            }
            callbacks.onSuccess({ url: context.url, data: buf, code: 200 }, st, context, null);
          });
        },
        (err) => {
          clearTimeout(timer);
          if (gone()) return;
          this.engineLoad = null;
          callbacks.onError({ code: 0, text: String((err && err.message) || err) }, context, null, st);
        },
      );
    }

    abortInternal() {
      if (this.engineLoad) {
        this.engineLoad.abort();
        this.engineLoad = null;
        if (this.stats) this.stats.aborted = true;
      }
      super.abortInternal();
    }
  };
}

// --- stall tracking ---------------------------------------------------------

// A stall is playback stopping for lack of data after it first started. It is
// counted once, from the first sign (a 'waiting' event or hls.js reporting
// BUFFER_STALLED_ERROR) until playback moves on again.
let started = false;
let stalled = false;
let stalledAt = 0;

function stallBegan() {
  if (!started || stalled || video.seeking || video.paused || video.ended) {
    return;
  }
  stalled = true;
  stalledAt = video.currentTime;
  stats.stalls++;
}

function stallEnded() {
  stalled = false;
}

video.addEventListener('playing', () => {
  started = true;
  stallEnded();
});
video.addEventListener('waiting', stallBegan);
video.addEventListener('timeupdate', () => {
  if (stalled && !video.paused && video.currentTime > stalledAt + 0.1) {
    stallEnded();
  }
});

// --- hls.js -----------------------------------------------------------------

function showMessage(text) {
  ui.message.textContent = text;
  ui.message.hidden = !text;
}

function startPlayback() {
  const p = video.play();
  if (p && p.catch) {
    p.catch((err) => {
      if (err && err.name === 'NotAllowedError') {
        showMessage('Autoplay was blocked: press play to start.');
      }
    });
  }
}

function countError(data) {
  switch (data.details) {
    case 'bufferStalledError':
      stallBegan();
      return;
    case 'bufferNudgeOnStall':
    case 'bufferSeekOverHole':
      return; // hls.js recovering from a stall, not a new error
  }
  stats.errors++;
  if (data.type === 'mediaError') {
    stats.mediaErrors++;
  }
  stats.lastError = `${data.type}/${data.details}${data.fatal ? ' (fatal)' : ''}`;
}

let mediaRecoveries = 0;

function onFatal(hls, data) {
  stats.fatalErrors++;
  switch (data.type) {
    case Hls.ErrorTypes.NETWORK_ERROR:
      // The origin may be restarting; try again shortly.
      setTimeout(() => hls.startLoad(), 2000);
      showMessage(`Network error (${data.details}); retrying…`);
      return;
    case Hls.ErrorTypes.MEDIA_ERROR:
      if (mediaRecoveries++ < 3) {
        hls.recoverMediaError();
        return;
      }
  }
  showMessage(`Playback failed: ${data.details}`);
  hls.destroy();
}

function setupHls(src) {
  const hls = new Hls({
    lowLatencyMode: false,
    backBufferLength: 30,
    fLoader: fusioncastLoader(Hls.DefaultConfig.loader),
    pLoader: rebaseLoader(Hls.DefaultConfig.loader),
  });
  window.fusioncastHls = hls;

  hls.on(Hls.Events.FRAG_LOADED, () => {
    stats.segments++;
  });
  hls.on(Hls.Events.LEVEL_LOADED, (_event, data) => onLevelLoaded(data.details));
  hls.on(Hls.Events.MANIFEST_PARSED, startPlayback);
  hls.on(Hls.Events.ERROR, (_event, data) => {
    countError(data);
    if (data.fatal) {
      onFatal(hls, data);
    }
  });

  hls.loadSource(src);
  hls.attachMedia(video);
  return hls;
}

// --- overlay ------------------------------------------------------------------

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(2)} MiB`;
}

function formatSec(s) {
  return s === null || !Number.isFinite(s) ? '–' : `${s.toFixed(1)} s`;
}

function formatClock(s) {
  if (!Number.isFinite(s)) return '–';
  const m = Math.floor(s / 60);
  return `${m}:${(s - m * 60).toFixed(1).padStart(4, '0')}`;
}

function bufferAhead() {
  const t = video.currentTime;
  const b = video.buffered;
  for (let i = 0; i < b.length; i++) {
    // Allow a small gap before the range, as hls.js does.
    if (t >= b.start(i) - 0.1 && t <= b.end(i)) {
      return Math.max(0, b.end(i) - t);
    }
  }
  return 0;
}

let hlsRef = null;

function sample() {
  if (p2p) {
    const e = p2p.stats();
    stats.bytes.http = httpPlainBytes + e.bytesHTTP;
    stats.bytes.p2p = e.bytesP2P;
    stats.bytes.relay = e.bytesRelay;
    stats.peers = e.peers;
    stats.uploaded = e.bytesUp;
    stats.edge = e.edge;
    stats.edgeRank = e.edgeRank;
    Object.assign(stats.p2p, {
      state: e.tracker,
      segmentsHTTP: e.segmentsHTTP,
      segmentsP2P: e.segmentsP2P,
      badPeers: e.badPeers,
      protocolDrops: e.protocolDrops,
      httpErrors: e.httpErrors,
    });
  } else {
    stats.bytes.http = httpPlainBytes;
  }
  stats.currentTime = video.currentTime;
  stats.bufferSec = bufferAhead();
  stats.playing = started && !stalled && !video.paused && !video.ended && video.readyState > 2;
  const details = hlsRef && hlsRef.latestLevelDetails;
  const live = started && details && details.live;
  stats.latencySec = live ? hlsRef.latency : null;
  const date = live && hlsRef.playingDate;
  stats.wallLatencySec = date ? (Date.now() - date.getTime()) / 1000 : null;
}

function render() {
  const c = ui.cells;
  c.http.textContent = formatBytes(stats.bytes.http);
  c.p2p.textContent = formatBytes(stats.bytes.p2p);
  c.relay.textContent = formatBytes(stats.bytes.relay);
  c.peers.textContent = stats.p2p.state === 'off' ? 'off' : String(stats.peers);
  c.peers.title = stats.p2p.tracker ? `tracker ${stats.p2p.tracker} (${stats.p2p.state})` : 'no tracker';
  c.uploaded.textContent = formatBytes(stats.uploaded);
  c.edge.textContent = stats.edge ? `rank ${stats.edgeRank}` : 'no';
  c.buffer.textContent = formatSec(stats.bufferSec);
  c.latency.textContent = formatSec(stats.latencySec);
  c.time.textContent = formatClock(stats.currentTime);
  c.stalls.textContent = String(stats.stalls);
  c.segments.textContent = String(stats.segments);
  c.verified.textContent = String(stats.verified);
  c.verifyFailures.textContent = String(stats.verifyFailures);
  c.verifyFailures.classList.toggle('bad', stats.verifyFailures > 0);
  c.errors.textContent = String(stats.errors);
  c.errors.classList.toggle('bad', stats.errors > 0);
  c.errors.title = stats.lastError;

  let state = 'starting';
  if (stats.playing) state = 'playing';
  else if (stalled) state = 'stalled';
  else if (video.ended) state = 'ended';
  else if (started && video.paused) state = 'paused';
  ui.state.textContent = state;
  ui.state.classList.toggle('bad', stalled);
}

function tick() {
  sample();
  render();
}

// --- start ------------------------------------------------------------------

// joinSwarm starts peer-to-peer sharing if the page has a tracker, a stream
// name and WebCrypto (without which nothing from a peer could be verified).
async function joinSwarm(tracker) {
  if (!tracker) return;
  stats.p2p.tracker = tracker;
  if (!stats.stream) {
    stats.p2p.state = 'unavailable';
    log('warn', 'no stream name (?stream=): peer-to-peer sharing is off');
    return;
  }
  if (!(globalThis.crypto && crypto.subtle) || typeof RTCPeerConnection === 'undefined' || typeof WebSocket === 'undefined') {
    stats.p2p.state = 'unavailable';
    log('warn', 'no WebCrypto or WebRTC here (WebCrypto needs https or localhost): peer-to-peer sharing is off');
    return;
  }
  try {
    p2p = await startP2P({
      trackerURL: tracker,
      stream: stats.stream,
      playerStats: () => ({ stalls: stats.stalls, verifyFailures: stats.verifyFailures, httpBytes: httpPlainBytes }),
      log,
    });
  } catch (err) {
    stats.p2p.state = 'unavailable';
    log('warn', `peer-to-peer sharing is off: ${err}`);
    return;
  }
  window.fusioncastP2P = p2p;
  stats.p2p.peerId = p2p.peerId;
  stats.p2p.swarm = p2p.swarm;
  window.addEventListener('pagehide', () => p2p.close());
}

async function main() {
  let src;
  let tracker;
  try {
    ({ stream: stats.stream, src } = playlistURL());
    tracker = trackerURL();
  } catch (err) {
    showMessage(String(err.message || err));
    return;
  }
  stats.src = src;
  ui.source.textContent = stats.stream ? `${stats.stream} · ${src}` : src;

  if (typeof Hls !== 'undefined' && Hls.isSupported()) {
    await joinSwarm(tracker);
    hlsRef = setupHls(src);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    // Native HLS (Safari without MSE): plays, but no byte counts or verification.
    video.src = src;
    startPlayback();
    showMessage('Using native HLS: segment statistics are not available.');
  } else {
    showMessage('This browser cannot play HLS (no Media Source Extensions).');
  }
  tick();
  setInterval(tick, UPDATE_MS);
}

main();
