// Package peer is fusioncast's peer engine: it shares the segments of one
// live stream with other peers over data channels (the protocol of
// docs/protocol.md, codec in [fusioncast/peer/proto]), so that the origin
// sends each new segment a small constant number of times however many
// viewers there are.
//
// # Who fetches what, and when
//
// The tracker names a few viewers per swarm edge fetchers ([Engine.SetEdge]).
// When a new segment appears in the playlist ([Engine.SetPlaylist]) the
// primary edge fetcher (rank 0) fetches it over HTTP at once and announces
// it (HAVE) to its peers as soon as it is verified; backup edge fetchers
// (rank r) fetch it only if no peer has announced it r × EdgeStagger later.
// Every other engine waits for a HAVE and requests the segment from the
// best peer that has it (fewest outstanding requests, then edge fetchers
// and relays, then upload capacity), and announces it in turn once
// verified, so a segment spreads through the swarm hop by hop.
//
// An engine falls back to HTTP when peers do not deliver in time:
// HTTPMargin (or three times the recent HTTP fetch time) before the
// deadline a player gives to [Engine.Get] or [Engine.Want], or PeerWait
// after the segment appeared while no player has said when it needs it (a
// deadline replaces that wait, later or earlier; it never postpones a
// backup edge fetcher's stagger). A request whose peer leaves resumes from
// another peer at the byte it reached.
//
// # Relays
//
// A relay agent seeds a site (a campus LAN) with segments it receives by
// other means (multicast): its engine has Config.NoDownload and Role
// proto.RoleRelay. It never requests from peers, never fetches over HTTP
// and is never an edge fetcher; its segments come from [Engine.Put],
// which checks size and SHA-256 again, announces HAVE to every peer and
// serves them, also before a playlist lists them. Unless ServeWindow is
// set it accepts every request: its viewers have nowhere better to go.
// Viewers prefer relays and edge fetchers as holders, and count what they
// get from relays apart (Stats.BytesRelay).
//
// # Serving
//
// Accepted requests are served one at a time, in the order they came,
// across all links: DATA goes to a link only below HighWater, and to
// another link only once the link served last has drained to LowWater, so
// that each requester gets its copy as fast as the upload allows and can
// serve it in turn (several requests written at once would share the
// upload and all finish late), and so that HAVEs do not wait behind
// megabytes of DATA. A request that would make the bytes not yet delivered
// (not yet sent, or still in that link) exceed ServeWindow is answered
// ABSENT busy; the requester asks another holder, or waits for the next
// HAVE, which comes from a peer that has just completed the segment and is
// likely idle. `fusioncast simulate` measured what each rule is worth
// (docs/simulation.md). A relay serves ServeLinks links (16) side by side
// by the same rules, and has no serve window.
//
// # Liveness
//
// A peer must send HELLO within HelloTimeout of its link's opening; each
// peer gets a PING every PingIdle (PingBusy while requests are outstanding
// either way) and must answer within PongTimeout; else BYE timeout. The
// PONG gives the peer's round-trip time: a request that has received
// nothing for max(StallMin, 3 × RTT) is cancelled and sent to another
// holder, from the byte reached, if one is free. A playlist window older
// than one already seen (two sources, a cache) is ignored.
//
// # Integrity
//
// Nothing is used or shared before its size and SHA-256 match the playlist.
// A peer whose bytes fail the check is sent BYE bad-data, dropped, counted
// (Stats.BadData) and reported (Config.OnBadPeer); the segment is fetched
// again elsewhere. When a bad copy's bytes came from several peers (a
// request moved after a stall), none is dropped yet: once a good copy is
// here, each peer's byte ranges are compared with it, and those whose
// bytes differ are dropped and reported.
//
// # Transport and time
//
// The engine does not know WebRTC: it talks to [Link]s (peer/rtc provides
// pion data channels; tests and `fusioncast simulate` provide simulated
// ones; [Pipe] links two engines in memory) and reads time from a [Clock],
// so the same code runs in players and in a simulation of thousands of
// viewers. HTTP fetches go through Config.Fetch. [SwarmFor] names a
// stream's swarm.
package peer
