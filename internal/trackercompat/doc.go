// Package trackercompat proves that a websocket tracker is a drop-in
// WebTorrent tracker, by running the real WebTorrent tracker client against
// it in headless Chromium.
//
// fusioncast's tracker must speak the WebTorrent tracker wire protocol well
// enough that existing clients use it unchanged. Reading the protocol is not
// proof; the client is. This package serves a test page that loads the
// bittorrent-tracker client (the one WebTorrent uses), starts several clients
// in one swarm, and lets them find each other through the tracker: the
// tracker must relay each WebRTC offer to another peer of the swarm and
// route the answer back to the offer's sender, byte for byte. If it alters
// an SDP or delivers it to the wrong peer, no data channel opens.
//
// # Running it
//
// [Handler] serves the page; [Run] drives it in a browser tab and returns a
// [Result]; [Result.Check] says whether the tracker is compatible:
//
//	srv := httptest.NewServer(trackercompat.Handler())
//	bctx, cancel, err := browser.Start(ctx, browser.Options{Logf: t.Logf})
//	...
//	res, err := trackercompat.Run(ctx, bctx, srv.URL+"/", "ws://127.0.0.1:8000", 2)
//	if err != nil {
//		t.Fatal(err) // the run itself failed: no browser, page not served
//	}
//	if err := res.Check(); err != nil {
//		t.Error(err) // the tracker is not compatible; res says what it did
//	}
//
// WebRTC in headless Chromium needs a default route (see
// [fusioncast/internal/netns]), so such tests run in a network namespace with
// a self-veth; the page, the tracker and the browser may all use 127.0.0.1
// inside it, while the data channels use the veth address.
//
// # What a run checks
//
// N clients (2 to 6) each get their own websocket (their own instance of the
// client's module) and a random peer id, and go through the phases that
// [Run] lists: started (one after the other, so every pair gets an offer),
// connect (every pair opens a data channel and a message goes each way),
// completed, update, scrape, stopped, final. The page records every client's
// "update" events with the phase they came in, its warnings and errors, and
// the websocket traffic: it wraps window.WebSocket, counts what each client
// sends and receives, and compares every relayed offer and answer with the
// one its sender sent (SDP, type, peer_id, recipient). The info hash and
// peer ids contain bytes 0x00, 0x80 to 0xff, '"' and '\\', so the tracker
// must treat the protocol's JSON strings as bytes ("binary strings"), as
// the client does.
//
// # The reference tracker
//
// TestReferenceTracker runs the same check against the reference: the
// bittorrent-tracker server, websocket only, started with
// `node scripts/trackercompat/server.js PORT` (it prints "listening PORT").
// That proves the harness works; TestHarnessCatchesFaults proves it fails
// a broken tracker: scripts/trackercompat/faulty-server.js is the same
// server with one deliberate fault (an altered answer SDP, an offer sent
// back to its sender, a wrong peer count), and each must fail
// [Result.Check] for its own reason. The benchmarks run the reference
// server beside ours (scripts/trackercompat/run-server.sh PORT).
//
// The server needs scripts/trackercompat/node_modules (git-ignored), which
// scripts/trackercompat/install.sh (or build.sh) creates with
// `npm ci --ignore-scripts` from the pinned package-lock.json, and stamps
// with the lock file's sha256. Without it, or when it is stale, the test
// skips and says to run that script. With FUSIONCAST_REQUIRE_ALL=1 (CI) a
// skip would hide the suite, and installing takes seconds, so the test runs
// install.sh itself (this needs the npm registry) and fails only if that
// fails. It also needs node, Chromium and root (for the namespace).
//
// # The vendored client
//
// static/bittorrent-tracker-client.js is bittorrent-tracker 11.2.3's client,
// bundled for the browser as one minified ES module (77 KiB, 18 npm
// packages) by
// scripts/trackercompat/build.sh with esbuild 0.28.2 (--bundle
// --format=esm --platform=browser --minify), from the exact dependency tree
// of scripts/trackercompat/package-lock.json. The only shims it needs are
// the npm "events" package (3.3.0) for node's events module and
// --define:process.browser=true; the package's "browser" field leaves out
// the HTTP and UDP trackers, and its dependencies bring their own browser
// builds. Beside it: static/VERSION, static/bittorrent-tracker-LICENSE
// (MIT) and static/THIRD-PARTY-NOTICES (the licence of every package in
// the bundle). These files are committed, so the Go tests need no npm.
//
// To refresh or move to another version: edit the pins in
// scripts/trackercompat/package.json, run
// `npm install --package-lock-only --ignore-scripts` there, then
// scripts/trackercompat/build.sh, and commit package.json,
// package-lock.json and the static files. TestVendoredVersion fails while
// static/VERSION and the pin disagree.
package trackercompat
