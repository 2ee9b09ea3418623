// entry.js is the esbuild entry point of
// internal/trackercompat/static/bittorrent-tracker-client.js: the browser
// build of the bittorrent-tracker client (websocket trackers only; the
// package's "browser" field leaves out the HTTP and UDP trackers).
export { default as Client } from 'bittorrent-tracker/client'
