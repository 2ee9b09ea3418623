// Package viewer is a headless live-HLS viewer for load tests: it follows a
// live media playlist like a player does, fetches each segment, verifies it
// against the SHA-256 the origin publishes in the playlist, and models a
// playback buffer to count stalls, startup time and latency behind the live
// edge. It is the engine of `fusioncast viewers`.
//
// # Playback model
//
// A viewer starts [Config.LiveSyncSegments] segments behind the live edge
// (3, as hls.js does). Playback starts when the first segment is in the
// buffer; from then on the playhead advances in real time. When it reaches
// the end of the buffer before the next segment has arrived, that is a
// stall: the playhead waits until the segment arrives. Segments that leave
// the playlist before the viewer fetched them are skipped and counted.
//
// # Through a peer engine
//
// With [Config.Peer] set, the viewer gets its segments from a peer engine
// (package fusioncast/peer) instead of fetching them itself: a goroutine
// polls the playlist and gives the engine each window, and the viewer asks
// the engine for each segment with the time its playhead will reach it, so
// the engine can take it from peers or fall back to HTTP in time. Bytes
// are counted by source. [LoadConfig.PeerFor] gives each of N viewers its
// engine; [Fetcher] is the engine's HTTP fetch.
//
// # Running many
//
// [RunLoad] runs N viewers in one process sharing one HTTP client, and
// [Summarize] adds up their [Stats] into a [Summary], whose JSON form is
// what `fusioncast viewers --json` prints (see docs/viewers.md).
package viewer
