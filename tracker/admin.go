package tracker

import (
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/netip"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"fusioncast/tracker/wire"
)

// Admin API (docs/tracker.md, "Admin API"): JSON, bearer token.

type statsJSON struct {
	HTTP    int64   `json:"http"`
	P2P     int64   `json:"p2p"`
	Relay   int64   `json:"relay"`
	Stalls  int64   `json:"stalls"`
	Errors  int64   `json:"errors"`
	Offload float64 `json:"offload"`
}

func toStatsJSON(t wire.Stats) statsJSON {
	return statsJSON{HTTP: t.HTTP, P2P: t.P2P, Relay: t.Relay, Stalls: t.Stalls, Errors: t.Errors, Offload: offload(t)}
}

type swarmJSON struct {
	InfoHash   string    `json:"info_hash"`
	Peers      int       `json:"peers"`
	Complete   int       `json:"complete"`
	Incomplete int       `json:"incomplete"`
	Relays     int       `json:"relays"`
	Sites      int       `json:"sites"`
	Edges      int       `json:"edge_fetchers"`
	Stats      statsJSON `json:"stats"`
}

type peerJSON struct {
	PeerID   string    `json:"peer_id"`
	Role     string    `json:"role"`
	Site     string    `json:"site"`
	Addr     string    `json:"addr"`
	Complete bool      `json:"complete"`
	Edge     int       `json:"edge_rank"` // -1: not an edge fetcher
	Joined   time.Time `json:"joined"`
	Stats    statsJSON `json:"stats"`
}

func roleName(r wire.Role) string {
	if r == wire.RoleRelay {
		return "relay"
	}
	return "viewer"
}

func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.Handle("GET /admin/server", s.admin(s.adminServer))
	mux.Handle("GET /admin/swarms", s.admin(s.adminSwarms))
	mux.Handle("GET /admin/swarms/{ih}", s.admin(s.adminSwarm))
	mux.Handle("POST /admin/swarms/{ih}/peers/{peer}/kick", s.admin(s.adminKick))
	mux.Handle("POST /admin/gc", s.admin(s.adminGC))
}

// admin wraps an admin handler with the token check.
func (s *Server) admin(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !s.adminOn.Load() {
			jsonError(w, http.StatusForbidden, "admin API disabled: the tracker listens beyond loopback without an admin token")
			return
		}
		if tok := s.cfg.AdminToken; tok != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="fusioncast tracker"`)
				jsonError(w, http.StatusUnauthorized, "missing or wrong bearer token")
				return
			}
		} else if ap, err := netip.ParseAddrPort(r.RemoteAddr); err != nil || !ap.Addr().IsLoopback() {
			jsonError(w, http.StatusForbidden, "admin API without a token answers loopback only")
			return
		}
		h(w, r)
	})
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *Server) allSwarms() []*swarm {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*swarm, 0, len(s.swarms))
	for _, sw := range s.swarms {
		out = append(out, sw)
	}
	return out
}

func (s *Server) describe(sw *swarm) swarmJSON {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	relays, sites := 0, make(map[string]bool)
	for k, t := range sw.tiers {
		sites[k.site] = true
		if k.role == wire.RoleRelay {
			relays += len(t)
		}
	}
	return swarmJSON{
		InfoHash: hex.EncodeToString(sw.ih[:]), Peers: len(sw.all), Complete: sw.complete,
		Incomplete: len(sw.all) - sw.complete, Relays: relays, Sites: len(sites), Edges: len(sw.edges),
		Stats: toStatsJSON(sw.totals()),
	}
}

func (s *Server) adminSwarms(w http.ResponseWriter, _ *http.Request) {
	swarms := s.allSwarms()
	out := make([]swarmJSON, 0, len(swarms))
	for _, sw := range swarms {
		out = append(out, s.describe(sw))
	}
	slices.SortFunc(out, func(a, b swarmJSON) int { return b.Peers - a.Peers })
	writeJSON(w, http.StatusOK, map[string]any{"swarms": out})
}

func parseHexID(s string) (wire.ID, bool) {
	var id wire.ID
	if len(s) != 40 {
		return id, false
	}
	_, err := hex.Decode(id[:], []byte(s))
	return id, err == nil
}

func (s *Server) adminSwarm(w http.ResponseWriter, r *http.Request) {
	ih, ok := parseHexID(r.PathValue("ih"))
	if !ok {
		jsonError(w, http.StatusBadRequest, "info_hash must be 40 hex digits")
		return
	}
	sw, _ := s.swarm(ih, false)
	if sw == nil {
		jsonError(w, http.StatusNotFound, "no such swarm")
		return
	}
	desc := s.describe(sw)
	sw.mu.Lock()
	peers := make([]peerJSON, 0, len(sw.all))
	for _, p := range sw.all {
		peers = append(peers, peerJSON{
			PeerID: hex.EncodeToString(p.id[:]), Role: roleName(p.role), Site: p.site, Addr: p.c.addr.String(),
			Complete: p.complete, Edge: p.edge, Joined: p.joined.UTC(), Stats: toStatsJSON(p.stats),
		})
	}
	sw.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"swarm": desc, "peers": peers})
}

func (s *Server) adminKick(w http.ResponseWriter, r *http.Request) {
	ih, ok1 := parseHexID(r.PathValue("ih"))
	pid, ok2 := parseHexID(r.PathValue("peer"))
	if !ok1 || !ok2 {
		jsonError(w, http.StatusBadRequest, "info_hash and peer_id must be 40 hex digits")
		return
	}
	sw, _ := s.swarm(ih, false)
	var c *conn
	if sw != nil {
		sw.mu.Lock()
		if p := sw.peers[pid]; p != nil {
			c = p.c
		}
		sw.mu.Unlock()
	}
	if c == nil {
		jsonError(w, http.StatusNotFound, "no such peer")
		return
	}
	c.close("kicked by admin", closePolicy)
	s.cfg.Logger.Info("peer kicked", "info_hash", ih.String(), "peer_id", pid.String(), "addr", c.addr.String())
	writeJSON(w, http.StatusOK, map[string]string{"kicked": hex.EncodeToString(pid[:])})
}

func (s *Server) adminServer(w http.ResponseWriter, _ *http.Request) {
	s.connMu.Lock()
	conns, addrs, loops := len(s.conns), len(s.perAddr), len(s.loops)
	s.connMu.Unlock()
	pending := 0
	if pl := s.pending.Load(); pl != nil {
		pending = pl.Pending()
	}
	s.mu.RLock()
	swarms := len(s.swarms)
	s.mu.RUnlock()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	writeJSON(w, http.StatusOK, map[string]any{
		"uptime_s":       int64(time.Since(s.start).Seconds()),
		"connections":    conns,
		"pending":        pending,
		"addresses":      addrs,
		"event_loops":    loops,
		"swarms":         swarms,
		"goroutines":     runtime.NumGoroutine(),
		"heap_bytes":     ms.HeapAlloc,
		"interval_s":     s.intervalSeconds(),
		"max_conns":      s.cfg.MaxConns,
		"edge_fetchers":  s.cfg.EdgeFetchers,
		"admin_loopback": s.cfg.AdminToken == "",
	})
}

// adminGC runs a garbage collection and returns memory to the system (the
// memory benchmark measures the resident size before and after one).
func (s *Server) adminGC(w http.ResponseWriter, _ *http.Request) {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	writeJSON(w, http.StatusOK, map[string]any{"heap_bytes": ms.HeapAlloc, "stack_bytes": ms.StackInuse, "sys_bytes": ms.Sys})
}
