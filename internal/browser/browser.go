package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ChromiumEnv is the environment variable that names the browser binary to
// use, before any search of PATH.
const ChromiumEnv = "FUSIONCAST_CHROMIUM"

var (
	// ErrNotFound is returned by [Find] when no Chromium is installed.
	ErrNotFound = errors.New("browser: chromium not found")
	// ErrBadFlag is returned by [Start] for a malformed or reserved flag in
	// [Options.ExtraFlags].
	ErrBadFlag = errors.New("browser: bad flag")
)

// names are the programs that Find looks for on PATH, in order.
var names = []string{"chromium", "chromium-browser", "google-chrome"}

// realBinaries maps a launcher script's name to the binaries it may start.
// Distribution launchers add flags of their own (Debian's adds
// --enable-gpu-rasterization, --load-extension=..., --disable-dev-shm-usage
// and more), so Find skips them to keep the command line exactly ours.
var realBinaries = map[string][]string{
	"chromium":         {"/usr/lib/chromium/chromium"},
	"chromium-browser": {"/usr/lib/chromium-browser/chromium-browser", "/usr/lib/chromium/chromium"},
	"google-chrome":    {"/opt/google/chrome/chrome"},
}

// Find returns the path of the Chromium binary: $FUSIONCAST_CHROMIUM if set
// (which must then exist), else the first of chromium, chromium-browser and
// google-chrome on PATH. When what it finds on PATH is a launcher shell script
// and the binary that script starts is where the distribution puts it (such
// as Debian's /usr/lib/chromium/chromium), Find returns that binary instead,
// so that no flag is added behind our back.
func Find() (string, error) {
	if p := os.Getenv(ChromiumEnv); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v", ErrNotFound, ChromiumEnv, p, err)
		}
		return path, nil
	}
	for _, name := range names {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if !isScript(path) {
			return path, nil
		}
		for _, real := range realBinaries[name] {
			if fi, err := os.Stat(real); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 && !isScript(real) {
				return real, nil
			}
		}
		return path, nil
	}
	return "", fmt.Errorf("%w: set %s or install one of %s", ErrNotFound, ChromiumEnv, strings.Join(names, ", "))
}

// isScript reports whether the file at path starts with "#!".
func isScript(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [2]byte
	n, _ := f.Read(b[:])
	return n == 2 && string(b[:]) == "#!"
}

// Size is a width and a height in CSS pixels.
type Size struct {
	Width, Height int
}

// Options configures [Start]. The zero value is usable.
type Options struct {
	// ExecPath is the browser binary. If empty, [Find] chooses it.
	ExecPath string

	// Logf receives the console messages and the uncaught JavaScript
	// exceptions of every tab, one call per message (tests pass t.Logf). It
	// is not called after the browser's cancel func returns. If nil, they are
	// dropped.
	Logf func(format string, args ...any)

	// WindowSize is the browser window's size. If zero, 1280x720.
	WindowSize Size

	// ExtraFlags are more command-line flags, each "--name" or
	// "--name=value". A flag that the defaults have replaces the default
	// value, except --disable-features and --enable-features, whose lists are
	// merged with ours (Chromium honours only the last of each).
	// --user-data-dir and --remote-debugging-* are reserved.
	ExtraFlags []string

	// NetNS, if not empty, is the name of a network namespace (as made by
	// package netns) to start the browser in, through `ip netns exec`. The
	// calling process stays where it is; it still talks to the browser over
	// the DevTools pipe.
	NetNS string
}

// defaultFlags are the browser's command-line flags, in order, before
// --user-data-dir and --window-size. chromedp adds only
// --remote-debugging-pipe and the first page, about:blank.
var defaultFlags = []flag{
	{"headless", true},
	{"no-sandbox", true}, // tests run as root, and Chromium's sandbox refuses root
	{"disable-gpu", true},
	{"disable-quic", true},
	{"no-first-run", true},
	{"disable-background-networking", true},
	{"disable-component-update", true},
	{"disable-sync", true},
	// Show WebRTC host candidates as IP addresses, not as random .local names.
	{"disable-features", "WebRtcHideLocalIpsWithMdns"},
	{"autoplay-policy", "no-user-gesture-required"},
}

