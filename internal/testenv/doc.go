// Package testenv decides what a test does when its environment cannot run it.
//
// Some suites need more than the Go toolchain: the network-namespace tests need
// root and iproute2, the browser tests need Chromium. On a developer's laptop
// such a test should skip and say why; in CI a skip would hide a broken
// machine, so the same test must fail instead.
//
// # Required suites
//
// CI sets the environment variable FUSIONCAST_REQUIRE_ALL=1 (see
// [RequireAllEnv]). Then [Required] reports true and [SkipOrFail] turns every
// "cannot run here" into a test failure:
//
//	if err := netns.Available(); err != nil {
//		testenv.SkipOrFail(t, "network namespaces: "+err.Error())
//	}
//
// Without the variable, [SkipOrFail] calls t.Skip with the same reason, so
// `go test ./...` stays green on machines without root or Chromium, and the
// -v output says exactly what was skipped and why.
package testenv
