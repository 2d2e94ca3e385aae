package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// connState is what Shutdown needs to know of a connection: whether a
// request is in flight, so that it is answered before the connection is
// told to go away.
type connState struct {
	c *websocket.Conn

	mu      sync.Mutex
	busy    bool
	closing bool
}

// begin marks a request in flight; it reports false when the server is
// shutting down and the request must not start.
func (st *connState) begin() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closing {
		return false
	}
	st.busy = true
	return true
}

// end marks the request answered; it reports true when the connection
// must now be closed because the server is shutting down.
func (st *connState) end() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.busy = false
	return st.closing
}

// goAway closes an idle connection with 1001 now, and marks a busy one to
// be closed once its response is written.
func (st *connState) goAway() {
	st.mu.Lock()
	st.closing = true
	busy := st.busy
	st.mu.Unlock()
	if !busy {
		go st.c.Close(websocket.StatusGoingAway, "server shutting down")
	}
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
