package browser

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fusioncast/internal/netns"
	"fusioncast/internal/testenv"
)

// testTimeout bounds each browser test's work.
const testTimeout = 60 * time.Second

// requireChromium skips (or, in CI, fails) when no Chromium is installed.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := Find(); err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
}

// logs collects the lines given to Logf, and passes them on to t.Logf.
type logs struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
	l.t.Log(s)
}

func (l *logs) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.lines, func(s string) bool { return strings.Contains(s, sub) })
}

// start starts a browser for the test; t.Cleanup stops it and checks that
// nothing of it is left.
func start(t *testing.T, ctx context.Context, opts Options) context.Context {
	t.Helper()
	bctx, cancel, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := profileDir(bctx)
	t.Cleanup(func() {
		cancel()
		cancel() // twice is fine
		if pids := leftovers(dir, false); len(pids) > 0 {
			t.Errorf("browser processes left after cancel: %v", pids)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("profile directory %s left after cancel (stat: %v)", dir, err)
		}
	})
	return bctx
}

func TestBuildFlags(t *testing.T) {
	flags, err := buildFlags(Options{
		WindowSize: Size{800, 600},
		ExtraFlags: []string{"--disable-features=Translate", "--lang=fr", "--mute-audio", "--disable-gpu"},
	}, "/tmp/p")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range flags {
		if v, ok := f.value.(string); ok {
			got = append(got, "--"+f.name+"="+v)
		} else {
			got = append(got, "--"+f.name)
		}
	}
	want := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-features=WebRtcHideLocalIpsWithMdns,Translate",
		"--autoplay-policy=no-user-gesture-required",
		"--user-data-dir=/tmp/p", "--window-size=800,600",
		"--lang=fr", "--mute-audio",
	}
	if !slices.Equal(got, want) {
		t.Errorf("flags:\n got %q\nwant %q", got, want)
	}

	for _, bad := range []string{"lang=fr", "--", "--user-data-dir=/x", "--remote-debugging-port=9222"} {
		if _, err := buildFlags(Options{ExtraFlags: []string{bad}}, "/tmp/p"); !errors.Is(err, ErrBadFlag) {
			t.Errorf("ExtraFlags %q: err %v, want ErrBadFlag", bad, err)
		}
	}
}

func TestFind(t *testing.T) {
	t.Setenv(ChromiumEnv, "/nonexistent/chromium")
	if _, err := Find(); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find with a bad %s: %v, want ErrNotFound", ChromiumEnv, err)
	}
	t.Setenv(ChromiumEnv, "")
	requireChromium(t)
	path, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	if isScript(path) {
		t.Logf("Find returned the launcher script %s", path)
	}
	t.Logf("chromium: %s", path)
}

// TestStartTabsAndConsole runs a browser on the host's loopback only: it
// checks the command line, console and exception forwarding, and tabs.
func TestStartTabsAndConsole(t *testing.T) {
	requireChromium(t)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		fmt.Fprintf(w, `<!doctype html><title>%s</title><script>
console.log("hello from", %q, 42);
setTimeout(() => { throw new Error("boom in " + %q); }, 0);
</script>`, name, name, name)
	}))
	defer srv.Close()

	l := &logs{t: t}
	bctx := start(t, ctx, Options{Logf: l.logf, WindowSize: Size{640, 480}})

	// The browser's main process runs with exactly our flags.
	dir := profileDir(bctx)
	var main []string
	for _, pid := range leftovers(dir, false) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--type=") }) {
			main = args[1:]
		}
	}
	want := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-features=WebRtcHideLocalIpsWithMdns",
		"--autoplay-policy=no-user-gesture-required",
		"--user-data-dir=" + dir, "--window-size=640,480",
		"--remote-debugging-pipe", "about:blank",
	}
	if !slices.Equal(main, want) {
		t.Errorf("browser command line:\n got %q\nwant %q", main, want)
	}

	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/one")); err != nil {
		t.Fatal(err)
	}
	tab, tabCancel := NewTab(bctx)
	defer tabCancel()
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/two")); err != nil {
		t.Fatal(err)
	}
	for c, want := range map[context.Context]string{bctx: "one", tab: "two"} {
		title, err := chromedp.Run(c, chromedp.Title())
		if err != nil {
			t.Fatal(err)
		}
		if title != want {
			t.Errorf("title %q, want %q", title, want)
		}
	}

	deadline := time.Now().Add(10 * time.Second)
	for _, want := range []string{
		"browser tab 0: console.log: hello from one 42",
		"browser tab 1: console.log: hello from two 42",
		"browser tab 0: exception: Uncaught Error: boom in one",
		"browser tab 1: exception: Uncaught Error: boom in two",
	} {
		for !l.has(want) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !l.has(want) {
			t.Errorf("no log line containing %q", want)
		}
	}
}

