package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"fusioncast/internal/sim"
)

// A small simulation prints its figures as text and as JSON.
func TestSimulate(t *testing.T) {
	args := []string{"simulate", "--viewers", "30", "--duration", "30s", "--warmup", "10s", "--ramp", "2s", "--up-mbps", "20"}
	out, errOut, err := runCmd(t, context.Background(), append(args, "--json")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	var r sim.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Viewers != 30 || r.Segments == 0 || r.OriginCopiesPerSegment <= 0 || r.OffloadRatio <= 0 || r.BadData != 0 {
		t.Fatalf("result: %s", out)
	}
	for _, k := range []string{`"origin_copies_per_segment"`, `"offload_ratio"`, `"stall_ratio"`, `"stalls_per_viewer_hour"`,
		`"latency_mean_s"`, `"latency_p95_s"`, `"p2p_bytes"`, `"bad_data"`, `"wall_s"`, `"events_per_s"`} {
		if !strings.Contains(out, k) {
			t.Errorf("JSON lacks %s", k)
		}
	}
	out, _, err = runCmd(t, context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"origin copies per segment", "offload ratio", "stall ratio", "latency behind live", "wall time"} {
		if !strings.Contains(out, k) {
			t.Errorf("text output lacks %q:\n%s", k, out)
		}
	}
}

func TestSimulateBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"simulate", "--up-mbps", "50%:1"}, "add up to 50%"},
		{[]string{"simulate", "--down-mbps", "x"}, `"x" is not a positive number`},
		{[]string{"simulate", "--uplink", "lifo"}, `--uplink "lifo"`},
		{[]string{"simulate", "--viewers", "0"}, "--viewers 0 out of range"},
		{[]string{"simulate", "--duration", "10s", "--warmup", "20s"}, "warm-up"},
		{[]string{"simulate", "--latency", "0"}, "--latency must be positive"},
	} {
		_, errOut, err := runCmd(t, context.Background(), c.args...)
		if err == nil {
			t.Errorf("%v: no error", c.args)
			continue
		}
		if msg := err.Error() + errOut; !strings.Contains(msg, c.want) {
			t.Errorf("%v: %q, want %q", c.args, msg, c.want)
		}
	}
}
