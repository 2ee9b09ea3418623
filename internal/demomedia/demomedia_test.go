package demomedia

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"
)

const (
	tsPacketSize = 188
	tsSyncByte   = 0x47
	numSegments  = 15
)

func TestFSPlaylist(t *testing.T) {
	b, err := fs.ReadFile(FS(), "index.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("#EXTM3U\n")) {
		t.Fatalf("index.m3u8 does not start with #EXTM3U: %q", b[:min(len(b), 20)])
	}
	var uris []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#EXTINF:"):
			if line != "#EXTINF:2.000000," {
				t.Errorf("segment %d: %q, want #EXTINF:2.000000,", len(uris), line)
			}
		case line != "" && !strings.HasPrefix(line, "#"):
			uris = append(uris, line)
		}
	}
	if len(uris) != numSegments {
		t.Fatalf("playlist lists %d segments, want %d", len(uris), numSegments)
	}
	for i, u := range uris {
		if want := fmt.Sprintf("seg%03d.ts", i); u != want {
			t.Errorf("segment %d is %q, want %q", i, u, want)
		}
	}
}

func TestFSSegments(t *testing.T) {
	names, err := fs.Glob(FS(), "*.ts")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != numSegments {
		t.Fatalf("found %d .ts files, want %d: %v", len(names), numSegments, names)
	}
	for _, name := range names {
		b, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 || len(b)%tsPacketSize != 0 {
			t.Errorf("%s: %d bytes, want a non-zero multiple of %d", name, len(b), tsPacketSize)
			continue
		}
		for off := 0; off < len(b); off += tsPacketSize {
			if b[off] != tsSyncByte {
				t.Errorf("%s: byte %d is %#x, want sync byte %#x", name, off, b[off], tsSyncByte)
				break
			}
		}
	}
}

func TestFSOnlyMedia(t *testing.T) {
	err := fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." {
				t.Errorf("unexpected directory %q", p)
			}
			return nil
		}
		if ext := path.Ext(p); ext != ".ts" && ext != ".m3u8" {
			t.Errorf("unexpected file %q", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
