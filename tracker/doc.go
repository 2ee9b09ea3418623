// Package tracker is fusioncast's websocket tracker: a drop-in WebTorrent
// tracker (browsers and p2p-media-loader find each other through it) with
// fusioncast's extensions. The wire format lives in [fusioncast/tracker/wire]
// and is specified in docs/tracker.md.
//
// # Pairing
//
// A peer announces with up to 20 WebRTC offers; the tracker relays each to
// a different peer of the swarm and relays the answers back, unchanged.
// Targets are chosen by locality: relay agents of the peer's site first,
// then viewers of its site, then anyone, each tier in random order, and no
// peer is offered more than its max_peers offers per interval. A relay's
// offers go to no other relay, and first to its site's edge fetchers (see
// below), who then wait for its copy instead of fetching from the origin. A
// viewer's site is the configured [Site] containing its address, or its /24
// (IPv4) or /64 (IPv6); a relay names its site.
//
// # Edge fetchers
//
// In each swarm the tracker names a few fusioncast viewers (Config.
// EdgeFetchers, oldest first) edge fetchers: they fetch each new segment from
// the origin as soon as it is published, and the other peers take it from
// them. The assignment rides on announce responses under the "fusioncast"
// key; when an edge fetcher leaves, the ones after it move up a rank, the
// next viewer is promoted, and every viewer whose rank changed is told at
// once by an unsolicited announce response.
//
// # Limits
//
// Every resource a client can hold is bounded by [Config]: message size,
// connections in all and per source address, pending handshakes (the oldest
// is evicted at the cap), announces per second per connection, the send
// queue of each connection (a peer that does not read is dropped), peers per
// swarm, swarms, swarms per connection. Each offer relayed to a connection
// gives it an answer credit (a bounded number), which an answer spends
// instead of an announce token, so that a peer may answer every offer it
// was sent however many come at once; answers beyond the offers received
// take tokens like any announce. Each refusal is a "failure reason" the
// client can read. Idle connections are pinged and time out.
//
// # Admin API and metrics
//
// /admin/... serves JSON about swarms, peers and the server and can kick a
// peer; it wants "Authorization: Bearer <token>", and without a token it
// answers loopback only (and is off when the tracker listens beyond
// loopback). /metrics serves Prometheus metrics and /healthz says ok.
//
// # Concurrency
//
// gorilla/websocket does the opening handshake in the HTTP server's
// goroutine; the connection's descriptor then moves to one of GOMAXPROCS
// event loops (loop_linux.go), which alone reads it, writes it and closes
// it. A loop reads the frames (frame.go), handles each message at once and,
// at the end of its turn, writes every connection's queued replies in one
// write each; a socket that is full waits for EPOLLOUT. Handlers never
// block: each swarm has a mutex held briefly, and sending to a connection
// only queues (a bounded queue) and marks it for its loop. So an idle
// connection is a socket and a small struct, with no goroutine or buffer.
// The package builds on Linux only.
package tracker
