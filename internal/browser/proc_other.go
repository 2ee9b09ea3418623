//go:build !linux

package browser

import "os/exec"

func prepareCmd(cmd *exec.Cmd) {}

// killLeftovers does nothing: chromedp's own process handling is all there is
// outside Linux.
func killLeftovers(dir string) {}

func leftovers(dir string, kill bool) []int { return nil }
