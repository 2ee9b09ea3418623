package wire

import (
	"errors"
	"fmt"
)

// Errors returned by [ParseRequest] and [ParseResponse]. Every returned error
// wraps exactly one of them; its text ("malformed message: invalid info_hash")
// never quotes the input and is safe to send back as a "failure reason".
// docs/tracker.md, section "Failure reasons", lists every text.
var (
	// ErrMalformed: not JSON, not an object, a known key of the wrong type,
	// an ID that is not 20 latin1 characters, a required key missing, …
	ErrMalformed = errors.New("malformed message")
	// ErrTooLarge: the message exceeds one of the limits below.
	ErrTooLarge = errors.New("message too large")
)

// Limits. A message over a limit is rejected whole with [ErrTooLarge].
const (
	// MaxMessageBytes is the largest message, in bytes. The tracker enforces
	// it on websocket frames; the parsers enforce it on their input.
	MaxMessageBytes = 64 << 10
	// MaxOffers is the most offers one announce may carry.
	MaxOffers = 20
	// MaxSDPBytes is the largest raw JSON value of one "offer" or "answer".
	MaxSDPBytes = 16 << 10
	// MaxScrapeHashes is the most info hashes one scrape may name.
	MaxScrapeHashes = 64
	// MaxDepth is the deepest nesting of objects and arrays (the message
	// object itself is depth 1).
	MaxDepth = 16
	// MaxSiteBytes is the longest fusioncast "site" value.
	MaxSiteBytes = 64
)

func malformed(reason string) error { return fmt.Errorf("%w: %s", ErrMalformed, reason) }

// Fixed failure reasons, allocated once so that rejecting a hostile message
// costs no allocation. Keep docs/tracker.md "Failure reasons" in sync.
var (
	errNotObject   = malformed("not a JSON object")
	errUTF8        = malformed("invalid UTF-8")
	errDuplicate   = malformed("duplicate key")
	errAction      = malformed("invalid action")
	errInfoHash    = malformed("invalid info_hash")
	errPeerID      = malformed("invalid peer_id")
	errEvent       = malformed("invalid event")
	errNumWant     = malformed("invalid numwant")
	errUploaded    = malformed("invalid uploaded")
	errDownloaded  = malformed("invalid downloaded")
	errLeft        = malformed("invalid left")
	errOffers      = malformed("invalid offers")
	errOffer       = malformed("invalid offer")
	errOfferID     = malformed("invalid offer_id")
	errAnswer      = malformed("invalid answer")
	errToPeerID    = malformed("invalid to_peer_id (required with answer)")
	errAnswerID    = malformed("invalid offer_id (required with answer)")
	errExt         = malformed("invalid fusioncast")
	errExtVersion  = malformed("invalid fusioncast.v")
	errExtRole     = malformed("invalid fusioncast.role")
	errExtSite     = malformed("invalid fusioncast.site")
	errExtMaxPeers = malformed("invalid fusioncast.max_peers")
	errExtUpload   = malformed("invalid fusioncast.upload_kbps")
	errExtStats    = malformed("invalid fusioncast.stats")
	errExtEdge     = malformed("invalid fusioncast.edge")
	errExtEdgeRank = malformed("invalid fusioncast.edge_rank")
	errInterval    = malformed("invalid interval")
	errComplete    = malformed("invalid complete")
	errIncomplete  = malformed("invalid incomplete")
	errFiles       = malformed("invalid files")
	errFailure     = malformed("invalid failure reason")
	errWarning     = malformed("invalid warning message")

	errDepth = fmt.Errorf("%w: nesting depth > %d", ErrTooLarge, MaxDepth)
)

// errSyntax is internal: the scanner returns it and the entry points replace
// it with "invalid JSON at offset N".
var errSyntax = errors.New("syntax")

func tooLarge(what string, n, limit int) error {
	return fmt.Errorf("%w: %s%d > %d bytes", ErrTooLarge, what, n, limit)
}
