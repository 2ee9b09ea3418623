// fusioncast P2P: the peer engine (peer.js) joined to its swarm through the
// tracker (tracker-client.js). The player (player.js) starts it when the
// page has a tracker URL, and asks it for segments.
//
//   const p2p = await startP2P({ trackerURL, stream, playerStats });
//   p2p.engine.setPlaylist(window);       // from each playlist the player loads
//   p2p.setPlaylistURL(url, targetMs);    // an edge fetcher also reloads it itself
//   const { data, source } = await p2p.engine.get(info, deadline, signal);
//   p2p.stats();   // peers, bytes by source, upload, edge status
//   p2p.close();

import { Engine, swarmFor, realClock } from './peer.js';
import { TrackerClient, hexToBinary, binaryToHex, peerName } from './tracker-client.js';
import { parsePlaylist, MAX_SEQ } from './playlist.js';

// HTTP_TIMEOUT_MS bounds one HTTP fetch of a segment or playlist.
const HTTP_TIMEOUT_MS = 10_000;
// An edge fetcher reloads the playlist itself every half target duration,
// but not more often than this.
const MIN_POLL_MS = 500;
// Peers that said they have too many connections, or pruned us, or that
// broke the protocol, are left alone for this long (docs/protocol.md, BYE).
const BACKOFF_MS = 60_000;

// fetchHTTP fetches url within HTTP_TIMEOUT_MS and returns the response.
async function fetchHTTP(url, signal, init, read) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error('timeout')), HTTP_TIMEOUT_MS);
  const onAbort = () => ac.abort(signal.reason);
  if (signal) signal.addEventListener('abort', onAbort, { once: true });
  try {
    const resp = await fetch(url, { ...init, signal: ac.signal, credentials: 'omit' });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    return await read(resp);
  } finally {
    clearTimeout(timer);
    if (signal) signal.removeEventListener('abort', onAbort);
  }
}

// fetchSegment fetches a segment over HTTP, whole.
function fetchSegment(info, signal) {
  return fetchHTTP(info.url, signal, {}, (r) => r.arrayBuffer());
}

// startP2P joins the swarm of `stream` through the tracker at trackerURL.
// playerStats() gives the player's {stalls, verifyFailures, httpBytes}
// (bytes the player fetched without the engine) for the tracker's stats.
export async function startP2P({ trackerURL, stream, playerStats = () => ({}), log = () => {} }) {
  const swarm = await swarmFor(stream);
  const names = new Map(); // engine Peer → remote peer_id
  let tracker = null;
  const engine = new Engine({
    swarm,
    fetch: fetchSegment,
    clock: realClock,
    onLog: log,
    onBadPeer(p, why, kind) {
      // Bad bytes: not again in this session; broken rules: not for a while.
      const id = names.get(p);
      if (id && tracker) tracker.ban(id, kind === 'bad-data' ? Infinity : BACKOFF_MS);
    },
    onBye(p, reason) {
      const id = names.get(p);
      if (id && tracker && (reason === 'overloaded' || reason === 'pruned')) tracker.ban(id, BACKOFF_MS);
    },
  });

  // An edge fetcher learns of new segments from its own playlist reloads,
  // every half target duration, rather than wait for the player's.
  const poll = { url: '', periodMs: 1000, timer: null, ac: null, closed: false };
  const reload = async () => {
    poll.timer = null;
    if (poll.closed || !engine.edge || !poll.url) return;
    poll.ac = new AbortController();
    try {
      const text = await fetchHTTP(poll.url, poll.ac.signal, { cache: 'no-cache' }, (r) => r.text());
      const pl = parsePlaylist(text, poll.url);
      if (pl.lastSeq > MAX_SEQ) {
        poll.url = ''; // not for fusioncast/1
        return;
      }
      engine.setPlaylist(pl.window);
      if (pl.targetMs > 0) poll.periodMs = Math.max(MIN_POLL_MS, pl.targetMs / 2);
    } catch (err) {
      log('debug', `playlist reload failed: ${err}`);
    } finally {
      poll.ac = null;
    }
    if (!poll.closed && engine.edge && poll.url && !poll.timer) poll.timer = setTimeout(reload, poll.periodMs);
  };
  const pollWhileEdge = () => {
    if (engine.edge && poll.url && !poll.timer && !poll.ac) poll.timer = setTimeout(reload, 0);
  };

  let trackerState = 'connecting';
  tracker = new TrackerClient({
    url: trackerURL,
    infoHash: hexToBinary(swarm),
    onLog: log,
    onState: (s) => (trackerState = s),
    onEdge: (edge, rank) => {
      log('info', edge ? `the tracker named this peer edge fetcher of rank ${rank}` : 'not an edge fetcher');
      engine.setEdge(edge, rank);
      pollWhileEdge();
    },
    stats: () => {
      const e = engine.stats();
      const p = playerStats();
      return {
        http: e.bytesHTTP + (p.httpBytes || 0),
        p2p: e.bytesP2P,
        relay: e.bytesRelay,
        stalls: p.stalls || 0,
        errors: e.httpErrors + e.badData + (p.verifyFailures || 0),
        uploaded: e.bytesUp,
        downloaded: e.bytesP2P + e.bytesRelay,
      };
    },
    onConnection(conn) {
      const ch = conn.channel;
      ch.bufferedAmountLowThreshold = engine.cfg.lowWater;
      const link = {
        send: (b) => ch.send(b),
        get bufferedAmount() {
          return ch.bufferedAmount;
        },
        close: () => conn.close(),
      };
      const p = engine.addLink(peerName(conn.peerId), link);
      names.set(p, conn.peerId);
      conn.onmessage = (data) => engine.receive(p, data);
      ch.onbufferedamountlow = () => engine.pump();
      conn.onclose = () => {
        engine.removeLink(p);
        names.delete(p);
      };
    },
  });
  tracker.start();

  return {
    engine,
    tracker,
    swarm,
    peerId: binaryToHex(tracker.peerId),
    stats() {
      const e = engine.stats();
      return { ...e, tracker: trackerState };
    },
    // setPlaylistURL names the media playlist (and its target duration), for
    // the reloads of an edge fetcher.
    setPlaylistURL(url, targetMs) {
      if (poll.url === url) return;
      poll.url = url;
      if (targetMs > 0) poll.periodMs = Math.max(MIN_POLL_MS, targetMs / 2);
      pollWhileEdge();
    },
    close() {
      poll.closed = true;
      if (poll.timer) clearTimeout(poll.timer);
      if (poll.ac) poll.ac.abort();
      engine.close();
      tracker.stop();
    },
  };
}
