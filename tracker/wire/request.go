package wire

import (
	"fmt"
	"math"
	"strconv"
)

// Action is the "action" of a message.
type Action uint8

// Actions. The zero Action means "absent" (only in a [Response]: the
// reference tracker sends some failures without one).
const (
	ActionAnnounce Action = iota + 1 // "announce"
	ActionScrape                     // "scrape"
)

// String returns the wire name of a, or "" for an unknown Action.
func (a Action) String() string {
	switch a {
	case ActionAnnounce:
		return "announce"
	case ActionScrape:
		return "scrape"
	}
	return ""
}

// Event is the "event" of an announce.
type Event uint8

// Events. Absent, null, "" and "empty" read as EventNone (the reference
// tracker treats them as "update"); "paused" (BEP 21) reads as EventUpdate.
const (
	EventNone Event = iota
	EventStarted
	EventCompleted
	EventStopped
	EventUpdate
)

var eventNames = [...]string{EventStarted: "started", EventCompleted: "completed", EventStopped: "stopped", EventUpdate: "update"}

// String returns the wire name of e, or "" for EventNone.
func (e Event) String() string {
	if int(e) < len(eventNames) {
		return eventNames[e]
	}
	return ""
}

// Role is what a peer says it is, in the fusioncast extension.
type Role uint8

// Roles.
const (
	RoleViewer Role = iota // "viewer": a browser or player
	RoleRelay              // "relay": a relay agent seeding its LAN
)

// String returns the wire name of r.
func (r Role) String() string {
	if r == RoleRelay {
		return "relay"
	}
	return "viewer"
}

// Offer is one WebRTC offer in an announce's "offers".
type Offer struct {
	ID ID // "offer_id"
	// SDP is the raw JSON value of "offer" exactly as received, e.g.
	// {"type":"offer","sdp":"v=0\r\n…"}: a validated JSON object of at most
	// MaxSDPBytes that the tracker passes on unchanged. It aliases the
	// input of ParseRequest.
	SDP []byte
}

// Ext is fusioncast's extension of a request. It all lives under one
// top-level key, "fusioncast" (an object), so WebTorrent clients and trackers
// ignore it. docs/tracker.md, section "The fusioncast extension".
//
//	"fusioncast": {"v":1, "role":"viewer"|"relay", "site":"lab-3",
//	               "max_peers":20, "upload_kbps":4000,
//	               "stats":{"http":n,"p2p":n,"relay":n,"stalls":n,"errors":n}}
//
// "v" is required; every other key is optional. Keys a version does not
// know are ignored; a version never changes the meaning or type of a key.
type Ext struct {
	Present    bool   // the message had a "fusioncast" object
	Version    int    // "v", ≥ 1; this package writes and fully knows 1
	Role       Role   // "role"; an unknown role under "v" > 1 reads as RoleViewer
	Site       string // "site": at most MaxSiteBytes of printable ASCII
	MaxPeers   int    // "max_peers": connections the peer accepts, 0 = unsaid
	UploadKbps int    // "upload_kbps": upload the peer offers, 0 = unsaid
	Stats      *Stats // "stats", nil when absent
}

// Stats are a peer's counters since it joined the swarm ("stats" in [Ext]).
type Stats struct {
	HTTP   int64 // "http": bytes fetched over HTTP
	P2P    int64 // "p2p": bytes received from other peers
	Relay  int64 // "relay": bytes received from a relay agent
	Stalls int64 // "stalls": playback stalls
	Errors int64 // "errors": failed fetches or verifications
}

// Request is any message a client sends to a tracker: an announce (which
// may carry offers, or an answer to a relayed offer) or a scrape.
// docs/tracker.md, sections "announce", "answer" and "scrape".
type Request struct {
	Action   Action
	InfoHash ID // "info_hash" of an announce
	PeerID   ID // "peer_id" of an announce
	// InfoHashes are a scrape's "info_hash" (one string or an array);
	// empty means all swarms. An announce's InfoHash is not here.
	InfoHashes []ID
	Event      Event
	NumWant    int   // "numwant", -1 when absent
	Uploaded   int64 // "uploaded", 0 when absent
	Downloaded int64 // "downloaded", 0 when absent
	Left       int64 // "left", -1 when absent or null
	Offers     []Offer
	Answer     []byte // raw JSON object of "answer", nil when absent; aliases the input
	ToPeerID   ID     // "to_peer_id", with Answer
	OfferID    ID     // "offer_id", with Answer
	Ext        Ext

	stats Stats // storage for Ext.Stats, reused by ParseRequest
}

func (r *Request) reset() {
	clear(r.Offers) // drop references to the previous input
	*r = Request{
		InfoHashes: r.InfoHashes[:0],
		Offers:     r.Offers[:0],
		NumWant:    -1,
		Left:       -1,
	}
}

