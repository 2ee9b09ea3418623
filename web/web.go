package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed static
var static embed.FS

const (
	// cacheOwn is sent with the page and our own assets: they change with
	// every build, and revalidating by ETag is cheap.
	cacheOwn = "no-cache"
	// cacheVendor is sent with vendored third-party files, which only change
	// when their pinned version does.
	cacheVendor = "public, max-age=3600"
)

// contentTypes maps file extensions to Content-Type. Files with other
// extensions (LICENSE, VERSION) are plain text.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// asset is one embedded file, ready to serve.
type asset struct {
	name  string // base name, for http.ServeContent
	data  []byte
	etag  string
	ctype string
	cache string
}

// assets maps URL paths ("/", "/static/player.js", …) to files. It is built
// once, on first use.
var assets = sync.OnceValue(func() map[string]*asset {
	m := make(map[string]*asset)
	_ = fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			ctype = "text/plain; charset=utf-8"
		}
		cache := cacheOwn
		if strings.HasPrefix(p, "static/vendor/") {
			cache = cacheVendor
		}
		m["/"+p] = &asset{
			name:  path.Base(p),
			data:  data,
			etag:  `"` + hex.EncodeToString(sum[:8]) + `"`,
			ctype: ctype,
			cache: cache,
		}
		return nil
	})
	if index, ok := m["/static/index.html"]; ok {
		m["/"] = index
	}
	return m
})

// Handler returns the handler for the player page and its assets; see the
// package documentation for the routes. It answers GET and HEAD; other
// methods get 405. It is safe for concurrent use.
func Handler() http.Handler {
	files := assets()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("Cache-Control", a.cache)
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.data))
	})
}
