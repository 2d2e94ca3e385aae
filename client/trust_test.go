package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
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
)

var (
	keysOnce                sync.Once
	transportKey, clientKey *rsa.PrivateKey
)

func mustKeys(tb testing.TB) (transport, clientK *rsa.PrivateKey) {
	tb.Helper()
	keysOnce.Do(func() {
		var err error
		if transportKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if clientKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return transportKey, clientKey
}

func mustIdentity(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return priv
}

// fakeServer speaks the server side of the handshake with the protocol
// package, after letting forge change the hello. It stands in for a
// man-in-the-middle; the real server is tested in package server.
func fakeServer(tb testing.TB, identity ed25519.PrivateKey, forge func(hello []byte) []byte) (addr string, clientHelloSeen chan bool) {
	tb.Helper()
	tk, _ := mustKeys(tb)
	der, _ := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	seen := make(chan bool, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		hs, err := protocol.NewServerHandshake(protocol.Version, protocol.ServerIdentity{Key: identity}, tk, der, nil)
		if err != nil {
			return
		}
		hello := hs.Hello()
		if forge != nil {
			hello = forge(hello)
		}
		if c.Write(ctx, websocket.MessageText, hello) != nil {
			return
		}
		_, ch, err := c.Read(ctx)
		select { // only the first connection's answer is looked at
		case seen <- err == nil:
		default:
		}
		if err != nil {
			return
		}
		sk, _, err := hs.Finish(ch)
		if err != nil {
			return
		}
		c.Write(ctx, websocket.MessageText, sk)
		c.Read(ctx) // until the client closes
	}))
	tb.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), seen
}

func dial(tb testing.TB, addr string, opts client.Options) (*client.Conn, error) {
	tb.Helper()
	_, ck := mustKeys(tb)
	opts.ClientKey = ck
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, opts)
	if err == nil {
		tb.Cleanup(func() { c.Close() })
	}
	return c, err
}

func TestForgedHelloRefused(t *testing.T) {
	for _, tt := range []struct {
		name  string
		forge func(h map[string]any)
		want  error
	}{
		{"version 1", func(h map[string]any) { h["version"] = 1 }, protocol.ErrVersion},
		{"version 1 hello with its signature", func(h map[string]any) { h["version"], h["signature"] = 1, make([]byte, 64) }, protocol.ErrMalformed},
		{"identity key of 31 bytes", func(h map[string]any) { h["identity_key"] = make([]byte, 31) }, protocol.ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, seen := fakeServer(t, mustIdentity(t), func(b []byte) []byte {
				var h map[string]any
				json.Unmarshal(b, &h)
				tt.forge(h)
				out, _ := json.Marshal(h)
				return out
			})
			known := filepath.Join(t.TempDir(), "known_servers")
			_, err := dial(t, addr, client.Options{Trust: client.NewKnownServers(known), TrustOnFirstUse: true})
			if !errors.Is(err, tt.want) || !errors.Is(err, client.ErrConnection) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if _, err := os.Stat(known); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("a forged hello was pinned")
			}
			if <-seen {
				t.Fatal("the client answered a forged hello")
			}
		})
	}
}

// recordHandshake runs a genuine handshake with identity and the shared
// transport key, as an eavesdropper sees it, and returns its hello and
// server_key frames.
func recordHandshake(tb testing.TB, identity ed25519.PrivateKey) (hello, serverKey []byte) {
	tb.Helper()
	tk, _ := mustKeys(tb)
	der, _ := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	sh, err := protocol.NewServerHandshake(protocol.Version, protocol.ServerIdentity{Key: identity}, tk, der, nil)
	if err != nil {
		tb.Fatal(err)
	}
	victim, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	ch, err := protocol.NewClientHandshake(protocol.Version, sh.Hello(), victim, nil)
	if err != nil {
		tb.Fatal(err)
	}
	sk, _, err := sh.Finish(ch.ClientHello())
	if err != nil {
		tb.Fatal(err)
	}
	return sh.Hello(), sk
}