// Member names of the objects in a request, indexed by the constants below.
var (
	requestKeys = []string{"action", "info_hash", "peer_id", "to_peer_id", "offer_id", "event",
		"numwant", "uploaded", "downloaded", "left", "offers", "answer", "fusioncast"}
	offerKeys = []string{"offer", "offer_id"}
	extKeys   = []string{"v", "role", "site", "max_peers", "upload_kbps", "stats"}
	statsKeys = []string{"http", "p2p", "relay", "stalls", "errors"}
)

const (
	kAction = iota
	kInfoHash
	kPeerID
	kToPeerID
	kOfferID
	kEvent
	kNumWant
	kUploaded
	kDownloaded
	kLeft
	kOffers
	kAnswer
	kExt
)

var (
	errTooManyOffers = fmt.Errorf("%w: more than %d offers", ErrTooLarge, MaxOffers)
	errTooManyHashes = fmt.Errorf("%w: more than %d info_hash values", ErrTooLarge, MaxScrapeHashes)
	errSiteTooLong   = fmt.Errorf("%w: fusioncast.site longer than %d bytes", ErrTooLarge, MaxSiteBytes)
)

// ParseRequest parses the message b into r. See docs/tracker.md for the
// messages; a typical announce from a WebTorrent client is
//
//	{"numwant":5,"uploaded":0,"downloaded":0,"left":null,"event":"started",
//	 "action":"announce","info_hash":"<20 latin1>","peer_id":"<20 latin1>",
//	 "offers":[{"offer":{"type":"offer","sdp":"v=0…"},"offer_id":"<20 latin1>"}, …]}
//
// r is reset first; its slices (InfoHashes, Offers) and Ext.Stats are reused
// and overwritten by the next call, and Offers[i].SDP and Answer alias b:
// copy what must outlive b or the next call. Keys are matched exactly after
// JSON unescaping; unknown keys are ignored (their values are still
// validated), a known key may appear once, and null stands for an absent
// key. Errors wrap [ErrMalformed] or [ErrTooLarge]. After an error r holds
// what was read before it: WebTorrent clients send "action" and "info_hash"
// before "offers", so r.Action and r.InfoHash (zero if not read) usually
// tell the tracker whom to address its failure to.
func ParseRequest(b []byte, r *Request) error {
	oldSite := r.Ext.Site
	r.reset()
	if len(b) > MaxMessageBytes {
		return tooLarge("", len(b), MaxMessageBytes)
	}
	s := scanner{b: b}
	if s.peek() != '{' {
		return errNotObject
	}
	if err := s.request(r, oldSite); err != nil {
		return s.wrap(err)
	}
	return nil
}

