// Package multicast delivers a live stream's segments and playlists over IP
// multicast: the origin sends each once to a group, and relay agents on the
// receiving networks join it. It has two halves: the codec, which turns
// objects into RTP packets and packets back into verified objects and
// opens no sockets, and the sockets ([Sender], [Listener]), which move
// those packets. docs/multicast.md specifies the format and explains its
// choices.
//
// # Objects
//
// Every segment and playlist is an [Object]: a stream-wide object id (+1
// per object sent, so receivers see what they missed), a [Kind], a name
// under /live/{stream}/ and its bytes. Its [Info] (id, kind, size, SHA-256,
// name) is signed with the origin's Ed25519 key.
//
// # Sending
//
// A [Packetizer] cuts an object into symbols of S bytes (1280 by default,
// so a packet is 1316 bytes of UDP payload), groups them in blocks of at
// most 64, adds Reed-Solomon parity to each block (20% by default), and
// returns the RTP packets: the INFO, the blocks' data and parity symbols,
// with the INFO repeated in the middle and at the end. The packets go to
// [Sender.Send] as they are.
//
// # Receiving
//
// A [Reassembler] takes the packets of one stream ([Reassembler.Add]) and
// delivers each object whose bytes hash to the digest of an INFO whose
// signature verifies ([Received]), rebuilding lost symbols from parity.
// What multicast cannot bring (too many packets lost, every INFO copy
// lost, ids never seen, symbols that were forged or damaged) goes to a
// [RepairFunc] the caller gives, usually an HTTP fetch from the origin, and
// what that returns is verified the same way. [Reassembler.Run] drives the
// timeouts and the repairs. Memory, objects in flight and repairs are
// bounded ([ReassemblerConfig]); [Reassembler.Stats] counts everything,
// drops by [DropReason].
//
// A [Receiver] puts the pieces together for a relay: a [Listener] feeds a
// Reassembler that repairs through [HTTPRepair], and each verified object
// is written atomically to a folder (fusioncast mcast recv) or handed to a
// function.
//
// On the origin's side a [Publisher] gives each object its id, packetizes
// and sends it through a [Sender], and keeps the newest objects so that
// its ServeHTTP can answer repairs (the object's bytes or ranges, with the
// signed INFO in the [InfoHeader] header). [Metrics] turns the sender's,
// publisher's, listener's and reassembler's counters into Prometheus
// metrics.
//
// # Keys
//
// [LoadOrCreateKey] gives the origin its private key (a PKCS #8 PEM file
// of mode 0600, made on first start); [WritePublicKey] and
// [LoadPublicKey] carry the public key to receivers.
package multicast
