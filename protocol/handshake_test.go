package protocol_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/accountd/accountd/protocol"
)

var (
	keysOnce  sync.Once
	transport *rsa.PrivateKey
	clientKey *rsa.PrivateKey
)

func mustKeys(tb testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	tb.Helper()
	keysOnce.Do(func() {
		var err error
		if transport, err = rsa.GenerateKey(rand.Reader, 3072); err != nil {
			panic(err)
		}
		if clientKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return transport, clientKey
}

// mustHandshake runs a full handshake in memory and returns both sessions.
func mustHandshake(tb testing.TB) (server, client *protocol.Session, identity ed25519.PublicKey) {
	tb.Helper()
	tk, ck := mustKeys(tb)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	sh, err := protocol.NewServerHandshake(priv, tk, der, nil)
	if err != nil {
		tb.Fatal(err)
	}
	chs, err := protocol.NewClientHandshake(sh.Hello(), ck, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if !chs.IdentityKey().Equal(pub) {
		tb.Fatal("identity key not carried")
	}
	skFrame, ss, err := sh.Finish(chs.ClientHello())
	if err != nil {
		tb.Fatal(err)
	}
	cs, err := chs.Finish(skFrame)
	if err != nil {
		tb.Fatal(err)
	}
	return ss, cs, pub
}

func TestHandshakeRoundTrip(t *testing.T) {
	ss, cs, _ := mustHandshake(t)
	for i := range 3 {
		msg := []byte(`{"id":1,"op":"login"}`)
		pkt, err := cs.Seal(msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ss.Open(pkt)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("packet %d: got %q", i, got)
		}
		back, _ := ss.Seal([]byte("reply"))
		if got, err := cs.Open(back); err != nil || string(got) != "reply" {
			t.Fatalf("reply %d: %q %v", i, got, err)
		}
	}
}

func TestPacketAttacks(t *testing.T) {
	tests := []struct {
		name   string
		attack func(t *testing.T, ss, cs *protocol.Session) error
	}{
		{"replayed", func(t *testing.T, ss, cs *protocol.Session) error {
			p, _ := cs.Seal([]byte("a"))
			if _, err := ss.Open(p); err != nil {
				t.Fatal(err)
			}
			_, err := ss.Open(p)
			return err
		}},
		{"reordered", func(t *testing.T, ss, cs *protocol.Session) error {
			cs.Seal([]byte("a"))
			p2, _ := cs.Seal([]byte("b"))
			_, err := ss.Open(p2)
			return err
		}},
		{"reflected", func(t *testing.T, ss, cs *protocol.Session) error {
			p, _ := ss.Seal([]byte("a"))
			_, err := ss.Open(p)
			return err
		}},
		{"flipped bit", func(t *testing.T, ss, cs *protocol.Session) error {
			p, _ := cs.Seal([]byte("hello"))
			p[2] ^= 1
			_, err := ss.Open(p)
			return err
		}},
		{"truncated", func(t *testing.T, ss, cs *protocol.Session) error {
			p, _ := cs.Seal([]byte("hello"))
			_, err := ss.Open(p[:len(p)-1])
			return err
		}},
		{"empty", func(t *testing.T, ss, cs *protocol.Session) error {
			_, err := ss.Open(nil)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss, cs, _ := mustHandshake(t)
			if err := tt.attack(t, ss, cs); !errors.Is(err, protocol.ErrDecrypt) {
				t.Fatalf("got %v, want ErrDecrypt", err)
			}
			// The session stays broken: even a good packet is refused now.
			p, _ := cs.Seal([]byte("late"))
			if _, err := ss.Open(p); err == nil {
				t.Fatal("session accepted a packet after a failure")
			}
		})
	}
}

// attackerServerKey is what a server without the identity key can send:
// its own secret, encrypted to the client's key, under any signature.
func attackerServerKey(tb testing.TB, clientHello []byte, signature []byte) []byte {
	tb.Helper()
	_, clientPub, err := protocol.ParseClientHello(clientHello)
	if err != nil {
		tb.Fatal(err)
	}
	enc, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, clientPub, make([]byte, protocol.SecretSize), []byte("accountd.v2 server secret"))
	if err != nil {
		tb.Fatal(err)
	}
	out, _ := json.Marshal(protocol.ServerKey{Type: protocol.TypeServerKey, Secret: enc, Signature: signature})
	return out
}

// TestLeakedTransportKey is an attacker who stole the transport private
// key (but not the identity key) and recorded a genuine handshake: it
// replays the recorded hello to a client that pins the identity key, can
// read the client's secret, and still cannot finish the handshake.
func TestLeakedTransportKey(t *testing.T) {
	tk, ck := mustKeys(t)
	pinned, identity, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&tk.PublicKey)

	// A genuine handshake, recorded.
	sh, err := protocol.NewServerHandshake(identity, tk, der, nil)
	if err != nil {
		t.Fatal(err)
	}
	recordedHello := sh.Hello()
	victim, _ := rsa.GenerateKey(rand.Reader, 2048)
	vch, err := protocol.NewClientHandshake(recordedHello, victim, nil)
	if err != nil {
		t.Fatal(err)
	}
	recordedSK, _, err := sh.Finish(vch.ClientHello())
	if err != nil {
		t.Fatal(err)
	}
	var recorded protocol.ServerKey
	json.Unmarshal(recordedSK, &recorded)

	for _, tt := range []struct {
		name      string
		serverKey func(clientHello []byte) []byte
	}{
		{"recorded server_key replayed", func([]byte) []byte { return recordedSK }},
		{"fresh secret under the recorded signature", func(ch []byte) []byte { return attackerServerKey(t, ch, recorded.Signature) }},
		{"fresh secret, signature by another key", func(ch []byte) []byte {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			return attackerServerKey(t, ch, ed25519.Sign(other, make([]byte, 32)))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The client accepts the replayed hello: it carries the pinned key.
			chs, err := protocol.NewClientHandshake(recordedHello, ck, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !chs.IdentityKey().Equal(pinned) {
				t.Fatal("the replayed hello does not carry the pinned key")
			}
			// The leaked key reads the client's secret: the attack is real.
			var ch protocol.ClientHello
			json.Unmarshal(chs.ClientHello(), &ch)
			secret, err := rsa.DecryptOAEP(sha256.New(), nil, tk, ch.Secret, []byte("accountd.v2 client secret"))
			if err != nil || len(secret) != protocol.SecretSize {
				t.Fatalf("the leaked transport key does not decrypt the client's secret: %v", err)
			}
			sess, err := chs.Finish(tt.serverKey(chs.ClientHello()))
			if !errors.Is(err, protocol.ErrBadSignature) || sess != nil {
				t.Fatalf("got %v, %v; want ErrBadSignature and no session", sess, err)
			}
		})
	}
}

// TestAlteredHelloRefused: a man-in-the-middle swaps in its own transport
// key. The hello is not signed, but the genuine server signs the
// transcript it saw, which holds its own transport key.
func TestAlteredHelloRefused(t *testing.T) {
	tk, ck := mustKeys(t)
	_, identity, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	sh, err := protocol.NewServerHandshake(identity, tk, der, nil)
	if err != nil {
		t.Fatal(err)
	}
	var h protocol.Hello
	if err := json.Unmarshal(sh.Hello(), &h); err != nil {
		t.Fatal(err)
	}
	mitm, _ := rsa.GenerateKey(rand.Reader, 2048)
	h.TransportKey, _ = x509.MarshalPKIXPublicKey(&mitm.PublicKey)
	forged, _ := json.Marshal(h)
	chs, err := protocol.NewClientHandshake(forged, ck, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The man in the middle re-encrypts the client's secret to the real
	// server and relays the real server's answer.
	var ch protocol.ClientHello
	json.Unmarshal(chs.ClientHello(), &ch)
	secret, err := rsa.DecryptOAEP(sha256.New(), nil, mitm, ch.Secret, []byte("accountd.v2 client secret"))
	if err != nil {
		t.Fatal(err)
	}
	if ch.Secret, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, &tk.PublicKey, secret, []byte("accountd.v2 client secret")); err != nil {
		t.Fatal(err)
	}
	relayed, _ := json.Marshal(ch)
	sk, _, err := sh.Finish(relayed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chs.Finish(sk); !errors.Is(err, protocol.ErrBadSignature) {
		t.Fatalf("got %v, want ErrBadSignature", err)
	}
}

func TestVersionOneHelloRefused(t *testing.T) {
	tk, ck := mustKeys(t)
	_, identity, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	sh, _ := protocol.NewServerHandshake(identity, tk, der, nil)
	var m map[string]any
	json.Unmarshal(sh.Hello(), &m)
	m["version"] = 1
	v1, _ := json.Marshal(m)
	if _, err := protocol.NewClientHandshake(v1, ck, nil); !errors.Is(err, protocol.ErrVersion) {
		t.Fatalf("version 1: got %v, want ErrVersion", err)
	}
	m["signature"] = make([]byte, 64)
	v1, _ = json.Marshal(m)
	if _, err := protocol.NewClientHandshake(v1, ck, nil); !errors.Is(err, protocol.ErrMalformed) {
		t.Fatalf("version 1 hello with its signature: got %v, want ErrMalformed", err)
	}
}

func TestFinishWrongKey(t *testing.T) {
	tk, ck := mustKeys(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	sh, _ := protocol.NewServerHandshake(priv, tk, der, nil)
	// The client encrypts to a different server's transport key.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherDER, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	sh2, _ := protocol.NewServerHandshake(priv, other, otherDER, nil)
	chs, err := protocol.NewClientHandshake(sh2.Hello(), ck, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sh.Finish(chs.ClientHello()); !errors.Is(err, protocol.ErrDecrypt) {
		t.Fatalf("got %v, want ErrDecrypt", err)
	}
}

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want string
	}{
		{`{"id":1,"op":"login","body":{"username":"a"}}`, true, ""},
		{`{"id":1,"op":"login"}`, true, ""},
		{`{"id":0,"op":"login"}`, false, "id must be"},
		{`{"id":9007199254740992,"op":"login"}`, false, "id must be"},
		{`{"id":"1","op":"login"}`, false, `field "id" must be a number`},
		{`{"id":1}`, false, "op is required"},
		{`{"id":1,"op":"x","extra":1}`, false, "unknown field"},
		{`{"id":1,"op":"x","body":[1]}`, false, "body must be an object"},
		{`{"id":1,"op":"x"} {}`, false, "trailing"},
		{`not json`, false, "invalid JSON"},
	}
	for _, tt := range tests {
		r, err := protocol.DecodeRequest([]byte(tt.in))
		if tt.ok {
			if err != nil || r == nil {
				t.Errorf("%s: %v", tt.in, err)
			}
			continue
		}
		if err == nil || r != nil || !errors.Is(err, protocol.ErrBadRequest) || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
			t.Errorf("%s: got %v, %v; want error containing %q", tt.in, r, err, tt.want)
		}
	}
}

func TestFingerprint(t *testing.T) {
	fp := protocol.Fingerprint(make(ed25519.PublicKey, 32))
	if fp != "SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU" {
		t.Fatalf("fingerprint %s", fp)
	}
}
