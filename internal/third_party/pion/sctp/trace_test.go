// SPDX-FileCopyrightText: 2026 The fusioncast developers
// SPDX-License-Identifier: MIT

package sctp

import (
	"net"
	"testing"

	"github.com/pion/logging"
)

// quietFactory's loggers say that they drop traces.
type quietFactory struct{ logging.LoggerFactory }

type quietLogger struct{ logging.LeveledLogger }

func (quietLogger) TraceEnabled() bool { return false }

func (f quietFactory) NewLogger(scope string) logging.LeveledLogger {
	return quietLogger{f.LoggerFactory.NewLogger(scope)}
}

// An association skips its Tracef calls only when its logger reports
// that traces are dropped; any other logger gets them as before.
// [fusioncast]
func TestTraceOnFollowsLogger(t *testing.T) {
	for _, tc := range []struct {
		name    string
		factory logging.LoggerFactory
		want    bool
	}{
		{"pion's default logger", logging.NewDefaultLoggerFactory(), true},
		{"a logger that drops traces", quietFactory{logging.NewDefaultLoggerFactory()}, false},
	} {
		c1, c2 := net.Pipe()
		a := createTestAssociation(t, Config{Name: tc.name, NetConn: c1, LoggerFactory: tc.factory})
		if a.traceOn != tc.want {
			t.Errorf("%s: traceOn %v, want %v", tc.name, a.traceOn, tc.want)
		}
		shutdownTLRAssociationForTest(a, c2)
	}
}
