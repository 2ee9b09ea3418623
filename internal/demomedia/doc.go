// Package demomedia holds the built-in demo clip that the origin serves when it
// has no live encoder to ingest.
//
// # The clip
//
// 30 s of 640x360 25 fps H.264 (Main profile, level 3.0, about 520 kbit/s) and
// AAC-LC (48 kHz stereo, 64 kbit/s) in fifteen MPEG-TS segments of exactly
// 2.000 s, each starting with a key frame, plus a VOD HLS playlist:
//
//	index.m3u8
//	seg000.ts … seg014.ts
//
// With MPEG-TS overhead the segments are about 150–170 KB each, roughly
// 640 kbit/s in total. The picture is ffmpeg's testsrc2 pattern with the
// elapsed time, frame number and segment number burnt in large in the centre;
// the sound is a 440 Hz tone with a beep at the start of every second. That
// makes stalls, skips and repeats easy to see and hear.
//
// # Regenerating
//
// The files were made by scripts/make-demo-media.sh (ffmpeg, libx264, the
// DejaVu fonts from fonts-dejavu-core). Re-run it to change the clip; it
// rewrites internal/demomedia/media in place.
//
// # Use
//
// [FS] returns the files rooted at the media folder, so
// fs.ReadFile(demomedia.FS(), "seg000.ts") reads the first segment.
package demomedia
