// Package relay is fusioncast's relay agent for a campus LAN: it joins the
// origin's multicast group ([fusioncast/multicast]), keeps a bounded window
// of verified segments and the newest playlist, and gives them to the LAN
// three ways: to a [Seeder] (a peer engine in relay mode, which serves the
// swarm over WebRTC), over plain HTTP with the origin's URLs for players
// that cannot use WebRTC ([Relay.Handler]; what it does not hold is
// redirected to the origin), and through its status page and metrics.
//
// Losses that FEC cannot mend are repaired from the origin over HTTP, by
// byte range. When multicast goes silent for [Config.Silence] the relay
// fetches the stream from the origin over HTTP itself (one copy for the
// whole LAN, each segment checked against the playlist's digest) and joins
// the group again now and then, so that it returns to multicast once the
// group carries the stream again, an interface flap included.
package relay
