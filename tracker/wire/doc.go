// Package wire is the message codec of fusioncast's tracker: it turns the
// JSON messages of the WebTorrent websocket tracker protocol into Go values
// and back. It opens no sockets; the tracker (package
// fusioncast/tracker), load tools and the Go peer move the bytes. The wire
// format is specified in docs/tracker.md; this package follows the
// reference implementation, bittorrent-tracker 11 (server.js,
// lib/server/parse-websocket.js, lib/client/websocket-tracker.js).
//
// # Messages
//
// Every message is one websocket text frame holding one JSON object.
//
//	client → tracker                             Go                          docs/tracker.md
//	{"action":"announce", …, "offers":[…]}       [ParseRequest] → [Request]  "announce"
//	{"action":"announce", …, "answer":{…}}       [ParseRequest] → [Request]  "answer"
//	{"action":"scrape","info_hash":…}            [ParseRequest] → [Request]  "scrape"
//
//	tracker → client
//	{"complete":…,"action":"announce",…}         [AppendAnnounceResponse]    "Announce response"
//	{"action":"announce","offer":{…},…}          [AppendOffer]               "Relayed offer"
//	{"action":"announce","answer":{…},…}         [AppendAnswer]              "Relayed answer"
//	{"action":"scrape","files":{…}}              [AppendScrapeResponse]      "Scrape response"
//	{"action":…,"failure reason":…,…}            [AppendFailure]             "Failure"
//
// [ParseResponse] reads any tracker message into a [Response];
// [AppendRequest] and [AppendResponse] write any [Request] or [Response], for
// clients, tests and load tools.
//
// # IDs
//
// info_hash, peer_id, offer_id and to_peer_id are 20-byte binary strings
// ([ID]). On the wire each is a JSON string of exactly 20 characters in
// U+0000..U+00FF, one character per byte ("latin1"; JavaScript's binary
// strings):
//
//	byte          written by this package    also read
//	0x20-0x7E     itself                     \u00XX, \/ for '/'
//	  except "    \u0022                     \"
//	  except \    \u005c                     \\
//	0x00-0x1F     \u00XX                     \b \t \n \f \r
//	0x7F-0xFF     \u00XX                     raw UTF-8 (C2 80 .. C3 BF for 0x80..0xFF), 0x7F raw
//
// A string with fewer or more than 20 characters, or with a character above
// U+00FF, is not an ID. docs/tracker.md, section "IDs".
//
// # Parsing rules
//
// The parsers validate the whole message as JSON (RFC 8259 with UTF-8
// required; strings, escapes and surrogate pairs, numbers, literals, nesting
// up to [MaxDepth]) with a small hand-written scanner: anything they accept,
// encoding/json accepts too, with the same meaning (the fuzz tests check
// this). Then:
//
//   - member names are matched exactly, after unescaping;
//   - unknown members are ignored (their values are still validated);
//   - a known member may appear once; null means the member is absent;
//   - numbers the protocol reads must be integers written without fraction or
//     exponent, in range;
//   - "offer" and "answer" must be objects; they come back as raw JSON
//     sub-slices of the input (no copy), so they alias it, and the tracker
//     relays them unchanged.
//
// [ParseRequest] reuses the [Request]'s slices: with a reused Request it
// allocates nothing, and it reads a 14 KB announce with 10 offers at about
// 1 GB/s (BenchmarkParseAnnounce). The Append functions allocate nothing when
// the buffer has room.
//
// # The fusioncast extension
//
// fusioncast's additions ride under one top-level member, "fusioncast", an
// object that WebTorrent clients and trackers ignore: [Ext] in requests
// (version, role, site, capacity, statistics), [RespExt] in announce
// responses (edge fetcher assignment, site). "v" is required; unknown
// members, and unknown values of "role" from later versions, are ignored.
// docs/tracker.md, section "The fusioncast extension".
//
// # Errors and limits
//
// Every error wraps [ErrMalformed] or [ErrTooLarge], and its text never
// quotes the input, so the tracker can send it back as a "failure reason".
// docs/tracker.md, section "Failure reasons", lists every text. The limits
// ([MaxMessageBytes], [MaxOffers], [MaxSDPBytes], [MaxScrapeHashes],
// [MaxDepth], [MaxSiteBytes]) are in docs/tracker.md, section "Message
// limits".
package wire
