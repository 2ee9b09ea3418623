// Package e2e holds end-to-end tests that drive the whole system the way a
// person would: the origin with its demo stream and the player page, played
// by headless Chromium inside a network namespace the test creates (see
// [fusioncast/internal/netns] for why a namespace, and
// [fusioncast/internal/browser] for the browser's flags).
//
// These tests need root and Chromium. Without them they skip and say why;
// with FUSIONCAST_REQUIRE_ALL=1 (set by CI) they fail instead.
package e2e