// leakedKeyServer impersonates a server whose transport private key
// leaked: it holds that key but not the identity key. It replays a
// recorded hello, reads the client's secret with the leaked key, and
// answers with respond's server_key. It reports on decrypted each
// client secret it read, and on packets whether any packet followed.
func leakedKeyServer(tb testing.TB, hello []byte, respond func(clientPub *rsa.PublicKey) []byte) (addr string, decrypted, packets chan bool) {
	tb.Helper()
	tk, _ := mustKeys(tb)
	decrypted, packets = make(chan bool, 8), make(chan bool, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if c.Write(ctx, websocket.MessageText, hello) != nil {
			return
		}
		_, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		ch, clientPub, err := protocol.ParseClientHello(protocol.Version, data)
		if err != nil {
			return
		}
		secret, err := rsa.DecryptOAEP(sha256.New(), nil, tk, ch.Secret, []byte("accountd.v3 client secret"))
		decrypted <- err == nil && len(secret) == protocol.SecretSize
		if c.Write(ctx, websocket.MessageText, respond(clientPub)) != nil {
			return
		}
		typ, _, err := c.Read(ctx)
		packets <- err == nil && typ == websocket.MessageBinary
	}))
	tb.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), decrypted, packets
}

// TestLeakedTransportKey: a transport private key that leaked does not let
// anyone impersonate the server to a client that pins its identity, by
// replaying a recorded hello and signature.
func TestLeakedTransportKey(t *testing.T) {
	identity := mustIdentity(t)
	genuine, _ := fakeServer(t, identity, nil)
	known := filepath.Join(t.TempDir(), "known_servers")
	trust := client.NewKnownServers(known)
	if _, err := dial(t, genuine, client.Options{Trust: trust, TrustOnFirstUse: true}); err != nil {
		t.Fatal(err)
	}
	hello, recordedSK := recordHandshake(t, identity)
	var recorded protocol.ServerKey
	if err := json.Unmarshal(recordedSK, &recorded); err != nil {
		t.Fatal(err)
	}
	fresh := func(signature []byte) func(*rsa.PublicKey) []byte {
		return func(clientPub *rsa.PublicKey) []byte {
			enc, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, clientPub, make([]byte, protocol.SecretSize), []byte("accountd.v3 server secret"))
			if err != nil {
				t.Error(err)
			}
			out, _ := json.Marshal(protocol.ServerKey{Type: protocol.TypeServerKey, Secret: enc, Signature: signature})
			return out
		}
	}
	for _, tt := range []struct {
		name    string
		respond func(*rsa.PublicKey) []byte
	}{
		{"recorded server_key replayed", func(*rsa.PublicKey) []byte { return recordedSK }},
		{"own secret under the recorded signature", fresh(recorded.Signature)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, decrypted, packets := leakedKeyServer(t, hello, tt.respond)
			// The impostor is pinned under its own address with the real key.
			if err := trust.Pin(addr, identity.Public().(ed25519.PublicKey)); err != nil {
				t.Fatal(err)
			}
			_, err := dial(t, addr, client.Options{Trust: trust})
			var imp *client.ImpersonationError
			if !errors.As(err, &imp) || !errors.Is(err, protocol.ErrBadSignature) {
				t.Fatalf("got %v, want *client.ImpersonationError", err)
			}
			fp := protocol.Fingerprint(identity.Public().(ed25519.PublicKey))
			if imp.Server != addr || imp.Fingerprint != fp || !strings.Contains(err.Error(), "possible man-in-the-middle") {
				t.Fatalf("error %+v: %q", imp, err)
			}
			if !<-decrypted {
				t.Fatal("the leaked transport key did not read the client's secret: the attack was not real")
			}
			if <-packets {
				t.Fatal("the client sent a packet to the impostor")
			}
		})
	}
	t.Run("trust on first use pins nothing", func(t *testing.T) {
		addr, _, _ := leakedKeyServer(t, hello, func(*rsa.PublicKey) []byte { return recordedSK })
		fresh := filepath.Join(t.TempDir(), "known_servers")
		_, err := dial(t, addr, client.Options{Trust: client.NewKnownServers(fresh), TrustOnFirstUse: true})
		if !errors.Is(err, protocol.ErrBadSignature) {
			t.Fatalf("got %v, want ErrBadSignature", err)
		}
		if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("an identity the server did not prove was pinned: %v", err)
		}
	})
}

func TestBinaryHelloRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		tk, _ := mustKeys(t)
		der, _ := x509.MarshalPKIXPublicKey(&tk.PublicKey)
		hs, _ := protocol.NewServerHandshake(protocol.Version, protocol.ServerIdentity{Key: mustIdentity(t)}, tk, der, nil)
		c.Write(r.Context(), websocket.MessageBinary, hs.Hello())
		c.Read(r.Context())
	}))
	t.Cleanup(srv.Close)
	_, err := dial(t, strings.TrimPrefix(srv.URL, "http://"), client.Options{Trust: client.NewKnownServers(filepath.Join(t.TempDir(), "k")), TrustOnFirstUse: true})
	if !errors.Is(err, client.ErrConnection) || !strings.Contains(err.Error(), "text message") {
		t.Fatalf("got %v", err)
	}
}

