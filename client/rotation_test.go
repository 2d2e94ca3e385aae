package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/servertest"
)

// rotated starts a real server in the overlap of an identity rotation:
// its identity key is new, its previous one old.
func rotated(tb testing.TB) (ts *servertest.Server, old, cur ed25519.PublicKey) {
	tb.Helper()
	previous := servertest.Identity(tb)
	ts = servertest.MustStart(tb, func(c *server.Config) {
		c.PreviousIdentity, c.PreviousIdentityUntil = previous, time.Now().Add(720*time.Hour)
	})
	return ts, previous.Public().(ed25519.PublicKey), ts.Config.Identity.Public().(ed25519.PublicKey)
}

// knownServersWith writes a known-servers file holding a comment, another
// server's pin, and key for server.
func knownServersWith(tb testing.TB, server string, key ed25519.PublicKey) (path, content string) {
	tb.Helper()
	path = filepath.Join(tb.TempDir(), "known_servers")
	other := mustIdentity(tb).Public().(ed25519.PublicKey)
	content = fmt.Sprintf("# pinned by hand\nother.example:443 ed25519 %s\n%s ed25519 %s\n",
		base64.StdEncoding.EncodeToString(other), server, base64.StdEncoding.EncodeToString(key))
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path, content
}

// rotations records the calls of Options.IdentityRotated.
type rotations struct {
	mu    sync.Mutex
	calls []string
}

func (r *rotations) record(server, previous, current string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, server+" "+previous+" -> "+current)
}

func (r *rotations) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func TestRotationMovesPin(t *testing.T) {
	t.Parallel()
	ts, old, cur := rotated(t)
	oldFP, newFP := protocol.Fingerprint(old), protocol.Fingerprint(cur)

	t.Run("pinned to the previous key: moves to the new one", func(t *testing.T) {
		path, before := knownServersWith(t, ts.Addr, old)
		var seen rotations
		c, err := dial(t, ts.Addr, client.Options{Trust: client.NewKnownServers(path), IdentityRotated: seen.record})
		if err != nil {
			t.Fatal(err)
		}
		if c.Fingerprint() != newFP {
			t.Fatalf("connection fingerprint %s, want the new key's %s", c.Fingerprint(), newFP)
		}
		if _, err := c.Policy(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got, want := seen.get(), []string{ts.Addr + " " + oldFP + " -> " + newFP}; !equal(got, want) {
			t.Fatalf("IdentityRotated calls %q, want %q", got, want)
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Replace(before, base64.StdEncoding.EncodeToString(old), base64.StdEncoding.EncodeToString(cur), 1)
		if string(after) != want {
			t.Fatalf("known servers after the move:\n%s\nwant:\n%s", after, want)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("known servers file after the move: %v %v", fi, err)
		}
		if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".known_servers.*")); len(leftovers) != 0 {
			t.Fatalf("temporary files left: %v", leftovers)
		}
		// The next connection finds the new key pinned: no second move.
		if _, err := dial(t, ts.Addr, client.Options{Trust: client.NewKnownServers(path), IdentityRotated: seen.record}); err != nil {
			t.Fatal(err)
		}
		if n := len(seen.get()); n != 1 {
			t.Fatalf("IdentityRotated called %d times after two connections, want 1", n)
		}
	})
	t.Run("pinned to the new key: nothing moves", func(t *testing.T) {
		path, before := knownServersWith(t, ts.Addr, cur)
		var seen rotations
		if _, err := dial(t, ts.Addr, client.Options{Trust: client.NewKnownServers(path), IdentityRotated: seen.record}); err != nil {
			t.Fatal(err)
		}
		if after, _ := os.ReadFile(path); string(after) != before || len(seen.get()) != 0 {
			t.Fatalf("file changed or callback called: %q %q", after, seen.get())
		}
	})
	t.Run("pinned to neither: refused as a changed key", func(t *testing.T) {
		stranger := mustIdentity(t).Public().(ed25519.PublicKey)
		path, before := knownServersWith(t, ts.Addr, stranger)
		_, err := dial(t, ts.Addr, client.Options{Trust: client.NewKnownServers(path), TrustOnFirstUse: true})
		var mm *client.KeyMismatchError
		if !errors.As(err, &mm) || mm.Pinned != protocol.Fingerprint(stranger) || mm.Presented != newFP {
			t.Fatalf("got %v, want *KeyMismatchError pinned %s presented %s", err, protocol.Fingerprint(stranger), newFP)
		}
		if after, _ := os.ReadFile(path); string(after) != before {
			t.Fatalf("file changed: %q", after)
		}
	})
	t.Run("first use pins the new key, never the previous one", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "known_servers")
		if _, err := dial(t, ts.Addr, client.Options{Trust: client.NewKnownServers(path), TrustOnFirstUse: true}); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		if want := ts.Addr + " ed25519 " + base64.StdEncoding.EncodeToString(cur) + "\n"; string(got) != want {
			t.Fatalf("pinned %q, want %q", got, want)
		}
	})
	t.Run("a fingerprint given by the operator moves in memory", func(t *testing.T) {
		trust, err := client.TrustFingerprint(oldFP)
		if err != nil {
			t.Fatal(err)
		}
		var seen rotations
		if _, err := dial(t, ts.Addr, client.Options{Trust: trust, IdentityRotated: seen.record}); err != nil {
			t.Fatal(err)
		}
		if trust.String() != newFP || len(seen.get()) != 1 {
			t.Fatalf("trust %s after the move (want %s), callback %q", trust, newFP, seen.get())
		}
	})
	t.Run("a Client's pool moves too", func(t *testing.T) {
		path, _ := knownServersWith(t, ts.Addr, old)
		_, ck := mustKeys(t)
		var seen rotations
		c, err := client.NewClient(ts.Addr, client.Options{Trust: client.NewKnownServers(path), ClientKey: ck, IdentityRotated: seen.record})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.Policy(ctx); err != nil {
			t.Fatal(err)
		}
		if err := client.NewKnownServers(path).Check(ts.Addr, cur); err != nil || len(seen.get()) != 1 {
			t.Fatalf("after the pool's first call: %v, callback %q", err, seen.get())
		}
	})
}

