package origin

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func testClips(n int, d time.Duration) []Clip {
	clips := make([]Clip, n)
	for i := range clips {
		clips[i] = Clip{Name: "c", Duration: d, Data: []byte{0x47, byte(i), 1, 2}}
	}
	return clips
}

func TestDemoTimeline(t *testing.T) {
	d, err := NewDemo(testClips(3, 2*time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		at   time.Duration
		want uint64
	}{
		{2 * time.Second, 0}, {3 * time.Second, 0}, {4 * time.Second, 1}, {6 * time.Second, 2},
		{7 * time.Second, 2}, {8 * time.Second, 3}, {600*time.Second + time.Millisecond, 299},
	}
	for _, c := range cases {
		if got := d.lastComplete(c.at); got != c.want {
			t.Errorf("lastComplete(%v) = %d, want %d", c.at, got, c.want)
		}
	}
	s := d.segment(301)
	if s.Discontinuity || !d.segment(300).Discontinuity {
		t.Error("the first segment of each loop, and only it, is a discontinuity")
	}
	if !s.ProgramTime.Equal(time.Unix(602, 0)) || s.Data[1] != 1 {
		t.Errorf("segment 301: %v %v", s.ProgramTime, s.Data)
	}
}

// Two origins running the same demo at the same time render the same
// playlist: no per-origin state leaks into what players see.
func TestDemoIsStateless(t *testing.T) {
	now := time.Unix(1_800_000_000, 500_000_000)
	var lists [][]byte
	for range 2 {
		d, _ := NewDemo(testClips(15, 2*time.Second), nil)
		d.now = func() time.Time { return now }
		st, _ := NewStream("demo", StreamConfig{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx, st) }()
		deadline := time.After(5 * time.Second)
		for st.Stats().Published < 6 {
			select {
			case <-st.Changed():
			case <-time.After(10 * time.Millisecond):
			case <-deadline:
				t.Fatal("the window was not published")
			}
		}
		cancel()
		<-done
		b, _, _ := st.Playlist()
		lists = append(lists, b)
	}
	if !bytes.Equal(lists[0], lists[1]) {
		t.Fatalf("playlists differ:\n%s\n---\n%s", lists[0], lists[1])
	}
	if !bytes.Contains(lists[0], []byte("#EXT-X-MEDIA-SEQUENCE:899999994\n")) {
		t.Fatalf("window should end at segment 899999999 (the last complete one):\n%s", lists[0])
	}
}

func TestDemoRunsLive(t *testing.T) {
	d, _ := NewDemo(testClips(3, 50*time.Millisecond), nil)
	st, _ := NewStream("demo", StreamConfig{Window: 4})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, st) }()
	defer func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Run returned %v", err)
		}
	}()
	deadline := time.After(10 * time.Second)
	var first uint64
	for {
		select {
		case <-st.Changed():
		case <-deadline:
			t.Fatal("demo did not advance")
		}
		last, _ := st.Last()
		if first == 0 {
			first = last.Seq
		}
		if last.Seq >= first+7 {
			// Published segments are complete: their end is in the past.
			if end := last.ProgramTime.Add(last.Duration); end.After(time.Now()) {
				t.Fatalf("segment %d published before its end %v", last.Seq, end)
			}
			return
		}
	}
}
