package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// clientIP is the address of the client that sent r: the peer's, unless
// the peer is a trusted proxy, which says in its forwarding header whom
// it forwards for. Limits and the audit log use it.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	cfg := s.current()
	peer, err := netip.ParseAddr(host)
	if err != nil || !trusted(cfg.TrustedProxies, peer) {
		return host
	}
	return forwardedClient(r, cfg.ClientIPHeader, cfg.TrustedProxies, peer.Unmap()).String()
}

func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(s.cfg.JWKSMaxAge.Seconds())))
	json.NewEncoder(w).Encode(map[string]any{"keys": s.svc.JWKS()})
}

func serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// readyTimeout bounds the database check behind /readyz.
const readyTimeout = 2 * time.Second

// serveReady answers 200 when the database answers and a signing key is
// loaded, else 503. The reason is logged, never sent: it may name hosts.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("shutting down\n"))
		return
	}
	err := s.svc.Ready(ctx)
	// Log changes only: a load balancer probes every few seconds.
	if wasReady := s.ready.Swap(err == nil); wasReady != (err == nil) {
		if err != nil {
			s.log.Warn("not ready", "err", err)
		} else {
			s.log.Info("ready")
		}
	}
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready\n"))
		return
	}
	w.Write([]byte("ok\n"))
}