func equal(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

// TestRotationBadPreviousSignature: a server that announces the pinned key
// as its previous one but cannot sign with it is an impostor; the pin
// stays.
func TestRotationBadPreviousSignature(t *testing.T) {
	t.Parallel()
	tk, _ := mustKeys(t)
	der, _ := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	old, cur := mustIdentity(t), mustIdentity(t)
	id := protocol.ServerIdentity{Key: cur, Previous: old, PreviousUntil: time.Now().Add(time.Hour)}
	packets := make(chan bool, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		hs, err := protocol.NewServerHandshake(protocol.Version, id, tk, der, nil)
		if err != nil || c.Write(ctx, websocket.MessageText, hs.Hello()) != nil {
			return
		}
		_, ch, err := c.Read(ctx)
		if err != nil {
			return
		}
		sk, _, err := hs.Finish(ch)
		if err != nil {
			return
		}
		var m protocol.ServerKey
		json.Unmarshal(sk, &m)
		m.PreviousSignature[5] ^= 1
		forged, _ := json.Marshal(m)
		c.Write(ctx, websocket.MessageText, forged)
		typ, _, err := c.Read(ctx)
		packets <- err == nil && typ == websocket.MessageBinary
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	oldPub := old.Public().(ed25519.PublicKey)
	path, before := knownServersWith(t, addr, oldPub)
	var seen rotations
	_, err := dial(t, addr, client.Options{Trust: client.NewKnownServers(path), IdentityRotated: seen.record})
	var imp *client.ImpersonationError
	if !errors.As(err, &imp) || !errors.Is(err, protocol.ErrBadSignature) || imp.Fingerprint != protocol.Fingerprint(oldPub) {
		t.Fatalf("got %v, want *ImpersonationError for the pinned %s", err, protocol.Fingerprint(oldPub))
	}
	if after, _ := os.ReadFile(path); string(after) != before || len(seen.get()) != 0 {
		t.Fatalf("pin changed to %q or callback called %q", after, seen.get())
	}
	if <-packets {
		t.Fatal("the client sent a packet to the impostor")
	}
}

// TestOlderServer: a server that speaks only version 2 refuses the
// upgrade with a 400 naming accountd.v2; the client says so.
func TestOlderServer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "accountd: subprotocol accountd.v2 required", http.StatusBadRequest)
	}))
	t.Cleanup(srv.Close)
	_, err := dial(t, strings.TrimPrefix(srv.URL, "http://"), client.Options{Trust: client.NewKnownServers(filepath.Join(t.TempDir(), "k")), TrustOnFirstUse: true})
	if !errors.Is(err, client.ErrConnection) || !strings.Contains(err.Error(), "older protocol (accountd: subprotocol accountd.v2 required)") {
		t.Fatalf("got %v", err)
	}
}