func TestPinning(t *testing.T) {
	identity := mustIdentity(t)
	addr, _ := fakeServer(t, identity, nil)
	fp := protocol.Fingerprint(identity.Public().(ed25519.PublicKey))
	known := filepath.Join(t.TempDir(), "sub", "known_servers")
	trust := client.NewKnownServers(known)

	t.Run("unknown server refused without asking", func(t *testing.T) {
		_, err := dial(t, addr, client.Options{Trust: trust})
		if !errors.Is(err, client.ErrUnknownServer) || !strings.Contains(err.Error(), fp) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("declined", func(t *testing.T) {
		var asked string
		_, err := dial(t, addr, client.Options{Trust: trust, ConfirmNewServer: func(server, fingerprint string) (bool, error) {
			asked = server + " " + fingerprint
			return false, nil
		}})
		if !errors.Is(err, client.ErrUnknownServer) || asked != addr+" "+fp {
			t.Fatalf("got %v, asked %q", err, asked)
		}
		if _, err := os.Stat(known); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("a declined key was pinned")
		}
	})
	t.Run("accepted and pinned", func(t *testing.T) {
		c, err := dial(t, addr, client.Options{Trust: trust, ConfirmNewServer: func(string, string) (bool, error) { return true, nil }})
		if err != nil {
			t.Fatal(err)
		}
		if c.Fingerprint() != fp || c.Server() != addr {
			t.Fatalf("conn %s %s", c.Server(), c.Fingerprint())
		}
		fi, err := os.Stat(known)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("known servers file: %v %v", fi, err)
		}
	})
	t.Run("pinned key accepted without asking", func(t *testing.T) {
		if _, err := dial(t, addr, client.Options{Trust: trust, ConfirmNewServer: func(string, string) (bool, error) {
			t.Fatal("asked again about a pinned server")
			return false, nil
		}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("another key is refused naming both fingerprints", func(t *testing.T) {
		impostor := mustIdentity(t)
		key := impostor.Public().(ed25519.PublicKey)
		err := trust.Check(addr, key)
		var mm *client.KeyMismatchError
		if !errors.As(err, &mm) {
			t.Fatalf("got %v", err)
		}
		newFP := protocol.Fingerprint(key)
		msg := err.Error()
		for _, want := range []string{fp, newFP, addr, "man-in-the-middle", known + ":1"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q lacks %q", msg, want)
			}
		}
		if mm.Pinned != fp || mm.Presented != newFP {
			t.Fatalf("mismatch %+v", mm)
		}
	})
	t.Run("dialing a server with another key stops before client_hello", func(t *testing.T) {
		impostor := mustIdentity(t)
		addr2, seen := fakeServer(t, impostor, nil)
		if err := trust.Pin(addr2, identity.Public().(ed25519.PublicKey)); err != nil {
			t.Fatal(err)
		}
		_, err := dial(t, addr2, client.Options{Trust: trust, TrustOnFirstUse: true})
		var mm *client.KeyMismatchError
		if !errors.As(err, &mm) || mm.Pinned != fp || mm.Presented != protocol.Fingerprint(impostor.Public().(ed25519.PublicKey)) || mm.Line != 2 {
			t.Fatalf("got %v", err)
		}
		if <-seen {
			t.Fatal("the client answered a server whose key changed")
		}
	})
}

func TestKnownServersFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "known_servers")
	k := mustIdentity(t).Public().(ed25519.PublicKey)
	for _, tt := range []struct {
		name, content, wantErr string
	}{
		{"comments and blank lines", "# pinned servers\n\n", ""},
		{"wrong field count", "host:1 ed25519\n", "known_servers:1"},
		{"wrong kind", "host:1 rsa AAAA\n", "known_servers:1"},
		{"bad key", "# c\nhost:1 ed25519 AAAA\n", "known_servers:2: bad ed25519 key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(path, []byte(tt.content), 0o600)
			err := client.NewKnownServers(path).Check("example.com:443", k)
			if tt.wantErr == "" {
				if !errors.Is(err, client.ErrUnknownServer) {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
	t.Run("server names with spaces refused", func(t *testing.T) {
		if err := client.NewKnownServers(path).Pin("a b:1", k); err == nil {
			t.Fatal("pinned a name with a space")
		}
	})
}
