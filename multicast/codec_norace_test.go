//go:build !race

package multicast

const codecRace = false
