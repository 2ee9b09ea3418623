package wire

import "math"

// RespExt is the tracker's "fusioncast" extension in an announce response.
// docs/tracker.md, section "The fusioncast extension".
//
//	"fusioncast": {"v":1, "edge":true, "edge_rank":0, "site":"lab-3"}
type RespExt struct {
	Version int // "v", ≥ 1; if zero, AppendAnnounceResponse writes 1
	// Edge ("edge") makes this peer an edge fetcher: it fetches each new
	// segment from the origin at once and announces it to its swarm.
	Edge bool
	// EdgeRank ("edge_rank") orders edge fetchers: 0 is the primary,
	// 1.. are backups that take over when earlier ranks are late.
	EdgeRank int
	Site     string // "site": the site the tracker put this peer in
}

// ScrapeFile is one swarm's counters in a scrape response.
type ScrapeFile struct {
	InfoHash   ID  // the key in "files"
	Complete   int // "complete": peers that have everything (left = 0)
	Incomplete int // "incomplete": the other peers
	Downloaded int // "downloaded": the reference tracker sends Complete
}

// Response is any message a tracker sends: an announce response, a relayed
// offer or answer, a scrape response or a failure. Load tools, tests and
// the Go peer read them with [ParseResponse].
type Response struct {
	Action   Action // 0 when absent (a failure may have none)
	InfoHash ID     // "info_hash"
	// Interval, Complete and Incomplete are -1 when absent; relayed offers
	// and answers have none of them.
	Interval, Complete, Incomplete int
	// Offer is the raw JSON of a relayed "offer", Answer of a relayed
	// "answer"; nil when absent. Both alias the input of ParseResponse.
	Offer, Answer []byte
	OfferID       ID // "offer_id" of the offer or answer
	PeerID        ID // "peer_id": the peer that sent the offer or answer
	Files         []ScrapeFile
	// FailureReason ("failure reason") means the request failed; the
	// rest of the message may be empty.
	FailureReason  string
	WarningMessage string // "warning message"
	Ext            RespExt
	HasExt         bool // the message had a "fusioncast" object
}

func (r *Response) reset() {
	*r = Response{Files: r.Files[:0], Interval: -1, Complete: -1, Incomplete: -1}
}

// Member names of the objects in a response, indexed by the constants below.
var (
	responseKeys = []string{"action", "info_hash", "interval", "complete", "incomplete", "offer",
		"answer", "offer_id", "peer_id", "files", "failure reason", "warning message", "fusioncast"}
	fileKeys    = []string{"complete", "incomplete", "downloaded"}
	respExtKeys = []string{"v", "edge", "edge_rank", "site"}
)

const (
	rAction = iota
	rInfoHash
	rInterval
	rComplete
	rIncomplete
	rOffer
	rAnswer
	rOfferID
	rPeerID
	rFiles
	rFailure
	rWarning
	rExt
)

// ParseResponse parses the message b into r, which is reset first (its
// Files slice is reused). Offer and Answer alias b. The rules are those of
// [ParseRequest]: exact keys after unescaping, unknown keys ignored, no
// duplicates, null for absent. A relayed offer or answer must carry
// "offer_id" and "peer_id". Errors wrap [ErrMalformed] or [ErrTooLarge].
func ParseResponse(b []byte, r *Response) error {
	r.reset()
	if len(b) > MaxMessageBytes {
		return tooLarge("", len(b), MaxMessageBytes)
	}
	s := scanner{b: b}
	if s.peek() != '{' {
		return errNotObject
	}
	if err := s.response(r); err != nil {
		return s.wrap(err)
	}
	return nil
}

