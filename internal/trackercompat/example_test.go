package trackercompat_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"fusioncast/internal/browser"
	"fusioncast/internal/trackercompat"
)

// Check a tracker at ws://127.0.0.1:8000 with three WebTorrent clients.
// Run it inside a network namespace with a self-veth (see package
// fusioncast/internal/netns), or WebRTC cannot connect.
func ExampleRun() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	page := httptest.NewServer(trackercompat.Handler())
	defer page.Close()
	bctx, bcancel, err := browser.Start(ctx, browser.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bcancel()

	res, err := trackercompat.Run(ctx, bctx, page.URL+"/", "ws://127.0.0.1:8000", 3)
	if err != nil {
		fmt.Println("could not run:", err)
		return
	}
	fmt.Printf("%d of 3 pairs connected\n", res.ConnectedPairs())
	if err := res.Check(); err != nil {
		fmt.Println(err)
	}
}
