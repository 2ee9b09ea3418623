// Package e2e holds end-to-end tests that drive the whole system the way a
// person would: the origin with its demo stream and the player page, played
// by headless Chromium inside a network namespace the test creates (see
// [fusioncast/internal/netns] for why a namespace, and
// [fusioncast/internal/browser] for the browser's flags).
//
// The peer-to-peer tests add the tracker: TestBrowsersShareSegments plays
// the demo in four tabs that share segments over WebRTC data channels, and
// TestBrowserAndGoPeers puts tabs and Go peers (package fusioncast/peer/join)
// in one swarm, each serving the other (docs/browser-peer.md).
//
// BenchmarkBrowserTabs measures 4 and 6 tabs, as plain HTTP viewers and as
// peers in the same run: the origin's copies per segment, stalls and
// latency (make bench-browser; the figures are in docs/benchmarks.md).
//
// These tests need root and Chromium. Without them they skip and say why;
// with FUSIONCAST_REQUIRE_ALL=1 (set by CI) they fail instead.
package e2e