func (s *scanner) response(r *Response) error {
	var hasPeer, hasOffer bool
	err := s.object(1, responseKeys, func(k int) (err error) {
		var n int64
		var p bool
		switch k {
		case rAction:
			var v []byte
			v, _, err = s.strField(errAction)
			switch {
			case err != nil || v == nil:
			case string(v) == "announce":
				r.Action = ActionAnnounce
			case string(v) == "scrape":
				r.Action = ActionScrape
			default:
				err = errAction
			}
		case rInfoHash:
			_, err = s.idField(&r.InfoHash, errInfoHash)
		case rInterval:
			if n, p, err = s.intField(0, math.MaxInt32, errInterval); p {
				r.Interval = int(n)
			}
		case rComplete:
			if n, p, err = s.intField(0, math.MaxInt32, errComplete); p {
				r.Complete = int(n)
			}
		case rIncomplete:
			if n, p, err = s.intField(0, math.MaxInt32, errIncomplete); p {
				r.Incomplete = int(n)
			}
		case rOffer:
			r.Offer, err = s.raw(2, "offer", errOffer)
		case rAnswer:
			r.Answer, err = s.raw(2, "answer", errAnswer)
		case rOfferID:
			hasOffer, err = s.idField(&r.OfferID, errOfferID)
		case rPeerID:
			hasPeer, err = s.idField(&r.PeerID, errPeerID)
		case rFiles:
			err = s.files(r)
		case rFailure:
			r.FailureReason, err = s.text(errFailure)
		case rWarning:
			r.WarningMessage, err = s.text(errWarning)
		case rExt:
			err = s.respExt(r)
		default:
			err = s.skip(2)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := s.end(); err != nil {
		return err
	}
	if r.Offer != nil || r.Answer != nil {
		if !hasOffer {
			return errOfferID
		}
		if !hasPeer {
			return errPeerID
		}
	}
	return nil
}

// text reads a string of any length (or null: "").
func (s *scanner) text(bad error) (string, error) {
	switch s.peek() {
	case '"':
	case 'n':
		return "", s.literal("null")
	default:
		return "", bad
	}
	start, end, esc, err := s.str()
	if err != nil {
		return "", err
	}
	if !esc {
		return string(s.b[start:end]), nil
	}
	return string(appendUnquoted(make([]byte, 0, end-start), s.b[start:end])), nil
}

// files reads a scrape response's "files": {"<info hash>":{"complete":n,
// "incomplete":n,"downloaded":n}, …}. Its member names are IDs, so it walks
// the object itself rather than with object.
func (s *scanner) files(r *Response) error {
	switch s.peek() {
	case 'n':
		return s.literal("null")
	case '{':
	default:
		return errFiles
	}
	more, err := s.open('{', 2)
	for more && err == nil {
		var f ScrapeFile
		var k []byte
		if k, err = s.key(); err != nil {
			return err
		}
		if !latin1ID(k, &f.InfoHash) {
			return errInfoHash
		}
		for i := range r.Files {
			if r.Files[i].InfoHash == f.InfoHash {
				return errDuplicate
			}
		}
		if s.peek() != '{' {
			return errFiles
		}
		err = s.object(3, fileKeys, func(k int) error {
			if k < 0 {
				return s.skip(4)
			}
			n, _, err := s.intField(0, math.MaxInt32, errFiles)
			*[...]*int{&f.Complete, &f.Incomplete, &f.Downloaded}[k] = int(n)
			return err
		})
		if err != nil {
			return err
		}
		r.Files = append(r.Files, f)
		more, err = s.next('}')
	}
	return err
}

// latin1ID converts a decoded (UTF-8) string of 20 code points in
// U+0000..U+00FF to an ID.
func latin1ID(k []byte, id *ID) bool {
	n := 0
	for _, r := range string(k) {
		if r > 0xff || n == len(id) {
			return false
		}
		id[n] = byte(r)
		n++
	}
	return n == len(id)
}

// respExt reads the response's "fusioncast" object (or null).
func (s *scanner) respExt(r *Response) error {
	switch s.peek() {
	case 'n':
		return s.literal("null")
	case '{':
	default:
		return errExt
	}
	r.HasExt = true
	e := &r.Ext
	err := s.object(2, respExtKeys, func(k int) (err error) {
		var n int64
		switch k {
		case 0: // v
			n, _, err = s.intField(1, math.MaxInt32, errExtVersion)
			e.Version = int(n)
		case 1: // edge
			switch s.peek() {
			case 't':
				e.Edge = true
				return s.literal("true")
			case 'f':
				return s.literal("false")
			case 'n':
				return s.literal("null")
			}
			return errExtEdge
		case 2: // edge_rank
			n, _, err = s.intField(0, math.MaxInt32, errExtEdgeRank)
			e.EdgeRank = int(n)
		case 3: // site
			e.Site, err = s.site("")
		default:
			err = s.skip(3)
		}
		return err
	})
	if err == nil && e.Version == 0 {
		err = errExtVersion
	}
	return err
}

// The outbound messages below are byte-for-byte the shapes the reference
// tracker (bittorrent-tracker 11, server.js) sends, in its key order, with
// IDs written by the latin1 rule. They allocate nothing when dst has room.

// AppendAnnounceResponse appends the answer to an announce:
//
//	{"complete":C,"incomplete":I,"action":"announce","interval":N,"info_hash":"…"}
//
// with ,"fusioncast":{"v":1,"edge":…,"edge_rank":…,"site":"…"} before the
// closing brace when ext is not nil. interval is in seconds.
func AppendAnnounceResponse(dst []byte, infoHash ID, interval, complete, incomplete int, ext *RespExt) []byte {
	dst = appendKeyInt(dst, `{"complete":`, int64(complete))
	dst = appendKeyInt(dst, `,"incomplete":`, int64(incomplete))
	dst = appendKeyInt(dst, `,"action":"announce","interval":`, int64(interval))
	dst = append(dst, `,"info_hash":`...)
	dst = appendID(dst, &infoHash)
	if ext != nil {
		dst = appendRespExt(append(dst, ','), ext)
	}
	return append(dst, '}')
}

func appendRespExt(dst []byte, e *RespExt) []byte {
	dst = appendKeyInt(dst, `"fusioncast":{"v":`, int64(max(e.Version, 1)))
	if e.Edge {
		dst = append(dst, `,"edge":true`...)
	} else {
		dst = append(dst, `,"edge":false`...)
	}
	dst = appendKeyInt(dst, `,"edge_rank":`, int64(e.EdgeRank))
	if e.Site != "" {
		dst = append(dst, `,"site":`...)
		dst = appendString(dst, e.Site)
	}
	return append(dst, '}')
}

// AppendOffer appends the relay of an offer from peer from to another peer
// of the swarm infoHash:
//
//	{"action":"announce","offer":<offer>,"offer_id":"…","peer_id":"<from>","info_hash":"…"}
//
// offer is written unchanged: pass an [Offer]'s SDP from ParseRequest.
func AppendOffer(dst []byte, infoHash, from, offerID ID, offer []byte) []byte {
	return appendRelay(dst, `{"action":"announce","offer":`, infoHash, from, offerID, offer)
}

// AppendAnswer appends the relay of an answer from peer from back to the
// peer that made the offer offerID:
//
//	{"action":"announce","answer":<answer>,"offer_id":"…","peer_id":"<from>","info_hash":"…"}
//
// answer is written unchanged: pass a [Request]'s Answer.
func AppendAnswer(dst []byte, infoHash, from, offerID ID, answer []byte) []byte {
	return appendRelay(dst, `{"action":"announce","answer":`, infoHash, from, offerID, answer)
}

func appendRelay(dst []byte, head string, infoHash, from, offerID ID, v []byte) []byte {
	dst = append(dst, head...)
	dst = appendRaw(dst, v)
	dst = append(dst, `,"offer_id":`...)
	dst = appendID(dst, &offerID)
	dst = append(dst, `,"peer_id":`...)
	dst = appendID(dst, &from)
	dst = append(dst, `,"info_hash":`...)
	dst = appendID(dst, &infoHash)
	return append(dst, '}')
}

// AppendScrapeResponse appends the answer to a scrape:
//
//	{"action":"scrape","files":{"<info hash>":{"complete":C,"incomplete":I,"downloaded":D}, …}}
//
// files must not repeat an info hash. (The reference tracker also sends
// "flags":{"min_request_interval":N}; its client ignores it.)
func AppendScrapeResponse(dst []byte, files []ScrapeFile) []byte {
	dst = append(dst, `{"action":"scrape",`...)
	dst = appendFiles(dst, files)
	return append(dst, '}')
}

// appendFiles appends "files":{…}.
func appendFiles(dst []byte, files []ScrapeFile) []byte {
	dst = append(dst, `"files":{`...)
	for i := range files {
		f := &files[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendID(dst, &f.InfoHash)
		dst = appendKeyInt(dst, `:{"complete":`, int64(f.Complete))
		dst = appendKeyInt(dst, `,"incomplete":`, int64(f.Incomplete))
		dst = appendKeyInt(dst, `,"downloaded":`, int64(f.Downloaded))
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// AppendFailure appends a failure:
//
//	{"action":"announce","failure reason":"…","info_hash":"…"}
//
// "action" is left out when action is 0 and "info_hash" when infoHash is
// nil. A WebTorrent client only shows a failure that names its action and
// info hash; without "action" it drops the connection (docs/tracker.md,
// "Compatibility").
func AppendFailure(dst []byte, action Action, infoHash *ID, reason string) []byte {
	dst = append(dst, '{')
	if name := action.String(); name != "" {
		dst = append(dst, `"action":"`...)
		dst = append(dst, name...)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"failure reason":`...)
	dst = appendString(dst, reason)
	if infoHash != nil {
		dst = append(dst, `,"info_hash":`...)
		dst = appendID(dst, infoHash)
	}
	return append(dst, '}')
}

// AppendResponse appends any Response, writing the keys that are set, so
// that ParseResponse reads back the same values. Tests, load tools and fake
// trackers use it; the tracker uses the Append functions above.
func AppendResponse(dst []byte, r *Response) []byte {
	start := len(dst)
	dst = append(dst, '{')
	sep := func(dst []byte) []byte {
		if len(dst) > start+1 {
			dst = append(dst, ',')
		}
		return dst
	}
	if r.Complete >= 0 {
		dst = appendKeyInt(sep(dst), `"complete":`, int64(r.Complete))
	}
	if r.Incomplete >= 0 {
		dst = appendKeyInt(sep(dst), `"incomplete":`, int64(r.Incomplete))
	}
	if name := r.Action.String(); name != "" {
		dst = append(sep(dst), `"action":"`...)
		dst = append(dst, name...)
		dst = append(dst, '"')
	}
	if r.Interval >= 0 {
		dst = appendKeyInt(sep(dst), `"interval":`, int64(r.Interval))
	}
	if r.FailureReason != "" {
		dst = append(sep(dst), `"failure reason":`...)
		dst = appendString(dst, r.FailureReason)
	}
	if r.WarningMessage != "" {
		dst = append(sep(dst), `"warning message":`...)
		dst = appendString(dst, r.WarningMessage)
	}
	if r.Offer != nil {
		dst = append(sep(dst), `"offer":`...)
		dst = appendRaw(dst, r.Offer)
	}
	if r.Answer != nil {
		dst = append(sep(dst), `"answer":`...)
		dst = appendRaw(dst, r.Answer)
	}
	if r.Offer != nil || r.Answer != nil || r.OfferID != (ID{}) {
		dst = append(sep(dst), `"offer_id":`...)
		dst = appendID(dst, &r.OfferID)
	}
	if r.Offer != nil || r.Answer != nil || r.PeerID != (ID{}) {
		dst = append(sep(dst), `"peer_id":`...)
		dst = appendID(dst, &r.PeerID)
	}
	if r.Action == ActionAnnounce || r.InfoHash != (ID{}) {
		dst = append(sep(dst), `"info_hash":`...)
		dst = appendID(dst, &r.InfoHash)
	}
	if r.Action == ActionScrape || len(r.Files) > 0 {
		dst = appendFiles(sep(dst), r.Files)
	}
	if r.HasExt {
		dst = appendRespExt(sep(dst), &r.Ext)
	}
	return append(dst, '}')
}
