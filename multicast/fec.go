package multicast

import (
	"sync"

	"github.com/klauspost/reedsolomon"
)

// Reed-Solomon codes are klauspost/reedsolomon's default: a systematic code
// over GF(2^8) from a Vandermonde matrix, for K+M ≤ 256 shards. Sender and
// receiver must use the same matrix, so the options below may only change
// how the work is done, never the code (docs/multicast.md, "FEC").

// maxCachedCodes bounds the code cache. A sender uses two (K, M) pairs per
// object size; a receiver the sender's, plus any a forged packet names.
const maxCachedCodes = 64

var codes struct {
	sync.Mutex
	m map[uint32]reedsolomon.Encoder
}

// code returns the Reed-Solomon code for k data and m parity shards (m > 0).
// Building one inverts a k×k matrix, which costs far more than coding a
// block, so codes are cached; the encoders are safe for concurrent use.
func code(k, m int) (reedsolomon.Encoder, error) {
	key := uint32(k)<<16 | uint32(m)
	codes.Lock()
	enc := codes.m[key]
	codes.Unlock()
	if enc != nil {
		return enc, nil
	}
	// Symbols are at most MaxSymbolSize bytes: too small to split among
	// goroutines, which WithAutoGoroutines then does not do.
	enc, err := reedsolomon.New(k, m, reedsolomon.WithAutoGoroutines(MaxSymbolSize))
	if err != nil {
		return nil, err
	}
	codes.Lock()
	if codes.m == nil {
		codes.m = make(map[uint32]reedsolomon.Encoder)
	}
	if len(codes.m) < maxCachedCodes {
		codes.m[key] = enc
	}
	codes.Unlock()
	return enc, nil
}

// minParity is the least parity a block gets when parity is on (within
// K+M ≤ 256). A proportional share alone gives every block of up to 5 data
// symbols a single parity symbol at 20%: a playlist of 1 to 3 symbols
// would then need a repair whenever 2 of its 2 to 4 symbols are lost,
// 0.25 to 1.4% of playlists at 5% random loss, where a segment's blocks of
// 63 fail about once in 45,000. With 3, a block of up to 3 symbols fails
// (at 5% loss) less often than all 3 copies of the object's INFO are lost,
// and a playlist costs 2 more packets than before: about 10 kbit/s.
const minParity = 3

// parityCount returns M for a block of k data symbols and an overhead in
// millionths: ceil(k × overhead), computed in integers so that every
// platform agrees (0.2 × 15 is 3.0000000000000004 in floating point), and
// at least minParity unless the overhead is 0.
func parityCount(k, ppm int) int {
	if ppm == 0 {
		return 0
	}
	return max((k*ppm+999_999)/1_000_000, min(minParity, MaxShards-k))
}
