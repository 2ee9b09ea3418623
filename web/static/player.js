// fusioncast player: plays a live HLS stream with hls.js, verifies every
// segment against the SHA-256 the origin publishes in the playlist, and keeps
// playback statistics in window.fusioncastStats for people (the overlay) and
// for automated browser tests.
//
// Query parameters:
//   ?stream=NAME  play /live/NAME/index.m3u8 (default "demo")
//   ?src=URL      play this playlist instead (absolute or relative URL)
//
// Each segment in a fusioncast playlist is preceded by
//   #EXT-X-FUSIONCAST-SEGMENT:SIZE=<bytes>,SHA256="<64 hex digits>"
// hls.js ignores the tag but keeps it in frag.tagList as
//   ['EXT-X-FUSIONCAST-SEGMENT', 'SIZE=...,SHA256="..."'].

const SEGMENT_TAG = 'EXT-X-FUSIONCAST-SEGMENT';
const STREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const UPDATE_MS = 500;

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
  if (src) {
    return { stream: '', src: new URL(src, location.href).href };
  }
  const stream = q.get('stream') || 'demo';
  if (!STREAM_NAME.test(stream)) {
    throw new Error(`invalid stream name ${JSON.stringify(stream)}`);
  }
  return { stream, src: `/live/${encodeURIComponent(stream)}/index.m3u8` };
}

// --- segment verification -----------------------------------------------

// segmentTag returns {size, sha256} from a fragment's fusioncast tag, or null.
function segmentTag(frag) {
  for (const t of frag.tagList || []) {
    if (t[0] !== SEGMENT_TAG || typeof t[1] !== 'string') {
      continue;
    }
    const size = /(?:^|,)SIZE=(\d+)/.exec(t[1]);
    const sum = /(?:^|,)SHA256="([0-9a-fA-F]{64})"/.exec(t[1]);
    return {
      size: size ? Number(size[1]) : null,
      sha256: sum ? sum[1].toLowerCase() : null,
    };
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
    fLoader: verifyingLoader(Hls.DefaultConfig.loader),
  });
  window.fusioncastHls = hls;

  hls.on(Hls.Events.FRAG_LOADED, (_event, data) => {
    // data.payload is usually detached by now (see verifyingLoader), so
    // count the loader's byte count.
    const loaded = (data.part || data.frag).stats.loaded;
    stats.bytes.http += loaded || 0;
    stats.segments++;
  });
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

function main() {
  let src;
  try {
    ({ stream: stats.stream, src } = playlistURL());
  } catch (err) {
    showMessage(String(err.message || err));
    return;
  }
  stats.src = src;
  ui.source.textContent = stats.stream ? `${stats.stream} · ${src}` : src;

  if (typeof Hls !== 'undefined' && Hls.isSupported()) {
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
