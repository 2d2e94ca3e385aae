// Package servertest runs a real accountd server on a loopback port for
// the tests of other packages (the SDK, the terminal menu, the commands).
// It uses the embedded SQLite store and cheap Argon2 parameters so tests
// run fast; nothing outside tests should import it.
package servertest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// CheapArgon2 keeps tests fast; production defaults are never lowered.
var CheapArgon2 = server.Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}

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

	tb   testing.TB
	mu   sync.Mutex
	srv  *server.Server
	http *http.Server
}

// MustStart starts a server on 127.0.0.1 (a free port) over a new SQLite
// store; edit, when not nil, adjusts the config first. The server is
// stopped when the test ends.
func MustStart(tb testing.TB, edit func(*server.Config)) *Server {
	tb.Helper()
	tk, _ := Keys(tb)
	_, identity, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	master := make([]byte, 32)
	rand.Read(master)
	cfg := server.Config{
		Store: sqltest.NewSQLite(tb), MasterKey: master, Identity: identity, TransportKey: tk,
		Argon2: CheapArgon2,
	}
	if edit != nil {
		edit(&cfg)
	}
	s := &Server{Addr: "127.0.0.1:0", Config: cfg, tb: tb}
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
		s.tb.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	s.srv, s.http = srv, srv.HTTPServer("")
	go s.http.Serve(ln)
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

// Fingerprint returns the fingerprint of the server's identity key.
func (s *Server) Fingerprint() string {
	return protocol.Fingerprint(s.Config.Identity.Public().(ed25519.PublicKey))
}
