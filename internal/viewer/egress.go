package viewer

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// OriginEgress reads the origin's /metrics at base and returns the HTTP
// egress bytes counted for stream
// (fusioncast_origin_egress_bytes_total{stream=…,transport="http"}).
func OriginEgress(ctx context.Context, client *http.Client, base, stream string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", req.URL, resp.Status)
	}
	want := `fusioncast_origin_egress_bytes_total{stream="` + stream + `",transport="http"} `
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	origin := false
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want); ok {
			return strconv.ParseFloat(v, 64)
		}
		origin = origin || strings.HasPrefix(sc.Text(), "fusioncast_origin_")
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !origin {
		// A relay, say: its egress is not the origin's.
		return 0, fmt.Errorf("%s/metrics has no origin counters: not an origin", strings.TrimSuffix(base, "/"))
	}
	return 0, nil // an origin that has served nothing yet
}

// OriginCounters reads the origin's segment egress and published segment
// bytes for stream (fusioncast_origin_segment_egress_bytes_total and
// fusioncast_origin_published_bytes_total). Over a window, the increase of
// the first divided by that of the second is how many times the origin sent
// each segment published in it.
func OriginCounters(ctx context.Context, client *http.Client, base, stream string) (segEgress, published float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET %s: %s", req.URL, resp.Status)
	}
	label := `{stream="` + stream + `"} `
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := 0
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "fusioncast_origin_segment_egress_bytes_total"+label); ok {
			segEgress, err = strconv.ParseFloat(v, 64)
			found++
		} else if v, ok := strings.CutPrefix(line, "fusioncast_origin_published_bytes_total"+label); ok {
			published, err = strconv.ParseFloat(v, 64)
			found++
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if found == 0 {
		return 0, 0, fmt.Errorf("the origin at %s publishes no counters for stream %q", base, stream)
	}
	return segEgress, published, nil
}
