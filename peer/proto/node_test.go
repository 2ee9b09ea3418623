package proto

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"fusioncast/internal/testenv"
)

// jsTest is the JavaScript codec's test, relative to this package.
const jsTest = "../../web/proto.test.mjs"

// TestJavaScript runs the JavaScript codec's tests (web/proto.test.mjs,
// which checks web/static/proto.js against vectors.json) with node, so that
// go test ./... covers both codecs. It also hands node a second vector file:
// one-byte changes, truncations and extensions of the table's messages with
// this package's verdict on each, so that the two codecs are compared on
// far more inputs than the checked-in vectors. Without node 18 or later it
// skips (fails under FUSIONCAST_REQUIRE_ALL=1).
func TestJavaScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.SkipOrFail(t, "JavaScript codec tests need node: "+err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("node --version: %v", err))
	}
	if major := nodeMajor(string(out)); major < 18 {
		testenv.SkipOrFail(t, fmt.Sprintf("JavaScript codec tests need node 18 or later (node:test), have %s", strings.TrimSpace(string(out))))
	}

	extra := filepath.Join(t.TempDir(), "mutations.json")
	muts := mutationCases()
	data, err := buildVectors(muts)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(extra, data, 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(jsTest)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, "--test", script)
	cmd.Env = append(os.Environ(), "FUSIONCAST_PROTO_EXTRA_VECTORS="+extra)
	cmd.WaitDelay = 5 * time.Second
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test %s: %v\n%s", jsTest, err, out)
	}
	if !strings.Contains(string(out), "# fail 0") || strings.Contains(string(out), "# pass 0") {
		t.Fatalf("node --test %s: unexpected summary\n%s", jsTest, out)
	}
	t.Logf("node --test %s: passed, with %d mutated inputs compared", jsTest, len(muts))
}

// nodeMajor returns the major version of "v20.11.1", 0 if unreadable.
func nodeMajor(v string) int {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	major, _, _ := strings.Cut(v, ".")
	n, _ := strconv.Atoi(major)
	return n
}

// mutationCases returns the mutations of the table's messages with what
// Parse makes of them: every mutation of messages up to 256 bytes, a sample
// of those of longer ones (up to 4 KiB).
func mutationCases() []protoCase {
	var out []protoCase
	seen := map[string]bool{}
	for _, c := range cases {
		if len(c.in) > 4096 {
			continue
		}
		ms := mutations(c.in)
		step := max(1, len(c.in)/64)
		for i, b := range ms {
			if len(c.in) > 256 && i%step != 0 || seen[string(b)] {
				continue
			}
			seen[string(b)] = true
			pc := protoCase{name: fmt.Sprintf("%s-mutation-%d", c.name, i), in: b}
			m, err := Parse(b)
			if err != nil {
				pc.err = err.Error()
			} else {
				pc.msg = m
			}
			out = append(out, pc)
		}
	}
	return out
}
