// Package join puts a peer engine in a swarm: it runs the tracker client and
// WebRTC connections of fusioncast/peer/rtc and hands every data channel
// that opens to a fusioncast/peer engine, which then shares the stream's
// segments over it. It is what `fusioncast viewers` runs for each Go
// viewer, and what a relay agent will run.
package join
