package origin_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"time"

	"fusioncast/origin"
)

// A stream whose segments the caller publishes itself, served over HTTP.
func ExampleOrigin() {
	o := origin.New(origin.Config{})
	st, err := o.AddStream("live", nil)
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	for i := range 3 {
		err := st.Publish(&origin.Segment{
			Seq:         uint64(i),
			Duration:    2 * time.Second,
			ProgramTime: start.Add(time.Duration(i) * 2 * time.Second),
			Data:        []byte(strings.Repeat("\x47", 188)),
		})
		if err != nil {
			panic(err)
		}
	}
	// o.Run(ctx, listener) would serve it; the handler works on its own.
	w := httptest.NewRecorder()
	o.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/live/live/index.m3u8", nil))
	body, _ := io.ReadAll(w.Result().Body)
	lines := strings.Split(string(body), "\n")
	fmt.Println(w.Code, w.Header().Get("Cache-Control"))
	fmt.Println(strings.Join(lines[:10], "\n"))
	// Output:
	// 200 public, max-age=1
	// #EXTM3U
	// #EXT-X-VERSION:3
	// #EXT-X-INDEPENDENT-SEGMENTS
	// #EXT-X-TARGETDURATION:2
	// #EXT-X-MEDIA-SEQUENCE:0
	// #EXT-X-DISCONTINUITY-SEQUENCE:0
	// #EXT-X-PROGRAM-DATE-TIME:2026-11-25T20:00:00.000Z
	// #EXT-X-FUSIONCAST-SEGMENT:SIZE=188,SHA256="b5ab2acd2a6806c338e032904111e30024736a89c6e7e7f11907c509506f1732"
	// #EXTINF:2.000,
	// 0-b5ab2acd2a6806c3.ts
}
