package rtc_test

import (
	"context"
	"log/slog"
	"os"
	"os/signal"

	"fusioncast/peer/proto"
	"fusioncast/peer/rtc"
	"fusioncast/tracker/wire"
)

// A viewer joins a swarm and says hello on every connection it gets.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var swarm wire.ID
	copy(swarm[:], "fusioncast-demo-0001")
	err := rtc.Run(ctx, rtc.Config{
		TrackerURL: "ws://127.0.0.1:8000/announce",
		InfoHash:   swarm,
		OnEdge: func(edge bool, rank int) {
			slog.Info("edge fetcher", "edge", edge, "rank", rank)
		},
		OnConn: func(c *rtc.Conn) {
			c.OnMessage(func(b []byte) {
				if m, err := proto.Parse(b); err == nil {
					slog.Info("message", "from", c.RemoteID(), "type", m.Type())
				}
			})
			c.OnClose(func() { slog.Info("gone", "peer", c.RemoteID()) })
			_ = c.Send(proto.Append(nil, &proto.Hello{Version: proto.Version, Swarm: proto.SwarmID(swarm)}))
		},
	})
	if err != nil {
		slog.Error("bad configuration", "err", err)
	}
}
