package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server/servertest"
)

const password = "correct horse battery staple"

func mustClient(tb testing.TB, addr string) *client.Client {
	tb.Helper()
	_, ck := servertest.Keys(tb)
	c, err := client.NewClient(addr, client.Options{
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

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// TestClientSurvivesRestart: a token obtained before the server restarts
// keeps working after it, on a connection the Client dialed by itself.
func TestClientSurvivesRestart(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	c := mustClient(t, ts.Addr)
	ctx := ctxT(t)
	if c.Connected() {
		t.Fatal("Connected before the first call")
	}
	if _, err := c.Signup(ctx, "alice", password, ""); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Login(ctx, "alice", password)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Fingerprint(), ts.Fingerprint(); got != want {
		t.Fatalf("fingerprint %q, want %q", got, want)
	}

	ts.Stop()
	ts.MustRestart()

	id, err := c.Authenticate(ctx, tok.Token)
	if err != nil {
		t.Fatalf("authenticate after restart: %v", err)
	}
	if id.Account.Username != "alice" || id.Session.ID != tok.SessionID {
		t.Fatalf("after restart: %+v, want alice in session %s", id, tok.SessionID)
	}
	fresh, err := c.Refresh(ctx, tok.Token)
	if err != nil {
		t.Fatal(err)
	}

	if err := c.Logout(ctx, fresh.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Authenticate(ctx, tok.Token); !errors.Is(err, client.ErrInvalidToken) {
		t.Fatalf("authenticate after logout: %v, want ErrInvalidToken", err)
	}
}

// TestClientSignupNotRepeated: a Signup without a password (the server
// generates one, returned once) is not repeated when the connection drops
// under it; the call after it redials. A Signup with a password carries an
// idempotency key and is repeated: the server answers a repeat of a
// signup it made like the first.
func TestClientSignupNotRepeated(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	c := mustClient(t, ts.Addr)
	ctx := ctxT(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	ts.Stop()
	ts.MustRestart()
	_, err := c.Signup(ctx, "bob", "", "")
	if !errors.Is(err, client.ErrConnection) && !errors.Is(err, client.ErrServerShuttingDown) {
		t.Fatalf("signup on a dropped connection: %v, want a connection error", err)
	}
	if _, err := c.Signup(ctx, "bob", "", ""); err != nil {
		t.Fatalf("signup after redial: %v", err)
	}

	ts.Stop()
	ts.MustRestart()
	r, err := c.Signup(ctx, "carol", password, "")
	if err != nil {
		t.Fatalf("signup with a password on a dropped connection: %v, want it repeated", err)
	}
	// The same signup once more, as a client that lost this answer would
	// send it: the same account, not username_taken.
	key := client.NewIdempotencyKey()
	first, err := c.SignupWith(ctx, client.SignupRequest{Username: "dave", Password: password, IdempotencyKey: key})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.SignupWith(ctx, client.SignupRequest{Username: "dave", Password: password, IdempotencyKey: key})
	if err != nil || again.Account != first.Account {
		t.Fatalf("signup repeated with its key: %+v, %v; want %+v", again, err, first.Account)
	}
	if _, err := c.Signup(ctx, "carol", password, ""); !errors.Is(err, client.ErrUsernameTaken) {
		t.Fatalf("another signup of %s: %v, want ErrUsernameTaken", r.Account.Username, err)
	}
}

// TestClientServerDown: with the server down every call is a connection
// error; once it is back, calls work again without a new Client.
func TestClientServerDown(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	c := mustClient(t, ts.Addr)
	ctx := ctxT(t)
	ts.Stop()
	if err := c.Connect(ctx); !errors.Is(err, client.ErrConnection) {
		t.Fatalf("connect to a stopped server: %v, want ErrConnection", err)
	}
	if _, err := c.Login(ctx, "carol", password); !errors.Is(err, client.ErrConnection) {
		t.Fatalf("login on a stopped server: %v, want ErrConnection", err)
	}
	ts.MustRestart()
	if _, err := c.Signup(ctx, "carol", password, ""); err != nil {
		t.Fatalf("signup once the server is back: %v", err)
	}
}

// TestClientRefusesChangedIdentity: a server that comes back with
// another identity key is refused on the redial.
func TestClientRefusesChangedIdentity(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	c := mustClient(t, ts.Addr)
	ctx := ctxT(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	ts.Stop()
	_, ts.Config.Identity, _ = ed25519.GenerateKey(rand.Reader)
	ts.MustRestart()
	_, err := c.Login(ctx, "mallory", password)
	var mismatch *client.KeyMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("login after the identity changed: %v, want *KeyMismatchError", err)
	}
	if errors.Is(err, client.ErrServerShuttingDown) {
		t.Errorf("a changed identity is reported as a shutdown: %v", err)
	}
}

func TestNewClientChecksOptions(t *testing.T) {
	if _, err := client.NewClient("127.0.0.1:1", client.Options{}); err == nil {
		t.Error("NewClient without Trust: no error")
	}
	if _, err := client.NewClient("ftp://x", client.Options{Trust: client.NewKnownServers("x")}); err == nil {
		t.Error("NewClient with an ftp address: no error")
	}
}
