package testenv

import (
	"testing"
)

// recorder is a testing.TB that records Skip and Fatal instead of stopping.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Skip(args ...any)               { r.skipped = args[0].(string) }
func (r *recorder) Fatalf(format string, a ...any) { r.failed = format + ":" + a[0].(string) }

func TestRequired(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{
		{"", false},
		{"0", false},
		{"yes", false},
		{"1", true},
	} {
		t.Setenv(RequireAllEnv, tc.value)
		if got := Required(); got != tc.want {
			t.Errorf("%s=%q: Required() = %v, want %v", RequireAllEnv, tc.value, got, tc.want)
		}
	}
}

func TestSkipOrFail(t *testing.T) {
	t.Setenv(RequireAllEnv, "")
	r := &recorder{TB: t}
	SkipOrFail(r, "no chromium")
	if r.skipped != "no chromium" || r.failed != "" {
		t.Errorf("optional: skipped=%q failed=%q, want a skip", r.skipped, r.failed)
	}

	t.Setenv(RequireAllEnv, "1")
	r = &recorder{TB: t}
	SkipOrFail(r, "no chromium")
	if r.failed != "required suite cannot run: %s:no chromium" || r.skipped != "" {
		t.Errorf("required: skipped=%q failed=%q, want a failure", r.skipped, r.failed)
	}
}
