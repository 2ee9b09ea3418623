// Package rtc finds the peers of a swarm and opens WebRTC data channels to
// them: a WebTorrent tracker client over websocket (the tracker is package
// fusioncast/tracker, its messages package fusioncast/tracker/wire) and
// peer connections made with pion/webrtc. It carries no segments itself:
// the peer engine speaks the fusioncast/1 protocol (package
// fusioncast/peer/proto) over the [Conn]s that [Run] hands it.
// docs/peer-connections.md describes the signalling; docs/tracker.md the
// tracker's messages; docs/protocol.md, section "Transport", the channel.
//
// # Joining a swarm
//
// [Run] connects to the tracker and announces (event "started", with the
// fusioncast extension: role, site, max_peers, upload_kbps, stats), then
// announces again every interval the tracker names, until its context
// ends; then it sends event "stopped", closes every connection and returns.
// It reconnects to the tracker with a backoff after a failure, and retries
// a refused announce the same way. Config.OnEdge hears when the tracker
// names the peer an edge fetcher, and that the role ends when the
// connection to the tracker is lost.
//
// # Signalling
//
// As the WebTorrent browser client does, offers and answers are complete
// session descriptions (no trickle ICE): a peer creates an offer, waits for
// ICE gathering to finish (at most 5 s), and sends
// {"type":"offer","sdp":"…"} in its announce; the tracker relays each
// offer to a different peer of the swarm, which answers the same way, and
// relays the answer back.
//
//	offerer                      tracker                      answerer
//	CreateDataChannel("fusioncast/1")
//	CreateOffer, gather ──announce{offers}──▶ ──offer──▶ SetRemoteDescription
//	                                                      CreateAnswer, gather
//	SetRemoteDescription ◀──answer── ◀──announce{answer}──
//	        ◀════════════ ICE, DTLS, SCTP: the data channel opens ════════════▶
//
// The offerer opens the only data channel, labelled proto.Label, ordered
// and reliable. The answerer takes no other: a plain WebTorrent client's
// channel (another label) closes the connection.
//
// # Limits
//
// A peer keeps at most Config.MaxPeers connections, counting its offers
// that wait for an answer, and at most one connection with each peer. It
// sends at most Config.Offers offers per announce, never more than half of
// the places it has left, and withdraws an offer nobody answered (after
// 10 s when it needs the place or announces again, after 50 s in any
// case). Announces to the tracker are paced to 3 per second with bursts of
// 12; answers go at once (the tracker charges them to the offers it
// relayed).
//
// # Connections
//
// Config.OnConn receives each [Conn] when its channel opens, on the
// offering and the answering side alike; messages wait until OnConn
// returns, so that it can set [Conn.OnMessage] and [Conn.OnClose] first.
// [Conn.Send] queues a message without blocking; [Conn.BufferedAmount] and
// [Conn.OnBufferedAmountLow] pace large transfers (docs/protocol.md, "Flow
// control"). A connection whose channel closes, whose ICE fails or stays
// disconnected for 10 s, or that does not open in time, is closed and its
// OnClose called once.
//
// # Network
//
// Candidates are host candidates over UDP/IPv4 only, on the interfaces of
// [ICEConfig] (all but loopback by default); there are no STUN or TURN
// servers and mDNS is off, so no traffic goes anywhere but to the peers'
// addresses that the tracker relays.
//
// Each connection has a UDP socket of its own, or, with
// ICEConfig.ListenUDP (a relay), all share one (pion's ICE UDP mux). On
// Linux their system calls are batched unless ICEConfig.NoBatch: the
// shared socket queues writes and sends each peer's run of packets in one
// sendmsg (UDP GSO) and reads up to 64 datagrams per recvmmsg; a
// connection's own socket reads up to 16 per recvmmsg. ICEConfig.SocketBuffer
// sizes the kernel buffers (4 MiB for a relay by default).
//
// The build uses our patched pion/dtls and pion/sctp
// (internal/third_party/pion), and every API turns on their two switches:
// DTLS direct writes (no context per record, one record buffer per
// connection) and SCTP's pooled packet buffers, both safe because every
// connection is SCTP over DTLS over UDP. docs/peer-connections.md,
// "Relays", has the figures.
package rtc
