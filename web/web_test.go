package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestIndex(t *testing.T) {
	resp := get(t, Handler(), http.MethodGet, "/", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("GET /: Content-Type %q, want text/html", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("GET /: Cache-Control %q, want no-cache", cc)
	}
	html := body(t, resp)
	for _, want := range []string{
		"<title>fusioncast live</title>",
		`<script type="module" src="static/player.js">`,
		`src="static/vendor/hls.js/hls.min.js"`,
		`href="static/player.css"`,
		"<video",
		"muted",
		"autoplay",
		`data-stat="peers"`,
		`data-stat="uploaded"`,
		`data-stat="edge"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("GET /: page does not contain %q", want)
		}
	}
}

func TestAssets(t *testing.T) {
	h := Handler()
	for _, tc := range []struct {
		path, ctype, cache, contains string
	}{
		{"/static/player.js", "text/javascript; charset=utf-8", "no-cache", "window.fusioncastStats"},
		{"/static/player.css", "text/css; charset=utf-8", "no-cache", ".stats"},
		{"/static/proto.js", "text/javascript; charset=utf-8", "no-cache", "export function decode"},
		{"/static/peer.js", "text/javascript; charset=utf-8", "no-cache", "export class Engine"},
		{"/static/tracker-client.js", "text/javascript; charset=utf-8", "no-cache", "export class TrackerClient"},
		{"/static/p2p.js", "text/javascript; charset=utf-8", "no-cache", "export async function startP2P"},
		{"/static/playlist.js", "text/javascript; charset=utf-8", "no-cache", "export function parsePlaylist"},
		{"/static/vendor/hls.js/hls.min.js", "text/javascript; charset=utf-8", "public, max-age=3600", "Hls"},
		{"/static/vendor/hls.js/LICENSE", "text/plain; charset=utf-8", "public, max-age=3600", "Apache"},
		{"/static/vendor/hls.js/VERSION", "text/plain; charset=utf-8", "public, max-age=3600", "1."},
	} {
		resp := get(t, h, http.MethodGet, tc.path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", tc.path, resp.StatusCode)
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if got := resp.Header.Get("Cache-Control"); got != tc.cache {
			t.Errorf("GET %s: Cache-Control %q, want %q", tc.path, got, tc.cache)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q, want nosniff", tc.path, got)
		}
		if b := body(t, resp); !strings.Contains(b, tc.contains) {
			t.Errorf("GET %s: body does not contain %q", tc.path, tc.contains)
		}
	}
}

func TestNotFound(t *testing.T) {
	h := Handler()
	for _, p := range []string{
		"/nope",
		"/index.html",
		"/static/",
		"/static/vendor/",
		"/static/vendor/hls.js",
		"/static/missing.js",
		"/static/../static/player.js",
		"/live/demo/index.m3u8",
	} {
		if resp := get(t, h, http.MethodGet, p, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestMethods(t *testing.T) {
	h := Handler()
	resp := get(t, h, http.MethodHead, "/static/player.js", nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD: status %d", resp.StatusCode)
	}
	if b := body(t, resp); b != "" {
		t.Errorf("HEAD: body of %d bytes", len(b))
	}
	resp = get(t, h, http.MethodPost, "/", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: status %d, want 405", resp.StatusCode)
	}
	if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("POST /: Allow %q", got)
	}
}

func TestETag(t *testing.T) {
	h := Handler()
	resp := get(t, h, http.MethodGet, "/static/player.js", nil)
	etag := resp.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || len(etag) < 8 {
		t.Fatalf("ETag %q", etag)
	}
	resp = get(t, h, http.MethodGet, "/static/player.js", map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", resp.StatusCode)
	}
	if other := get(t, h, http.MethodGet, "/", nil).Header.Get("ETag"); other == etag {
		t.Errorf("index.html and player.js share ETag %q", etag)
	}
}