// TestIsolatedTabCache: tabs from NewTab share the browser's HTTP cache, a
// tab from NewIsolatedTab has its own, so a cacheable resource reaches the
// server again only from the isolated tab.
func TestIsolatedTabCache(t *testing.T) {
	requireChromium(t)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()

	var mu sync.Mutex
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/page":
			// The page fetches the resource and shows it in its title.
			w.Header().Set("Cache-Control", "no-store")
			fmt.Fprint(w, `<!doctype html><title>loading</title><script>
fetch("/resource").then(r => r.text()).then(t => { document.title = t; });
</script>`)
		case "/resource":
			mu.Lock()
			hits++
			mu.Unlock()
			w.Header().Set("Cache-Control", "public, max-age=3600, immutable")
			fmt.Fprint(w, "fetched")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	bctx := start(t, ctx, Options{Logf: t.Logf})
	shared, sharedCancel := NewTab(bctx)
	defer sharedCancel()
	isolated, isolatedCancel := NewIsolatedTab(bctx)
	defer isolatedCancel()
	for _, tab := range []struct {
		name     string
		ctx      context.Context
		wantHits int
	}{
		{"first tab", bctx, 1},
		{"NewTab", shared, 1}, // from the cache the first tab filled
		{"NewIsolatedTab", isolated, 2},
	} {
		if err := chromedp.Do(tab.ctx, chromedp.Navigate(srv.URL+"/page")); err != nil {
			t.Fatalf("%s: %v", tab.name, err)
		}
		for {
			title, err := chromedp.Run(tab.ctx, chromedp.Title())
			if err != nil {
				t.Fatalf("%s: %v", tab.name, err)
			}
			if title == "fetched" {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: the page did not fetch the resource (title %q)", tab.name, title)
			case <-time.After(20 * time.Millisecond):
			}
		}
		mu.Lock()
		got := hits
		mu.Unlock()
		if got != tab.wantHits {
			t.Errorf("after the %s fetched it, the server saw %d requests for the resource, want %d", tab.name, got, tab.wantHits)
		}
	}
}

// webrtcPage makes two RTCPeerConnections in one page, without STUN servers,
// connects them with a data channel, sends "hello" and puts what arrives in
// document.title. window.result records the local candidates.
const webrtcPage = `<!doctype html>
<title>waiting</title>
<script>
const result = {candidates: [], error: ""};
window.result = result;
(async () => {
  try {
    const pc1 = new RTCPeerConnection({iceServers: []});
    const pc2 = new RTCPeerConnection({iceServers: []});
    // Candidates wait until the receiver has its remote description.
    const ready = new Map([[pc1, false], [pc2, false]]);
    const queued = new Map([[pc1, []], [pc2, []]]);
    const add = (pc, c) => pc.addIceCandidate(c).catch(e => console.error("addIceCandidate", String(e)));
    const deliver = (pc, c) => ready.get(pc) ? add(pc, c) : queued.get(pc).push(c);
    const markReady = pc => { ready.set(pc, true); queued.get(pc).forEach(c => add(pc, c)); };
    for (const [from, to, name] of [[pc1, pc2, "pc1"], [pc2, pc1, "pc2"]]) {
      from.onicecandidate = e => {
        if (!e.candidate) return;
        const c = e.candidate;
        result.candidates.push({pc: name, type: c.type || "", address: c.address || "", protocol: c.protocol || ""});
        console.log(name, "candidate", c.candidate);
        deliver(to, c);
      };
      from.oniceconnectionstatechange = () => console.log(name, "ice", from.iceConnectionState);
    }
    pc2.ondatachannel = e => { e.channel.onmessage = m => { document.title = m.data; }; };
    const dc = pc1.createDataChannel("test");
    dc.onopen = () => dc.send("hello");
    await pc1.setLocalDescription(await pc1.createOffer());
    await pc2.setRemoteDescription(pc1.localDescription);
    markReady(pc2);
    await pc2.setLocalDescription(await pc2.createAnswer());
    await pc1.setRemoteDescription(pc2.localDescription);
    markReady(pc1);
  } catch (e) {
    result.error = String(e);
    console.error("webrtc setup", String(e));
  }
})();
</script>`

