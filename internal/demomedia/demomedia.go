package demomedia

import (
	"embed"
	"io/fs"
)

//go:embed media
var media embed.FS

// FS returns the demo clip's files: index.m3u8 and seg000.ts … seg014.ts at
// its root. The files are read-only and embedded in the binary.
func FS() fs.FS {
	sub, err := fs.Sub(media, "media")
	if err != nil {
		// fs.Sub only fails for an invalid path; "media" is valid.
		return media
	}
	return sub
}
