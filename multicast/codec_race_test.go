//go:build race

package multicast

// codecRace is true under the race detector, which makes sync.Pool drop
// items at random: allocation counts do not hold there.
const codecRace = true
