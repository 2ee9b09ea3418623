//go:build !linux

package multicast

import "syscall"

// The socket layer needs Linux; elsewhere [NewSender] and [Listen] return
// [ErrUnsupported]. These stubs keep the package building.

var (
	gsoCmsgSpace   = 0
	dropsCmsgSpace = 0
)

func senderControl(int, int, bool) func(string, string, syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error { return ErrUnsupported }
}

func listenerControl(string, string, syscall.RawConn) error { return ErrUnsupported }

func setReadBuffer(syscall.RawConn, int) (int, bool, error) { return 0, false, ErrUnsupported }

func probeGSO(syscall.RawConn) error { return ErrGSOUnsupported }

func putGSOCmsg(b []byte, _ uint16) []byte { return b[:0] }

func isGSORefusal(error) bool { return true }

func isNoBatch(error) bool { return false }

func dropsFromOOB([]byte) (uint32, bool) { return 0, false }

func supported() error { return ErrUnsupported }

const msgTrunc = 0
