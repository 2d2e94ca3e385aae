package server

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// originAllowed reports whether r's Origin may open a WebSocket: no
// Origin (not a browser), the server's own host, or a host matching one
// of the allowed patterns. It is the check websocket.Accept makes.
func originAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(r.Host, u.Host) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host // a pattern with a scheme
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); err == nil && ok {
			return true
		}
	}
	return false
}

// allowProbe lets a page whose origin may open a WebSocket read the
// status of a plain request to /ws (426, or 429 with Retry-After): a
// browser shows a page every refused upgrade as close code 1006, and
// this answer is how the page tells them apart (SPEC.md §1). Pages of
// other origins get no CORS header, so their fetch fails.
func (s *Server) allowProbe(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ws" || r.Header.Get("Origin") == "" || !originAllowed(r, s.current().AllowedOrigins) {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
	h.Set("Access-Control-Expose-Headers", "Retry-After")
	h.Add("Vary", "Origin")
	h.Set("Cache-Control", "no-store")
}
