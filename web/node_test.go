package web

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"fusioncast/internal/testenv"
)

// jsTests are the JavaScript tests of the browser's peer engine, tracker
// client and playlist helpers (web/static/peer.js, tracker-client.js,
// playlist.js), relative to this package. proto.test.mjs, the codec's, runs
// from peer/proto (TestJavaScript there).
var jsTests = []string{"peer.test.mjs", "tracker-client.test.mjs", "playlist.test.mjs"}

// TestJavaScript runs the JavaScript tests with node, so that go test ./...
// covers the browser peer. Without node 18 or later it skips (fails under
// FUSIONCAST_REQUIRE_ALL=1).
func TestJavaScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.SkipOrFail(t, "JavaScript tests need node: "+err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("node --version: %v", err))
	}
	if major := nodeMajor(string(out)); major < 18 {
		testenv.SkipOrFail(t, fmt.Sprintf("JavaScript tests need node 18 or later (node:test), have %s", strings.TrimSpace(string(out))))
	}
	args := []string{"--test"}
	for _, f := range jsTests {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, abs)
	}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.WaitDelay = 5 * time.Second
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test %s: %v\n%s", strings.Join(jsTests, " "), err, out)
	}
	if !strings.Contains(string(out), "# fail 0") || strings.Contains(string(out), "# pass 0") {
		t.Fatalf("node --test: unexpected summary\n%s", out)
	}
	if i := strings.Index(string(out), "# tests "); i >= 0 {
		t.Logf("node --test: %s", strings.SplitN(string(out[i:]), "\n", 2)[0])
	}
}

// nodeMajor returns the major version of "v20.11.1", 0 if unreadable.
func nodeMajor(v string) int {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	major, _, _ := strings.Cut(v, ".")
	n, _ := strconv.Atoi(major)
	return n
}
