package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// mustKeys returns RSA keys generated once per test binary.
func mustKeys(tb testing.TB) (transport, clientKey *rsa.PrivateKey) {
	tb.Helper()
	return servertest.Keys(tb)
}

// testServer is a real server on 127.0.0.1 with a clock the test moves.
type testServer = servertest.Server

// mustServe starts a real server on 127.0.0.1:0 over st (servertest's
// defaults: cheap Argon2, a stopped clock, the per-IP limit out of reach)
// and stops it at cleanup; edit, when not nil, adjusts the config.
func mustServe(tb testing.TB, st store.Store, edit func(*server.Config)) *testServer {
	tb.Helper()
	return servertest.MustStart(tb, func(c *server.Config) {
		c.Store = st
		if edit != nil {
			edit(c)
		}
	})
}

// mustDial connects with a fresh known-servers file, trusting on first use.
func mustDial(tb testing.TB, ts *testServer) *client.Conn {
	tb.Helper()
	_, ck := mustKeys(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, ts.Addr, client.Options{
		Trust:           client.NewKnownServers(filepath.Join(tb.TempDir(), "known_servers")),
		TrustOnFirstUse: true,
		ClientKey:       ck,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// ctxT is a deadline for a test's calls: a net against a hang, far
// beyond what a test needs even on a loaded machine.
func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

const goodPassword = "correct horse battery staple"

func TestOperations(t *testing.T) {
	parallel(t)
	for _, backend := range []struct {
		name string
		open func(testing.TB) store.Store
	}{
		{"sqlite", func(tb testing.TB) store.Store { return sqltest.NewSQLite(tb) }},
		{"mysql", func(tb testing.TB) store.Store { return sqltest.NewMySQL(tb) }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			st := backend.open(t)
			ts := mustServe(t, st, nil)
			testOperations(t, ts)
		})
	}
}

func testOperations(t *testing.T, ts *testServer) {
	c := mustDial(t, ts)
	ctx := ctxT(t)

	t.Run("signup", func(t *testing.T) {
		r, err := c.Signup(ctx, "Alice", goodPassword, "alice@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if r.Account.Username != "alice" || len(r.Account.ID) != 32 || r.GeneratedPassword != "" {
			t.Fatalf("account %+v", r)
		}
	})
	t.Run("duplicate username", func(t *testing.T) {
		_, err := c.Signup(ctx, "ALICE", goodPassword+"x", "")
		if !errors.Is(err, client.ErrUsernameTaken) {
			t.Fatalf("got %v, want username taken", err)
		}
	})
	t.Run("duplicate email", func(t *testing.T) {
		// An address is not reserved until it is verified, and signup
		// never tells whether it is registered.
		r, err := c.Signup(ctx, "alice2", goodPassword, "alice@example.com")
		if err != nil || r.Account.PendingEmail != "alice@example.com" || r.Account.Email != "" {
			t.Fatalf("got %+v, %v; want the address pending", r, err)
		}
	})
	t.Run("weak password", func(t *testing.T) {
		_, err := c.Signup(ctx, "bob", "short", "")
		if !errors.Is(err, client.ErrWeakPassword) || !strings.Contains(err.Error(), "at least 15") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("bad username", func(t *testing.T) {
		_, err := c.Signup(ctx, "no spaces allowed", goodPassword, "")
		if !errors.Is(err, client.ErrBadRequest) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("generated password", func(t *testing.T) {
		r, err := c.Signup(ctx, "carol", "", "")
		if err != nil {
			t.Fatal(err)
		}
		if len(r.GeneratedPassword) != 24 {
			t.Fatalf("generated %q", r.GeneratedPassword)
		}
		if _, err := c.Login(ctx, "carol", r.GeneratedPassword); err != nil {
			t.Fatalf("login with generated password: %v", err)
		}
	})
	t.Run("wrong password and unknown user look the same", func(t *testing.T) {
		_, err1 := c.Login(ctx, "alice", "not the right password at all")
		_, err2 := c.Login(ctx, "nobody", "not the right password at all")
		var e1, e2 *client.ServerError
		if !errors.As(err1, &e1) || !errors.As(err2, &e2) {
			t.Fatalf("errors %v / %v", err1, err2)
		}
		if *e1 != *e2 || e1.Code != protocol.CodeInvalidCredentials {
			t.Fatalf("wrong password %+v, unknown user %+v", e1, e2)
		}
	})

	var tok *client.Token
	t.Run("login", func(t *testing.T) {
		var err error
		if tok, err = c.Login(ctx, "alice", goodPassword); err != nil {
			t.Fatal(err)
		}
		if tok.Account.Username != "alice" || tok.SessionID == "" || time.Until(tok.ExpiresAt) < 59*time.Minute {
			t.Fatalf("token result %+v", tok)
		}
	})
	if tok == nil {
		t.FailNow()
	}
	t.Run("authenticate", func(t *testing.T) {
		id, err := c.Authenticate(ctx, tok.Token)
		if err != nil {
			t.Fatal(err)
		}
		if id.Account.Username != "alice" || id.Session.ID != tok.SessionID {
			t.Fatalf("identity %+v", id)
		}
	})
	t.Run("tampered token", func(t *testing.T) {
		parts := strings.Split(tok.Token, ".")
		claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
		forged := strings.Replace(string(claims), tok.Account.ID, strings.Repeat("0", 32), 1)
		parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
		if _, err := c.Authenticate(ctx, strings.Join(parts, ".")); !errors.Is(err, client.ErrInvalidToken) {
			t.Fatalf("forged claims: got %v", err)
		}
		sig := []byte(tok.Token)
		sig[len(sig)-5] ^= 1
		if _, err := c.Authenticate(ctx, string(sig)); !errors.Is(err, client.ErrInvalidToken) {
			t.Fatalf("flipped signature: got %v", err)
		}
		if _, err := c.Authenticate(ctx, "not.a.jwt"); !errors.Is(err, client.ErrInvalidToken) {
			t.Fatalf("garbage: got %v", err)
		}
	})
	var refreshed *client.Token
	t.Run("refresh", func(t *testing.T) {
		var err error
		ts.Clock.Advance(2 * time.Second)
		if refreshed, err = c.Refresh(ctx, tok.Token); err != nil {
			t.Fatal(err)
		}
		if refreshed.SessionID != tok.SessionID || refreshed.Token == tok.Token {
			t.Fatalf("refresh %+v", refreshed)
		}
		if _, err := c.Authenticate(ctx, refreshed.Token); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("logout revokes every token of the session", func(t *testing.T) {
		if err := c.Logout(ctx, tok.Token); err != nil {
			t.Fatal(err)
		}
		for _, tk := range []string{tok.Token, refreshed.Token} {
			if _, err := c.Authenticate(ctx, tk); !errors.Is(err, client.ErrInvalidToken) {
				t.Fatalf("after logout: got %v", err)
			}
		}
		if _, err := c.Refresh(ctx, refreshed.Token); !errors.Is(err, client.ErrInvalidToken) {
			t.Fatalf("refresh after logout: got %v", err)
		}
		if err := c.Logout(ctx, tok.Token); !errors.Is(err, client.ErrInvalidToken) {
			t.Fatalf("second logout: got %v", err)
		}
	})
	t.Run("expired token", func(t *testing.T) {
		tk, err := c.Login(ctx, "alice", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		// Checked once while valid, so its signature is remembered: the
		// expiry must still be checked on the remembered token.
		if _, err := c.Authenticate(ctx, tk.Token); err != nil {
			t.Fatal(err)
		}
		ts.Clock.Advance(time.Hour + time.Minute)
		if _, err := c.Authenticate(ctx, tk.Token); !errors.Is(err, client.ErrInvalidToken) {
			t.Fatalf("expired: got %v", err)
		}
		if _, err := c.Refresh(ctx, tk.Token); !errors.Is(err, client.ErrInvalidToken) {
			t.Fatalf("refresh expired: got %v", err)
		}
	})
	t.Run("session absolute lifetime caps refresh", func(t *testing.T) {
		tk, err := c.Login(ctx, "alice", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		for range 30 {
			ts.Clock.Advance(55 * time.Minute)
			if tk, err = c.Refresh(ctx, tk.Token); err != nil {
				break
			}
		}
		if !errors.Is(err, client.ErrInvalidToken) {
			t.Fatalf("refreshing past 24 h: got %v", err)
		}
	})
}

func TestChangedIdentityRefused(t *testing.T) {
	parallel(t)
	st := sqltest.NewSQLite(t)
	first := mustServe(t, st, nil)
	_, ck := mustKeys(t)
	known := client.NewKnownServers(filepath.Join(t.TempDir(), "known_servers"))
	ctx := ctxT(t)

	// Unknown server without trust-on-first-use: refused, nothing pinned.
	_, err := client.Dial(ctx, first.Addr, client.Options{Trust: known, ClientKey: ck})
	if !errors.Is(err, client.ErrUnknownServer) {
		t.Fatalf("unknown server: got %v", err)
	}
	c, err := client.Dial(ctx, first.Addr, client.Options{Trust: known, ClientKey: ck, TrustOnFirstUse: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	// Another server (another identity key) on the same address.
	addr := first.Addr
	wantOld := protocol.Fingerprint(first.Config.Identity.Public().(ed25519.PublicKey))
	impostor := mustImpostor(t, first)
	_, err = client.Dial(ctx, addr, client.Options{Trust: known, ClientKey: ck, TrustOnFirstUse: true})
	var mismatch *client.KeyMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("changed identity: got %v", err)
	}
	wantNew := protocol.Fingerprint(impostor.Config.Identity.Public().(ed25519.PublicKey))
	if mismatch.Pinned != wantOld || mismatch.Presented != wantNew || mismatch.Line != 1 {
		t.Fatalf("mismatch %+v, want pinned %s presented %s", mismatch, wantOld, wantNew)
	}
	if !strings.Contains(err.Error(), wantOld) || !strings.Contains(err.Error(), wantNew) {
		t.Fatalf("message does not name both fingerprints: %v", err)
	}
}

// mustImpostor stops ts and starts, on its address, a server with another
// identity key.
func mustImpostor(tb testing.TB, ts *testServer) *testServer {
	tb.Helper()
	ts.Stop()
	ts.Config.Identity = servertest.Identity(tb)
	ts.MustRestart()
	return ts
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
