package wire_test

import (
	"errors"
	"fmt"

	"fusioncast/tracker/wire"
)

// A tracker reads an announce, answers it and relays its offer to another
// peer of the swarm.
func Example() {
	msg := []byte(`{"numwant":5,"uploaded":0,"downloaded":0,"left":null,"event":"started",` +
		`"action":"announce","info_hash":"fusioncast-demo-0001","peer_id":"-WW0208-\u00de\u00ad\u00be\u00ef00000000",` +
		`"offers":[{"offer":{"type":"offer","sdp":"v=0\r\n"},"offer_id":"offer-id-00000000001"}]}`)

	var req wire.Request // reuse one per connection: parsing then allocates nothing
	if err := wire.ParseRequest(msg, &req); err != nil {
		fmt.Printf("%s\n", wire.AppendFailure(nil, wire.ActionAnnounce, &req.InfoHash, err.Error()))
		return
	}
	fmt.Println(req.Action, req.Event, req.PeerID, req.Left, len(req.Offers))

	var buf []byte
	buf = wire.AppendAnnounceResponse(buf[:0], req.InfoHash, 120, 0, 1, nil)
	fmt.Printf("to the announcer: %s\n", buf)

	o := req.Offers[0] // o.SDP aliases msg: relay it before msg is reused
	buf = wire.AppendOffer(buf[:0], req.InfoHash, req.PeerID, o.ID, o.SDP)
	fmt.Printf("to another peer: %s\n", buf)
	// Output:
	// announce started 2d5757303230382ddeadbeef3030303030303030 -1 1
	// to the announcer: {"complete":0,"incomplete":1,"action":"announce","interval":120,"info_hash":"fusioncast-demo-0001"}
	// to another peer: {"action":"announce","offer":{"type":"offer","sdp":"v=0\r\n"},"offer_id":"offer-id-00000000001","peer_id":"-WW0208-\u00de\u00ad\u00be\u00ef00000000","info_hash":"fusioncast-demo-0001"}
}

// A rejected request's error is a failure reason fit to send back.
func ExampleParseRequest_failure() {
	var req wire.Request
	err := wire.ParseRequest([]byte(`{"action":"announce","info_hash":"fusioncast-demo-0001","peer_id":"too short"}`), &req)
	fmt.Println(errors.Is(err, wire.ErrMalformed))
	fmt.Printf("%s\n", wire.AppendFailure(nil, req.Action, &req.InfoHash, err.Error()))
	// Output:
	// true
	// {"action":"announce","failure reason":"malformed message: invalid peer_id","info_hash":"fusioncast-demo-0001"}
}

// A client reads what the tracker sends.
func ExampleParseResponse() {
	var resp wire.Response
	msg := []byte(`{"complete":3,"incomplete":7,"action":"announce","interval":120,"info_hash":"fusioncast-demo-0001",` +
		`"fusioncast":{"v":1,"edge":true,"edge_rank":1,"site":"lab-3"}}`)
	if err := wire.ParseResponse(msg, &resp); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Action, resp.Interval, resp.Complete, resp.Incomplete, resp.HasExt, resp.Ext.Edge, resp.Ext.EdgeRank, resp.Ext.Site)
	// Output:
	// announce 120 3 7 true true 1 lab-3
}
