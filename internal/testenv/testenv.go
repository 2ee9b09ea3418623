package testenv

import (
	"os"
	"testing"
)

// RequireAllEnv is the environment variable that makes every optional suite
// mandatory. CI sets it to "1".
const RequireAllEnv = "FUSIONCAST_REQUIRE_ALL"

// Required reports whether optional suites must run: whether [RequireAllEnv]
// is set to "1".
func Required() bool {
	return os.Getenv(RequireAllEnv) == "1"
}

// SkipOrFail stops the test because its environment cannot run it. If
// [Required] reports true it fails the test with
// "required suite cannot run: <reason>", otherwise it skips it with reason.
// Like t.Skip and t.Fatal it does not return; call it from the test's own
// goroutine.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("required suite cannot run: %s", reason)
		return // only reached with a fake testing.TB
	}
	t.Skip(reason)
}
