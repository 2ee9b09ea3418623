package load_test

import (
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"fusioncast/tracker/wire"
)

// fakeTracker is a minimal WebTorrent tracker for the load tool's tests,
// with knobs for misbehaving. Like a real tracker it replies to one
// connection's requests in order: every message to a connection goes
// through that connection's queue, and a reply waits for the replies
// before it.
type fakeTracker struct {
	// Delay is how long an announce waits for its response; every
	// SlowEvery-th announce of a connection waits SlowDelay instead.
	Delay     time.Duration
	SlowEvery int
	SlowDelay time.Duration
	// AckAnswers replies to every answer with an announce response (some
	// trackers do; bittorrent-tracker does not).
	AckAnswers bool
	// GarbageEvery sends, after every GarbageEvery-th announce response of
	// a connection, a text message that is not JSON and a binary one.
	GarbageEvery int
	// CloseAfter closes a connection after its CloseAfter-th announce
	// response.
	CloseAfter int
	// RejectEvery refuses every RejectEvery-th handshake.
	RejectEvery int

	URL string

	mu         sync.Mutex
	swarms     map[wire.ID][]*fakeConn
	byPeer     map[wire.ID]*fakeConn
	handshakes int

	maxOutstanding atomic.Int64 // most announces of one connection unanswered at once
	normalCloses   atomic.Int64 // close frames with code 1000 received
}

type fakeConn struct {
	ws          *websocket.Conn
	q           chan fakeMsg
	outstanding atomic.Int64
	announces   int // owned by the reader
	next        int // round robin over the swarm for offers
}

type fakeMsg struct {
	at     time.Time // not before
	typ    int
	b      []byte
	reply  bool // an announce response: ends an outstanding announce
	closer bool // close the connection after it
}

// start serves the fake tracker on a loopback port until the test ends.
func (f *fakeTracker) start(t *testing.T) *fakeTracker {
	t.Helper()
	f.swarms = map[wire.ID][]*fakeConn{}
	f.byPeer = map[wire.ID]*fakeConn{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	f.URL = "ws://" + ln.Addr().String() + "/announce"
	return f
}

var upgrader = websocket.Upgrader{ReadBufferSize: 16 << 10, WriteBufferSize: 16 << 10}

func (f *fakeTracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.handshakes++
	reject := f.RejectEvery > 0 && f.handshakes%f.RejectEvery == 0
	f.mu.Unlock()
	if reject {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &fakeConn{ws: ws, q: make(chan fakeMsg, 4096)}
	done := make(chan struct{})
	go c.write(done)
	defer func() {
		f.mu.Lock()
		for id, pc := range f.byPeer {
			if pc == c {
				delete(f.byPeer, id)
			}
		}
		for ih, cs := range f.swarms {
			f.swarms[ih] = slices.DeleteFunc(cs, func(x *fakeConn) bool { return x == c })
		}
		close(c.q) // under mu: nobody relays to c any more
		f.mu.Unlock()
		<-done
		_ = ws.Close()
	}()
	ws.SetCloseHandler(func(code int, text string) error {
		if code == websocket.CloseNormalClosure {
			f.normalCloses.Add(1)
		}
		return nil
	})
	var req wire.Request
	for {
		typ, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if typ != websocket.TextMessage || wire.ParseRequest(msg, &req) != nil || req.Action != wire.ActionAnnounce {
			continue
		}
		now := time.Now()
		f.mu.Lock()
		if f.byPeer[req.PeerID] == nil {
			f.byPeer[req.PeerID] = c
			f.swarms[req.InfoHash] = append(f.swarms[req.InfoHash], c)
		}
		if req.Answer != nil {
			if to := f.byPeer[req.ToPeerID]; to != nil {
				to.push(fakeMsg{at: now, b: wire.AppendAnswer(nil, req.InfoHash, req.PeerID, req.OfferID, req.Answer)})
			}
			f.mu.Unlock()
			if f.AckAnswers {
				c.push(fakeMsg{at: now, b: wire.AppendAnnounceResponse(nil, req.InfoHash, 120, 0, 1, nil)})
			}
			continue
		}
		others := f.swarms[req.InfoHash]
		for i := range req.Offers {
			if len(others) < 2 {
				break
			}
			c.next++
			to := others[c.next%len(others)]
			if to == c {
				c.next++
				to = others[c.next%len(others)]
			}
			o := &req.Offers[i]
			to.push(fakeMsg{at: now, b: wire.AppendOffer(nil, req.InfoHash, req.PeerID, o.ID, o.SDP)})
		}
		f.mu.Unlock()

		c.announces++
		n := c.outstanding.Add(1)
		for m := f.maxOutstanding.Load(); n > m && !f.maxOutstanding.CompareAndSwap(m, n); m = f.maxOutstanding.Load() {
		}
		delay := f.Delay
		if f.SlowEvery > 0 && c.announces%f.SlowEvery == 0 {
			delay = f.SlowDelay
		}
		c.push(fakeMsg{at: now.Add(delay), b: wire.AppendAnnounceResponse(nil, req.InfoHash, 120, 0, 1, nil), reply: true,
			closer: f.CloseAfter > 0 && c.announces == f.CloseAfter})
		if f.GarbageEvery > 0 && c.announces%f.GarbageEvery == 0 {
			c.push(fakeMsg{at: now.Add(delay), b: []byte("this is not JSON")})
			c.push(fakeMsg{at: now.Add(delay), typ: websocket.BinaryMessage, b: []byte{1, 2, 3}})
		}
	}
}

// push queues m; the caller is c's reader or holds the tracker's mu.
func (c *fakeConn) push(m fakeMsg) {
	select {
	case c.q <- m:
	default: // a peer that does not read: drop, as a tracker would
	}
}

// write sends the queue in order, each message not before its time.
func (c *fakeConn) write(done chan<- struct{}) {
	defer close(done)
	for m := range c.q {
		if d := time.Until(m.at); d > 0 {
			time.Sleep(d)
		}
		if m.reply {
			c.outstanding.Add(-1)
		}
		typ := m.typ
		if typ == 0 {
			typ = websocket.TextMessage
		}
		if err := c.ws.WriteMessage(typ, m.b); err != nil || m.closer {
			_ = c.ws.Close()
			for range c.q {
			}
			return
		}
	}
}
