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
//	GET /static/vendor/hls.js/hls.min.js      hls.js, vendored at a pinned version
//
// and 404 for everything else, including directories. The origin mounts it at
// "/" beside its /live/ routes. The page plays /live/{stream}/index.m3u8,
// where the stream name comes from the ?stream= query parameter (default
// "demo"); ?src= plays any other playlist URL instead.
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
// verification results and errors. The same numbers are kept in the
// JavaScript object window.fusioncastStats for automated browser tests.
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
