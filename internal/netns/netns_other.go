//go:build !linux

package netns

import (
	"context"
	"os/exec"
)

// Available returns [ErrUnsupported]: network namespaces need Linux.
func Available() error { return ErrUnsupported }

// New returns [ErrUnsupported].
func New(prefix string) (*NS, error) { return nil, ErrUnsupported }

// Close returns [ErrUnsupported].
func (ns *NS) Close() error { return ErrUnsupported }

// Exec returns a command whose Start fails with [ErrUnsupported].
func (ns *NS) Exec(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Err = ErrUnsupported
	return cmd
}

// Run returns [ErrUnsupported].
func (ns *NS) Run(ctx context.Context, name string, args ...string) error { return ErrUnsupported }

// IP returns [ErrUnsupported].
func (ns *NS) IP(ctx context.Context, args ...string) (string, error) { return "", ErrUnsupported }

// AddSelfVeth returns [ErrUnsupported].
func (ns *NS) AddSelfVeth(ip1, ip2 string) error { return ErrUnsupported }

// Do returns [ErrUnsupported] without calling fn.
func (ns *NS) Do(fn func() error) error { return ErrUnsupported }

// NewBridge returns [ErrUnsupported].
func NewBridge(prefix string) (*Bridge, error) { return nil, ErrUnsupported }

// Attach returns [ErrUnsupported].
func (b *Bridge) Attach(ns *NS, ifname, cidr string) error { return ErrUnsupported }

// Close returns [ErrUnsupported].
func (b *Bridge) Close() error { return ErrUnsupported }

func identify() ([]string, error) { return nil, ErrUnsupported }
