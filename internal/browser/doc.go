// Package browser starts headless Chromium for tests, through chromedp.
//
// fusioncast's viewers are browsers: the peer engine runs in the page and
// talks WebRTC data channels. The browser tests drive a real Chromium to prove
// that the page, the tracker and the peers work together. This package holds
// the part every such test needs: finding the binary, starting it with a
// known command line, forwarding what the page logs, opening tabs, and
// leaving nothing behind.
//
// # Starting a browser
//
// [Find] locates the binary ($FUSIONCAST_CHROMIUM, then chromium,
// chromium-browser and google-chrome on PATH, skipping a distribution's
// launcher script). [Start] launches it with a fresh profile in a temporary
// directory and returns the chromedp context of its first tab and a cancel
// func; [NewTab] opens more tabs, and [NewIsolatedTab] opens tabs that share
// no HTTP cache with the others, as separate viewers would:
//
//	ctx, cancel, err := browser.Start(t.Context(), browser.Options{Logf: t.Logf})
//	if err != nil {
//		t.Fatal(err)
//	}
//	defer cancel()
//	err = chromedp.Do(ctx, chromedp.Navigate(url))
//	title, err := chromedp.Run(ctx, chromedp.Title())
//
// The cancel func closes the browser, kills any of its helper processes that
// survive it, and removes the profile directory, before it returns.
//
// # The command line
//
// [Start] does not use chromedp.DefaultExecAllocatorOptions. The browser runs
// with exactly --headless --no-sandbox --disable-gpu --disable-quic
// --no-first-run --disable-background-networking --disable-component-update
// --disable-sync --disable-features=WebRtcHideLocalIpsWithMdns
// --autoplay-policy=no-user-gesture-required --user-data-dir and
// --window-size, plus [Options.ExtraFlags] and chromedp's
// --remote-debugging-pipe. WebRtcHideLocalIpsWithMdns is off so that WebRTC
// host candidates carry real addresses, which tests check and which peers
// inside one test network can reach. --disable-quic keeps HTTP on TCP, which
// is what the origin and the caches serve.
//
// # Browsers in network namespaces
//
// Tests must not send traffic beyond loopback except inside network
// namespaces that they create (package [fusioncast/internal/netns]). Chromium
// offers WebRTC host candidates only on the interface of the default route, so
// a namespace for a browser needs [fusioncast/internal/netns.NS.AddSelfVeth].
// Then either run the whole test inside the namespace with
// [fusioncast/internal/netns.InNamespace], or keep the test on the host and
// set [Options.NetNS]: the browser starts inside the namespace through
// `ip netns exec`, and the test serves it from a listener that
// [fusioncast/internal/netns.NS.Do] opened there.
//
// # Console
//
// [Options.Logf] receives every console call and uncaught exception of every
// tab, as "browser tab N: console.log: ..." and "browser tab N: exception:
// ...", so a failing browser test shows what the page said. Logf is not
// called after cancel returns, so t.Logf is safe.
package browser