type candidate struct {
	PC       string `json:"pc"`
	Type     string `json:"type"`
	Address  string `json:"address"`
	Protocol string `json:"protocol"`
}

// pageResult is webrtcPage's window.result.
type pageResult struct {
	Candidates []candidate `json:"candidates"`
	Error      string      `json:"error"`
}

// checkWebRTC loads the WebRTC page from url, waits up to 15 s for the data
// channel's "hello" and checks that a host candidate with address hostIP was
// gathered.
func checkWebRTC(t *testing.T, bctx context.Context, url, hostIP string) {
	t.Helper()
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	_, pollErr := chromedp.Run(bctx, chromedp.Poll[string](`document.title === "hello" && document.title`,
		chromedp.WithPollingInterval(100*time.Millisecond),
		chromedp.WithPollingTimeout(15*time.Second)))
	res, err := chromedp.Run(bctx, chromedp.Evaluate[pageResult](`window.result`))
	if err != nil {
		t.Fatalf("reading window.result: %v", err)
	}
	t.Logf("candidates: %+v", res.Candidates)
	if res.Error != "" {
		t.Errorf("page error: %s", res.Error)
	}
	if pollErr != nil {
		t.Fatalf("data channel message did not arrive: %v", pollErr)
	}
	if !slices.ContainsFunc(res.Candidates, func(c candidate) bool {
		return c.Type == "host" && c.Address == hostIP
	}) {
		t.Errorf("no host candidate with address %s among %+v", hostIP, res.Candidates)
	}
}

// serveWebRTC serves webrtcPage on l.
func serveWebRTC(t *testing.T, l net.Listener) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(webrtcPage))
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// TestChromiumInNamespace proves that WebRTC works in a network namespace:
// the test binary runs again inside a namespace with a self-veth, serves the
// page on the veth address, and a Chromium started inside connects two peer
// connections over a host candidate with that address.
func TestChromiumInNamespace(t *testing.T) {
	requireChromium(t)
	const hostIP = "10.213.4.1"
	if !netns.InNamespace(t, func(ns *netns.NS) error {
		return ns.AddSelfVeth(hostIP, "10.213.4.2")
	}) {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	l, err := net.Listen("tcp", hostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serveWebRTC(t, l)
	bctx := start(t, ctx, Options{Logf: t.Logf})
	checkWebRTC(t, bctx, srv.URL, hostIP)
}

// TestChromiumNetNSOption does the same without re-executing the test:
// Options.NetNS starts the browser inside the namespace, and netns.NS.Do
// puts the page's listener there.
func TestChromiumNetNSOption(t *testing.T) {
	requireChromium(t)
	if err := netns.Available(); err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
	const hostIP = "10.213.5.1"
	ns, err := netns.New("fctb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := ns.AddSelfVeth(hostIP, "10.213.5.2"); err != nil {
		t.Fatal(err)
	}
	var l net.Listener
	if err := ns.Do(func() (err error) {
		l, err = net.Listen("tcp", hostIP+":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := serveWebRTC(t, l)

	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	bctx := start(t, ctx, Options{Logf: t.Logf, NetNS: ns.Name})
	checkWebRTC(t, bctx, srv.URL, hostIP)

	// The browser's processes are inside the namespace.
	out, err := exec.Command("ip", "netns", "pids", ns.Name).Output()
	if err != nil {
		t.Fatal(err)
	}
	inside := strings.Fields(string(out))
	pids := leftovers(profileDir(bctx), false)
	if len(pids) == 0 {
		t.Error("found no browser process")
	}
	for _, pid := range pids {
		if !slices.Contains(inside, fmt.Sprint(pid)) {
			t.Errorf("browser process %d is not inside %s", pid, ns.Name)
		}
	}
}
