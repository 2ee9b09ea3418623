// Package sim runs fusioncast's peer engine ([fusioncast/peer], unchanged)
// for thousands of viewers against a simulated network in virtual time,
// and measures what the origin sends, what the viewers share, and how
// playback fares. It is the engine of `fusioncast simulate`; the model and
// its limits are described in docs/simulation.md.
//
// # Virtual time
//
// One goroutine runs a queue of events ordered by time and then by the
// order they were scheduled in. The engines' [peer.Clock] is that queue:
// their timers, HTTP fetches and OnSegment calls are events, and so are
// link deliveries, joins, leaves, playlist updates and the players'
// checks. An event never runs while an engine call is on the stack, and a
// run depends only on its Config (Seed included).
//
// # Scale
//
// Each engine exchanges and verifies real segments of
// Config.SegmentBytesReal bytes, but the network charges every DATA
// payload byte SegmentBytes / SegmentBytesReal times, so transfer times,
// send buffers and upload budgets are those of full-size segments.
package sim