// flag is one command-line flag: value is true for a bare --name, or a string.
type flag struct {
	name  string
	value any
}

// buildFlags returns the command line's flags for opts, with the profile in
// dir.
func buildFlags(opts Options, dir string) ([]flag, error) {
	flags := append([]flag(nil), defaultFlags...)
	flags = append(flags, flag{"user-data-dir", dir})
	w, h := opts.WindowSize.Width, opts.WindowSize.Height
	if w <= 0 || h <= 0 {
		w, h = 1280, 720
	}
	flags = append(flags, flag{"window-size", fmt.Sprintf("%d,%d", w, h)})

	for _, s := range opts.ExtraFlags {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(s, "--"), "=")
		if !strings.HasPrefix(s, "--") || name == "" {
			return nil, fmt.Errorf("%w: %q: want --name or --name=value", ErrBadFlag, s)
		}
		if name == "user-data-dir" || strings.HasPrefix(name, "remote-debugging-") {
			return nil, fmt.Errorf("%w: %q is reserved", ErrBadFlag, s)
		}
		var v any = true
		if hasValue {
			v = value
		}
		i := indexFlag(flags, name)
		switch {
		case i < 0:
			flags = append(flags, flag{name, v})
		case (name == "disable-features" || name == "enable-features") && hasValue:
			if old, ok := flags[i].value.(string); ok && old != "" {
				v = old + "," + value
			}
			flags[i].value = v
		default:
			flags[i].value = v
		}
	}
	return flags, nil
}

func indexFlag(flags []flag, name string) int {
	for i, f := range flags {
		if f.name == name {
			return i
		}
	}
	return -1
}

// state is what the contexts of one browser share.
type state struct {
	dir string

	mu     sync.Mutex
	logf   func(format string, args ...any)
	closed bool
	tabs   int
}

type stateKey struct{}

func stateFrom(ctx context.Context) *state {
	st, _ := ctx.Value(stateKey{}).(*state)
	return st
}

// Start starts a headless Chromium with a fresh profile in a temporary
// directory, and returns the context of its first tab (use it with chromedp.Do
// and chromedp.Run, or with [NewTab]) and a cancel func. The browser has
// started and the tab is open when Start returns. Ending ctx also kills the
// browser, but only the cancel func cleans up: it closes the browser, kills
// any of its processes that are left, removes the profile directory, and
// returns when all that is done. It is safe to call more than once.
//
// The command line is exactly:
//
//	--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
//	--disable-background-networking --disable-component-update --disable-sync
//	--disable-features=WebRtcHideLocalIpsWithMdns --autoplay-policy=no-user-gesture-required
//	--user-data-dir=<temp dir> --window-size=W,H <ExtraFlags> --remote-debugging-pipe about:blank
//
// chromedp.DefaultExecAllocatorOptions is not used.
func Start(ctx context.Context, opts Options) (context.Context, context.CancelFunc, error) {
	path := opts.ExecPath
	if path == "" {
		var err error
		if path, err = Find(); err != nil {
			return nil, nil, err
		}
	}
	dir, err := os.MkdirTemp("", "fusioncast-chromium-")
	if err != nil {
		return nil, nil, fmt.Errorf("browser: %w", err)
	}
	flags, err := buildFlags(opts, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	ipPath := ""
	if opts.NetNS != "" {
		if ipPath, err = exec.LookPath("ip"); err != nil {
			os.RemoveAll(dir)
			return nil, nil, fmt.Errorf("browser: NetNS needs iproute2: %w", err)
		}
	}

	allocOpts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			prepareCmd(cmd)
			if ipPath != "" {
				// ip netns exec execs the browser in place: same pid, same
				// pipes, same parent-death signal.
				cmd.Args = append([]string{"ip", "netns", "exec", opts.NetNS, cmd.Path}, cmd.Args[1:]...)
				cmd.Path = ipPath
			}
		}),
	}
	for _, f := range flags {
		allocOpts = append(allocOpts, chromedp.Flag(f.name, f.value))
	}

	st := &state{dir: dir, logf: opts.Logf}
	allocCtx, allocCancel := chromedp.NewExecAllocator(ctx, allocOpts...)
	allocCtx = context.WithValue(allocCtx, stateKey{}, st)
	tabCtx, tabCancel := chromedp.NewContext(allocCtx, chromedp.WithListener(st.listener(0)))

	var once sync.Once
	cancel := func() {
		once.Do(func() {
			st.mu.Lock()
			st.closed = true
			st.mu.Unlock()
			// Close gracefully, then make sure.
			cctx, ccancel := context.WithTimeout(tabCtx, 5*time.Second)
			chromedp.Cancel(cctx)
			ccancel()
			tabCancel()
			allocCancel()
			killLeftovers(dir)
			removeAll(dir)
		})
	}
	if err := chromedp.Do(tabCtx); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("browser: start %s: %w", path, err)
	}
	return tabCtx, cancel, nil
}