func (s *scanner) request(r *Request, oldSite string) error {
	const (
		ihNone = iota
		ihString
		ihArray
	)
	ih := ihNone
	var hasPeer, hasToPeer, hasOfferID bool
	err := s.object(1, requestKeys, func(k int) (err error) {
		var v []byte
		var n int64
		var p bool
		switch k {
		case kAction:
			if v, _, err = s.strField(errAction); err != nil || v == nil {
				return err
			}
			switch string(v) {
			case "announce":
				r.Action = ActionAnnounce
			case "scrape":
				r.Action = ActionScrape
			default:
				return errAction
			}
		case kInfoHash:
			if s.peek() != '[' {
				if p, err = s.idField(&r.InfoHash, errInfoHash); p {
					ih = ihString
				}
				return err
			}
			ih = ihArray
			return s.array(2, func() error {
				if len(r.InfoHashes) == MaxScrapeHashes {
					return errTooManyHashes
				}
				r.InfoHashes = append(r.InfoHashes, ID{})
				p, err := s.idField(&r.InfoHashes[len(r.InfoHashes)-1], errInfoHash)
				if !p && err == nil { // null
					err = errInfoHash
				}
				return err
			})
		case kPeerID:
			hasPeer, err = s.idField(&r.PeerID, errPeerID)
		case kToPeerID:
			hasToPeer, err = s.idField(&r.ToPeerID, errToPeerID)
		case kOfferID:
			hasOfferID, err = s.idField(&r.OfferID, errAnswerID)
		case kEvent:
			if v, _, err = s.strField(errEvent); err != nil {
				return err
			}
			switch string(v) {
			case "", "empty": // also null
				r.Event = EventNone
			case "started":
				r.Event = EventStarted
			case "completed":
				r.Event = EventCompleted
			case "stopped":
				r.Event = EventStopped
			case "update", "paused":
				r.Event = EventUpdate
			default:
				return errEvent
			}
		case kNumWant:
			if n, p, err = s.intField(0, math.MaxInt32, errNumWant); p {
				r.NumWant = int(n)
			}
		case kUploaded:
			r.Uploaded, _, err = s.intField(0, math.MaxInt64, errUploaded)
		case kDownloaded:
			r.Downloaded, _, err = s.intField(0, math.MaxInt64, errDownloaded)
		case kLeft:
			if n, p, err = s.intField(0, math.MaxInt64, errLeft); p {
				r.Left = n
			}
		case kOffers:
			switch s.peek() {
			case '[':
				return s.array(2, func() error { return s.offer(r) })
			case 'n':
				return s.literal("null")
			}
			return errOffers
		case kAnswer:
			r.Answer, err = s.raw(2, "answer", errAnswer)
		case kExt:
			return s.ext(&r.Ext, &r.stats, oldSite)
		default:
			return s.skip(2)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := s.end(); err != nil {
		return err
	}
	switch r.Action {
	case ActionAnnounce:
		if ih != ihString {
			return errInfoHash
		}
		if !hasPeer {
			return errPeerID
		}
		if r.Answer != nil {
			if !hasToPeer {
				return errToPeerID
			}
			if !hasOfferID {
				return errAnswerID
			}
		}
	case ActionScrape:
		if ih == ihString {
			r.InfoHashes = append(r.InfoHashes, r.InfoHash)
		}
		// A scrape has no announce fields; drop what was parsed.
		clear(r.Offers)
		*r = Request{Action: ActionScrape, InfoHashes: r.InfoHashes, Offers: r.Offers[:0],
			NumWant: -1, Left: -1, Ext: r.Ext, stats: r.stats} // Ext.Stats still points at r.stats
	default:
		return errAction
	}
	return nil
}

// offer reads one element of "offers": {"offer":{…},"offer_id":"…"}.
func (s *scanner) offer(r *Request) error {
	if s.peek() != '{' {
		return errOffers
	}
	if len(r.Offers) == MaxOffers {
		return errTooManyOffers
	}
	r.Offers = append(r.Offers, Offer{})
	o := &r.Offers[len(r.Offers)-1]
	hasID := false
	err := s.object(3, offerKeys, func(k int) (err error) {
		switch k {
		case 0:
			o.SDP, err = s.raw(4, "offer", errOffer)
		case 1:
			hasID, err = s.idField(&o.ID, errOfferID)
		default:
			err = s.skip(4)
		}
		return err
	})
	switch {
	case err != nil:
		return err
	case o.SDP == nil:
		return errOffer
	case !hasID:
		return errOfferID
	}
	return nil
}

// ext reads the request's "fusioncast" object (or null).
func (s *scanner) ext(e *Ext, stats *Stats, oldSite string) error {
	switch s.peek() {
	case 'n':
		return s.literal("null")
	case '{':
	default:
		return errExt
	}
	e.Present = true
	unknownRole := false
	err := s.object(2, extKeys, func(k int) (err error) {
		var n int64
		switch k {
		case 0: // v
			n, _, err = s.intField(1, math.MaxInt32, errExtVersion)
			e.Version = int(n)
		case 1: // role
			var v []byte
			v, _, err = s.strField(errExtRole)
			switch {
			case err != nil || v == nil:
			case string(v) == "viewer":
				e.Role = RoleViewer
			case string(v) == "relay":
				e.Role = RoleRelay
			default:
				unknownRole = true
			}
		case 2:
			e.Site, err = s.site(oldSite)
		case 3:
			n, _, err = s.intField(0, math.MaxInt32, errExtMaxPeers)
			e.MaxPeers = int(n)
		case 4:
			n, _, err = s.intField(0, math.MaxInt32, errExtUpload)
			e.UploadKbps = int(n)
		case 5:
			err = s.stats(e, stats)
		default:
			err = s.skip(3)
		}
		return err
	})
	switch {
	case err != nil:
		return err
	case e.Version == 0:
		return errExtVersion
	case unknownRole && e.Version == 1:
		return errExtRole
	}
	return nil
}

func (s *scanner) stats(e *Ext, st *Stats) error {
	switch s.peek() {
	case 'n':
		return s.literal("null")
	case '{':
	default:
		return errExtStats
	}
	*st = Stats{}
	e.Stats = st
	return s.object(3, statsKeys, func(k int) (err error) {
		dst := [...]*int64{&st.HTTP, &st.P2P, &st.Relay, &st.Stalls, &st.Errors}
		if k < 0 {
			return s.skip(4)
		}
		*dst[k], _, err = s.intField(0, math.MaxInt64, errExtStats)
		return err
	})
}

// site reads a "site" value: printable ASCII, at most MaxSiteBytes. It
// returns old when the value equals it, so re-parsing costs no allocation.
func (s *scanner) site(old string) (string, error) {
	v, long, err := s.strField(errExtSite)
	switch {
	case err != nil:
		return "", err
	case long || len(v) > MaxSiteBytes:
		return "", errSiteTooLong
	}
	for _, c := range v {
		if c < 0x20 || c > 0x7e {
			return "", errExtSite
		}
	}
	if string(v) == old {
		return old, nil
	}
	return string(v), nil
}

// AppendRequest appends r as a message, in the key order of the reference
// client (bittorrent-tracker 11). It is what a client sends; the tracker
// does not use it. An Action other than ActionScrape is written as an
// announce. Offers' SDP and Answer must be JSON values (as ParseRequest
// returns them); empty ones are written as null.
func AppendRequest(dst []byte, r *Request) []byte {
	if r.Action == ActionScrape {
		dst = append(dst, `{"action":"scrape"`...)
		switch len(r.InfoHashes) {
		case 0:
		case 1:
			dst = append(dst, `,"info_hash":`...)
			dst = appendID(dst, &r.InfoHashes[0])
		default:
			dst = append(dst, `,"info_hash":[`...)
			for i := range r.InfoHashes {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = appendID(dst, &r.InfoHashes[i])
			}
			dst = append(dst, ']')
		}
		dst = appendReqExt(dst, &r.Ext)
		return append(dst, '}')
	}
	dst = append(dst, '{')
	if r.NumWant >= 0 {
		dst = append(dst, `"numwant":`...)
		dst = strconv.AppendInt(dst, int64(r.NumWant), 10)
		dst = append(dst, ',')
	}
	if r.Answer == nil || r.Uploaded != 0 || r.Downloaded != 0 {
		dst = append(dst, `"uploaded":`...)
		dst = strconv.AppendInt(dst, r.Uploaded, 10)
		dst = append(dst, `,"downloaded":`...)
		dst = strconv.AppendInt(dst, r.Downloaded, 10)
		dst = append(dst, ',')
	}
	if r.Left >= 0 {
		dst = append(dst, `"left":`...)
		dst = strconv.AppendInt(dst, r.Left, 10)
		dst = append(dst, ',')
	}
	if r.Event != EventNone {
		dst = append(dst, `"event":"`...)
		dst = append(dst, r.Event.String()...)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"action":"announce","info_hash":`...)
	dst = appendID(dst, &r.InfoHash)
	dst = append(dst, `,"peer_id":`...)
	dst = appendID(dst, &r.PeerID)
	if r.Answer != nil || r.ToPeerID != (ID{}) {
		dst = append(dst, `,"to_peer_id":`...)
		dst = appendID(dst, &r.ToPeerID)
	}
	if r.Answer != nil {
		dst = append(dst, `,"answer":`...)
		dst = appendRaw(dst, r.Answer)
	}
	if r.Answer != nil || r.OfferID != (ID{}) {
		dst = append(dst, `,"offer_id":`...)
		dst = appendID(dst, &r.OfferID)
	}
	if len(r.Offers) > 0 {
		dst = append(dst, `,"offers":[`...)
		for i := range r.Offers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"offer":`...)
			dst = appendRaw(dst, r.Offers[i].SDP)
			dst = append(dst, `,"offer_id":`...)
			dst = appendID(dst, &r.Offers[i].ID)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = appendReqExt(dst, &r.Ext)
	return append(dst, '}')
}

func appendReqExt(dst []byte, e *Ext) []byte {
	if !e.Present {
		return dst
	}
	dst = append(dst, `,"fusioncast":{"v":`...)
	dst = strconv.AppendInt(dst, int64(max(e.Version, 1)), 10)
	dst = append(dst, `,"role":"`...)
	dst = append(dst, e.Role.String()...)
	dst = append(dst, '"')
	if e.Site != "" {
		dst = append(dst, `,"site":`...)
		dst = appendString(dst, e.Site)
	}
	if e.MaxPeers != 0 {
		dst = append(dst, `,"max_peers":`...)
		dst = strconv.AppendInt(dst, int64(e.MaxPeers), 10)
	}
	if e.UploadKbps != 0 {
		dst = append(dst, `,"upload_kbps":`...)
		dst = strconv.AppendInt(dst, int64(e.UploadKbps), 10)
	}
	if st := e.Stats; st != nil {
		dst = append(dst, `,"stats":{"http":`...)
		dst = strconv.AppendInt(dst, st.HTTP, 10)
		dst = append(dst, `,"p2p":`...)
		dst = strconv.AppendInt(dst, st.P2P, 10)
		dst = append(dst, `,"relay":`...)
		dst = strconv.AppendInt(dst, st.Relay, 10)
		dst = append(dst, `,"stalls":`...)
		dst = strconv.AppendInt(dst, st.Stalls, 10)
		dst = append(dst, `,"errors":`...)
		dst = strconv.AppendInt(dst, st.Errors, 10)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}
