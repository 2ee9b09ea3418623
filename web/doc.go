// Package web serves the browser side of fusioncast: the player page and its
// assets, embedded in the binary.
//
// # Routes
//
// [Handler] serves
//
//	GET /                                     the player page (static/index.html)
//	GET /static/player.js                     the player (an ES module, no build step)
//	GET /static/player.css                    its styles
//	GET /static/proto.js                      the peer protocol codec (docs/protocol.md)
//	GET /static/peer.js                       the browser peer engine
//	GET /static/tracker-client.js             the WebTorrent tracker client (docs/tracker.md)
//	GET /static/p2p.js                        the engine joined to its swarm through the tracker
//	GET /static/playlist.js                   playlist helpers shared by the player and the engine
//	GET /static/vendor/hls.js/hls.min.js      hls.js, vendored at a pinned version
//
// and 404 for everything else, including directories. The origin mounts it at
// "/" beside its /live/ routes. The page plays /live/{stream}/index.m3u8,
// where the stream name comes from the ?stream= query parameter (default
// "demo"); ?src= plays any other playlist URL instead. ?tracker=ws://… turns
// on peer-to-peer sharing (below); `fusioncast demo` prints a page URL that
// has it.
//
// # The player
//
// player.js plays the stream with hls.js (muted autoplay, so a headless
// browser plays without a user gesture), verifies each segment with WebCrypto
// against the SHA-256 in the playlist's #EXT-X-FUSIONCAST-SEGMENT tag before
// hls.js sees it (a mismatch is reported to hls.js as a load error, so the
// bad copy is never decoded and hls.js fetches the segment again), and
// shows playback statistics in an overlay: bytes received by source (HTTP,
// P2P, relay), buffer ahead, latency behind the live edge, stalls, segments,
// verification results and errors, and with a tracker the open peer
// connections, the bytes uploaded to peers and whether the tracker made this
// viewer an edge fetcher. The same numbers are kept in the JavaScript object
// window.fusioncastStats for automated browser tests.
//
// # Peer to peer
//
// With ?tracker=URL the page joins the stream's swarm (SHA-256("fusioncast:"
// + stream)[:20], docs/protocol.md "Swarms") through that WebTorrent-
// compatible tracker, opens WebRTC data channels to other viewers and shares
// segments with them using the protocol fusioncast/1. hls.js's fragment
// loader asks the peer engine (static/peer.js) for every segment; the engine
// takes it from a peer, or fetches it over HTTP itself in time for the
// playhead, and the page verifies it again before hls.js sees it. Playlists
// always come over HTTP. docs/browser-peer.md describes the engine, its
// rules (the same as the Go engine's, package fusioncast/peer), its
// configuration and its limits. Without a tracker, or without WebCrypto or
// WebRTC, the page fetches everything over HTTP with hls.js's own loader.
//
// The JavaScript is tested with node (web/*.test.mjs, run by TestJavaScript
// or `node --test web/`): several engines on fake data channels and a fake
// clock, the tracker client against an in-process tracker, and the playlist
// helpers. The files beside the tests (peertest.mjs, trackertest.mjs) are
// their fakes; nothing outside static/ is served.
//
// Playlists go through a loader that subtracts a constant from their
// EXT-X-DISCONTINUITY-SEQUENCE: hls.js 1.7.4 spends about a second of CPU on
// every reload of a playlist whose number is large, as the demo's (about
// 6 × 10^7) is (static/playlist.js, docs/browser-peer.md).
//
// WebCrypto exists only in secure contexts (https, localhost, 127.0.0.1); on
// plain http from another host segments are counted as unverified.
//
// # Caching
//
// Every response carries a strong ETag (a hash of the file), so revalidation
// is a 304. The page and the player's own files are sent with
// "Cache-Control: no-cache", so a new binary takes effect on the next load;
// vendored files with "public, max-age=3600".
//
// # Vendored code
//
// static/vendor/hls.js holds hls.min.js, its LICENSE (Apache 2.0) and a
// VERSION file, refreshed by `make vendor-hlsjs` (scripts/vendor-hlsjs.sh;
// HLSJS_VERSION=x.y.z to change the pinned version).
package web
