#!/usr/bin/env bash
# make-demo-media.sh regenerates the built-in demo clip embedded by
# internal/demomedia: 30 s of H.264 + AAC at about 640 kbit/s, cut into
# fifteen 2.000 s MPEG-TS segments with a VOD HLS playlist.
#
# The picture is ffmpeg's testsrc2 pattern with the elapsed time, the frame
# number and the segment number burnt in large in the centre, so a viewer (or a
# screenshot) shows at a glance where playback is. The sound is a 440 Hz tone
# with a short 1760 Hz beep at the start of every second.
#
# Usage: scripts/make-demo-media.sh [output-dir]
#   output-dir defaults to internal/demomedia/media (relative to the repo root).
#
# Needs ffmpeg (with libx264, libfreetype) and the DejaVu fonts:
#   apt-get install ffmpeg fonts-dejavu-core
#
# The encode is made as deterministic as ffmpeg allows (bitexact flags, no
# metadata, single-threaded x264), so re-running it normally reproduces the
# same bytes with the same ffmpeg build.
set -euo pipefail

cd "$(dirname "$0")/.."

OUT=${1:-internal/demomedia/media}
FONT=${FONT:-/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf}

DURATION=30     # seconds
FPS=25
SEGMENT=2       # seconds; every segment starts with a key frame
GOP=$((FPS * SEGMENT))
SIZE=640x360
VBITRATE=520k   # video; with 64k audio and MPEG-TS overhead about 640 kbit/s in total
ABITRATE=64k

if ! command -v ffmpeg >/dev/null 2>&1; then
	echo "make-demo-media: ffmpeg not found; install it with: apt-get install ffmpeg" >&2
	exit 1
fi
if [ ! -r "$FONT" ]; then
	echo "make-demo-media: font $FONT not found; install it with: apt-get install fonts-dejavu-core" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Text overlays. Inside a filtergraph ':' must be escaped as '\:'.
box="box=1:boxcolor=black@0.6:boxborderw=12:fontcolor=white:fontfile=$FONT"
# A monospaced font keeps the text from jittering as the digits change.
# (testsrc2 draws its own small clock in the top left corner.)
vf="drawtext=$box:fontsize=80:x=(w-tw)/2:y=(h-th)/2-40:text='%{pts\:hms}'"
vf="$vf,drawtext=$box:fontsize=36:x=(w-tw)/2:y=(h/2)+50:text='frame %{eif\:n\:d\:3}  segment %{eif\:trunc(t/$SEGMENT)\:d\:2}'"
vf="$vf,drawtext=$box:fontsize=20:x=w-tw-16:y=16:text='fusioncast demo'"
vf="$vf,format=yuv420p"

ffmpeg -hide_banner -loglevel error -nostdin -y \
	-f lavfi -i "testsrc2=size=$SIZE:rate=$FPS:duration=$DURATION" \
	-f lavfi -i "sine=frequency=440:beep_factor=4:sample_rate=48000:duration=$DURATION" \
	-map 0:v -map 1:a -t "$DURATION" \
	-vf "$vf" \
	-c:v libx264 -preset medium -profile:v main -level:v 3.0 -pix_fmt yuv420p \
	-b:v "$VBITRATE" -maxrate "$VBITRATE" -bufsize "$VBITRATE" \
	-g "$GOP" -keyint_min "$GOP" -sc_threshold 0 \
	-force_key_frames "expr:gte(t,n_forced*$SEGMENT)" \
	-x264-params threads=1 \
	-c:a aac -b:a "$ABITRATE" -ar 48000 -ac 2 \
	-fflags +bitexact -flags:v +bitexact -flags:a +bitexact -map_metadata -1 \
	-f hls -hls_time "$SEGMENT" -hls_list_size 0 -hls_playlist_type vod \
	-hls_segment_type mpegts -hls_segment_filename "$tmp/seg%03d.ts" \
	"$tmp/index.m3u8"

# Every segment must be exactly SEGMENT seconds long.
want=$(printf '#EXTINF:%d.000000,' "$SEGMENT")
n=$(grep -c '^#EXTINF:' "$tmp/index.m3u8")
bad=$(grep '^#EXTINF:' "$tmp/index.m3u8" | grep -vcxF "$want" || true)
if [ "$n" -ne $((DURATION / SEGMENT)) ] || [ "$bad" -ne 0 ]; then
	echo "make-demo-media: expected $((DURATION / SEGMENT)) segments of ${SEGMENT}s, got:" >&2
	grep '^#EXTINF:' "$tmp/index.m3u8" >&2
	exit 1
fi

mkdir -p "$OUT"
rm -f "$OUT"/index.m3u8 "$OUT"/seg*.ts
mv "$tmp"/index.m3u8 "$tmp"/seg*.ts "$OUT"/
echo "make-demo-media: wrote $n segments to $OUT ($(du -ch "$OUT"/seg*.ts | tail -1 | cut -f1))"