// NewTab opens another tab (in its own window, so it gets animation frames)
// in the browser of ctx, which must come from [Start], NewTab or
// [NewIsolatedTab] (whose browser context the new tab shares). The tab opens
// on the first chromedp action run with the returned context; cancel closes
// it. Its console goes to the same [Options.Logf].
func NewTab(ctx context.Context) (context.Context, context.CancelFunc) {
	return newTab(ctx)
}

// NewIsolatedTab opens a tab as [NewTab] does, in a browser context of its
// own (as an incognito window is): it shares no HTTP cache, cookies or
// storage with the browser's other tabs. Tabs of one browser context share
// its HTTP cache, so a cacheable response that one tab fetched is served to
// the next from the cache, not from the server; tabs that must act as
// separate viewers, each fetching what it plays from the network, need a
// context each. cancel closes the tab and disposes of its context.
func NewIsolatedTab(ctx context.Context) (context.Context, context.CancelFunc) {
	return newTab(ctx, chromedp.WithNewBrowserContext())
}

func newTab(ctx context.Context, opts ...chromedp.ContextOption) (context.Context, context.CancelFunc) {
	if st := stateFrom(ctx); st != nil {
		st.mu.Lock()
		st.tabs++
		n := st.tabs
		st.mu.Unlock()
		opts = append(opts, chromedp.WithListener(st.listener(n)))
	}
	return chromedp.NewContext(ctx, opts...)
}

// listener returns the event func of tab n, which forwards its console and
// exceptions to logf.
func (st *state) listener(n int) func(ev any) {
	return func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			msg = fmt.Sprintf("console.%s: %s", ev.Type, argsText(ev.Args))
			if s := ev.StackTrace; s != nil && len(s.CallFrames) > 0 {
				f := s.CallFrames[0]
				msg += fmt.Sprintf(" (%s:%d)", f.URL, f.LineNumber+1)
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg = "exception: " + d.Text
			if d.Exception != nil {
				msg += " " + objectText(d.Exception)
			}
			msg += fmt.Sprintf(" (%s:%d)", d.URL, d.LineNumber+1)
		default:
			return
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.logf != nil && !st.closed {
			st.logf("browser tab %d: %s", n, msg)
		}
	}
}

// argsText joins the console arguments as the console shows them, roughly.
func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = objectText(a)
	}
	return strings.Join(parts, " ")
}

func objectText(o *runtime.RemoteObject) string {
	if o == nil {
		return "null"
	}
	if o.Type == runtime.RemoteObjectTypeString {
		var s string
		if json.Unmarshal(o.Value, &s) == nil {
			return s
		}
	}
	switch {
	case o.UnserializableValue != "":
		return string(o.UnserializableValue)
	case o.Description != "":
		// An error's description holds its stack; keep the first line.
		first, _, _ := strings.Cut(o.Description, "\n")
		return first
	case len(o.Value) > 0:
		return string(o.Value)
	}
	return string(o.Type)
}

// removeAll removes dir, retrying for a while: a dying browser process can
// still write into its profile.
func removeAll(dir string) {
	deadline := time.Now().Add(5 * time.Second)
	for os.RemoveAll(dir) != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

// profileDir returns the profile directory of the browser of ctx, or "".
func profileDir(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return filepath.Clean(st.dir)
	}
	return ""
}
