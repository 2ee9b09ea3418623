// Package origin is fusioncast's live HLS origin: it takes segments from a
// [Source] (the built-in [Demo] loop, or a real encoder through [Ingest]),
// keeps a bounded window of them per [Stream] with each segment's SHA-256,
// and serves them over stateless, cache-friendly HTTP.
//
// # URLs
//
//	GET /live/{stream}/index.m3u8        media playlist, max-age = half the target duration
//	GET /live/{stream}/{seq}-{hash16}.ts  segment, immutable, max-age 24 h
//	GET /metrics                          Prometheus metrics
//	GET /healthz                          200 once every stream has a segment
//
// A segment's name holds its media sequence number and the first 16 hex
// digits of its SHA-256, so a name always means the same bytes: across
// restarts and between origins, any HTTP cache may keep it. The playlist
// carries each segment's full digest and size in an EXT-X-FUSIONCAST-SEGMENT
// tag (docs/hls.md), which players ignore and peers verify against. No
// response sets a cookie or depends on an earlier request.
//
// # Limits
//
// [Config] bounds everything a client can hold: open connections
// ([Config.MaxConns], with the idle connection that waited longest evicted
// first, so clients that connect and never send a request cannot lock
// viewers out), header size and time, idle keep-alive time and response
// time. A [Stream] bounds its segments ([StreamConfig.Retain]) and their
// size ([StreamConfig.MaxSegmentBytes]).
//
// # Serving speed
//
// On Linux each retained segment is also kept in an anonymous memory file,
// and a full GET leaves as one write of the headers with MSG_MORE and one
// sendfile(2) at an explicit offset, as nginx does with sendfile and
// tcp_nopush. Connection reads and writes use raw system calls on the
// non-blocking socket. [StreamConfig.CopyResponses] turns the memory files
// off. docs/benchmarks.md compares the result with nginx.
//
// # Running
//
// [New] makes an origin, [Origin.AddStream] adds streams with their
// sources, and [Origin.Run] serves until its context ends. `fusioncast
// origin` and `fusioncast demo` wrap this; see docs/origin.md.
package origin
