// Package servertest runs a real accountd server on a loopback port for
// the tests of other packages (the SDK, the terminal menu, the commands)
// and of the server itself. It uses the embedded SQLite store, cheap
// Argon2 parameters and a clock that moves only when told, so tests run
// fast and do not depend on how fast a loaded machine runs them; nothing
// outside tests should import it.
package servertest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// CheapArgon2 keeps tests fast; production defaults are never lowered.
var CheapArgon2 = account.Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}

var (
	keysOnce  sync.Once
	transport *rsa.PrivateKey
	clientKey *rsa.PrivateKey
	keysErr   error
)

// Keys returns an RSA-3072 transport key and an RSA-2048 client key,
// generated once per test binary: generating RSA keys per test would
// dominate the run time.
func Keys(tb testing.TB) (transportKey, client *rsa.PrivateKey) {
	tb.Helper()
	keysOnce.Do(func() {
		if transport, keysErr = rsa.GenerateKey(rand.Reader, 3072); keysErr != nil {
			return
		}
		clientKey, keysErr = rsa.GenerateKey(rand.Reader, 2048)
	})
	if keysErr != nil {
		tb.Fatal(keysErr)
	}
	return transport, clientKey
}

// Clock is a clock that moves only when told: a test about waits and
// lifetimes must not depend on how fast a loaded machine runs it. It
// starts at the real time it was made. Safe for concurrent use.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a Clock at the current time.
func NewClock() *Clock {
	c := &Clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// MasterKey returns a fresh random 32-byte master key.
func MasterKey(tb testing.TB) []byte {
	tb.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		tb.Fatal(err)
	}
	return k
}

// Identity returns a fresh Ed25519 identity key.
func Identity(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// StopGrace is how long Stop waits for connections to close.
const StopGrace = time.Second

// Server is a running server that can be stopped and started again on
// the same address, with the same identity and accounts, the way an
// operator restarts accountd.
type Server struct {
	// Addr is the host:port the server listens on.
	Addr string
	// Config is the configuration every start uses.
	Config server.Config
	// Clock is the server's clock (Config.Now), unless the edit given to
	// MustStart set another.
	Clock *Clock

	tb   testing.TB
	mu   sync.Mutex
	srv  *server.Server
	http *http.Server
}

// MustStart starts a server on 127.0.0.1 (a free port). The config has a
// fresh identity and master key, CheapArgon2, a Clock, and the per-IP
// limits (request and hash rates, hashes, handshakes and connections per
// client)
// lifted out of reach (every test client is 127.0.0.1; a test about a
// limit sets it); edit, when not nil, adjusts it, and a new SQLite
// store is used unless edit sets one. The server is stopped when the test
// ends.
func MustStart(tb testing.TB, edit func(*server.Config)) *Server {
	tb.Helper()
	tk, _ := Keys(tb)
	clock := NewClock()
	cfg := server.Config{
		Config:       account.Config{MasterKey: MasterKey(tb), Argon2: CheapArgon2, Now: clock.Now, HashesPerClient: 1 << 20},
		Identity:     Identity(tb),
		TransportKey: tk,
		RateLimit:    1e6, RateBurst: 1e6, HashRate: 1e6, HashBurst: 1e6, HandshakesPerClient: 1 << 20,
		MaxConnsPerIP: 1 << 20,
	}
	if edit != nil {
		edit(&cfg)
	}
	if cfg.Store == nil {
		cfg.Store = sqltest.NewSQLite(tb)
	}
	s := &Server{Addr: "127.0.0.1:0", Config: cfg, Clock: clock, tb: tb}
	s.MustRestart()
	tb.Cleanup(s.Stop)
	return s
}

// MustRestart starts the server again on the same address after Stop (or
// starts it the first time).
func (s *Server) MustRestart() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.tb.Fatal("servertest: server is already running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := server.New(ctx, s.Config)
	if err != nil {
		s.tb.Fatal(err)
	}
	// The port of a server that just stopped can take a moment to be
	// free again on a busy machine.
	var ln net.Listener
	for deadline := time.Now().Add(10 * time.Second); ; {
		if ln, err = net.Listen("tcp", s.Addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		srv.Shutdown(ctx)
		s.tb.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	s.srv, s.http = srv, srv.HTTPServer("")
	go s.http.Serve(srv.Listener(ln))
}

// Stop shuts the server down the way SIGTERM does: it stops accepting and
// closes every connection with 1001 (going away), waiting at most
// StopGrace for them (a connection whose client is idle holds its close
// handshake for 5 s, so a Stop with idle clients takes that long).
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), StopGrace)
	defer cancel()
	s.http.Shutdown(ctx)
	s.srv.Shutdown(ctx)
	s.srv, s.http = nil, nil
}

// Server returns the running server, or nil when it is stopped.
func (s *Server) Server() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// HTTP returns the running server's *http.Server, or nil when it is
// stopped.
func (s *Server) HTTP() *http.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.http
}

// Service returns the running server's rules; the server must be running.
func (s *Server) Service() *account.Service {
	srv := s.Server()
	if srv == nil {
		s.tb.Fatal("servertest: the server is stopped")
	}
	return srv.Service()
}

// Fingerprint returns the fingerprint of the server's identity key.
func (s *Server) Fingerprint() string {
	return protocol.Fingerprint(s.Config.Identity.Public().(ed25519.PublicKey))
}

// Events returns the audit log the filter selects, oldest first.
func Events(tb testing.TB, st store.Store, f store.AuthEventFilter) []store.AuthEvent {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ev, err := st.ListAuthEvents(ctx, f)
	if err != nil {
		tb.Fatal(err)
	}
	slices.Reverse(ev)
	return ev
}

// CountEvents counts the events of a type, and of a reason unless reason
// is "".
func CountEvents(ev []store.AuthEvent, typ, reason string) int {
	n := 0
	for _, e := range ev {
		if e.Type == typ && (reason == "" || e.Reason == reason) {
			n++
		}
	}
	return n
}
