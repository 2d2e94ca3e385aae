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
	"time"

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
	sh, err := protocol.NewServerHandshake(protocol.Version, protocol.ServerIdentity{Key: priv}, tk, der, nil)
	if err != nil {
		tb.Fatal(err)
	}
	chs, err := protocol.NewClientHandshake(protocol.Version, sh.Hello(), ck, nil)
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
	_, clientPub, err := protocol.ParseClientHello(protocol.Version, clientHello)
	if err != nil {
		tb.Fatal(err)
	}
	enc, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, clientPub, make([]byte, protocol.SecretSize), []byte("accountd.v3 server secret"))
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
	sh, err := protocol.NewServerHandshake(protocol.Version, protocol.ServerIdentity{Key: identity}, tk, der, nil)
	if err != nil {
		t.Fatal(err)
	}
	recordedHello := sh.Hello()
	victim, _ := rsa.GenerateKey(rand.Reader, 2048)
	vch, err := protocol.NewClientHandshake(protocol.Version, recordedHello, victim, nil)
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
			chs, err := protocol.NewClientHandshake(protocol.Version, recordedHello, ck, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !chs.IdentityKey().Equal(pinned) {
				t.Fatal("the replayed hello does not carry the pinned key")
			}
			// The leaked key reads the client's secret: the attack is real.
			var ch protocol.ClientHello
			json.Unmarshal(chs.ClientHello(), &ch)
			secret, err := rsa.DecryptOAEP(sha256.New(), nil, tk, ch.Secret, []byte("accountd.v3 client secret"))
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
	sh, err := protocol.NewServerHandshake(protocol.Version, protocol.ServerIdentity{Key: identity}, tk, der, nil)
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
	chs, err := protocol.NewClientHandshake(protocol.Version, forged, ck, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The man in the middle re-encrypts the client's secret to the real
	// server and relays the real server's answer.
	var ch protocol.ClientHello
	json.Unmarshal(chs.ClientHello(), &ch)
	secret, err := rsa.DecryptOAEP(sha256.New(), nil, mitm, ch.Secret, []byte("accountd.v3 client secret"))
	if err != nil {
		t.Fatal(err)
	}
	if ch.Secret, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, &tk.PublicKey, secret, []byte("accountd.v3 client secret")); err != nil {
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
	sh, _ := protocol.NewServerHandshake(protocol.Version, protocol.ServerIdentity{Key: identity}, tk, der, nil)
	var m map[string]any
	json.Unmarshal(sh.Hello(), &m)
	m["version"] = 1
	v1, _ := json.Marshal(m)
	if _, err := protocol.NewClientHandshake(protocol.Version, v1, ck, nil); !errors.Is(err, protocol.ErrVersion) {
		t.Fatalf("version 1: got %v, want ErrVersion", err)
	}
	m["signature"] = make([]byte, 64)
	v1, _ = json.Marshal(m)
	if _, err := protocol.NewClientHandshake(protocol.Version, v1, ck, nil); !errors.Is(err, protocol.ErrMalformed) {
		t.Fatalf("version 1 hello with its signature: got %v, want ErrMalformed", err)
	}
}

func TestFinishWrongKey(t *testing.T) {
	tk, ck := mustKeys(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	sh, _ := protocol.NewServerHandshake(protocol.Version, protocol.ServerIdentity{Key: priv}, tk, der, nil)
	// The client encrypts to a different server's transport key.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherDER, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	sh2, _ := protocol.NewServerHandshake(protocol.Version, protocol.ServerIdentity{Key: priv}, other, otherDER, nil)
	chs, err := protocol.NewClientHandshake(protocol.Version, sh2.Hello(), ck, nil)
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

// TestRotationOverlap: during an identity key rotation's overlap, a
// version 3 hello announces both keys and both sign the transcript, and a
// version 2 hello presents the previous key alone.
func TestRotationOverlap(t *testing.T) {
	tk, ck := mustKeys(t)
	der, _ := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	oldPub, old, _ := ed25519.GenerateKey(rand.Reader)
	newPub, cur, _ := ed25519.GenerateKey(rand.Reader)
	until := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	id := protocol.ServerIdentity{Key: cur, Previous: old, PreviousUntil: until}

	t.Run("version 3 announces both", func(t *testing.T) {
		sh, err := protocol.NewServerHandshake(3, id, tk, der, nil)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := protocol.NewClientHandshake(3, sh.Hello(), ck, nil)
		if err != nil {
			t.Fatal(err)
		}
		prev, end := ch.PreviousIdentityKey()
		if !ch.IdentityKey().Equal(newPub) || !prev.Equal(oldPub) || !end.Equal(until) {
			t.Fatalf("hello announces %x, previous %x until %v", ch.IdentityKey(), prev, end)
		}
		sk, ss, err := sh.Finish(ch.ClientHello())
		if err != nil {
			t.Fatal(err)
		}
		cs, err := ch.Finish(sk)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := cs.Seal([]byte("x"))
		if got, err := ss.Open(p); err != nil || string(got) != "x" {
			t.Fatalf("packet after the handshake: %q %v", got, err)
		}
	})
	t.Run("version 2 presents the previous key", func(t *testing.T) {
		sh, err := protocol.NewServerHandshake(2, id, tk, der, nil)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sh.Hello(), []byte("previous")) {
			t.Fatalf("version 2 hello %s names a previous key", sh.Hello())
		}
		ch, err := protocol.NewClientHandshake(2, sh.Hello(), ck, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !ch.IdentityKey().Equal(oldPub) {
			t.Fatalf("version 2 hello presents %x, want the previous key %x", ch.IdentityKey(), oldPub)
		}
		sk, _, err := sh.Finish(ch.ClientHello())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.Finish(sk); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a previous_signature that does not verify", func(t *testing.T) {
		sh, _ := protocol.NewServerHandshake(3, id, tk, der, nil)
		ch, err := protocol.NewClientHandshake(3, sh.Hello(), ck, nil)
		if err != nil {
			t.Fatal(err)
		}
		sk, _, err := sh.Finish(ch.ClientHello())
		if err != nil {
			t.Fatal(err)
		}
		var m protocol.ServerKey
		json.Unmarshal(sk, &m)
		m.PreviousSignature[0] ^= 1
		forged, _ := json.Marshal(m)
		if s, err := ch.Finish(forged); !errors.Is(err, protocol.ErrBadSignature) || s != nil {
			t.Fatalf("got %v, %v; want ErrBadSignature", s, err)
		}
	})
	t.Run("a server without the previous key cannot claim it", func(t *testing.T) {
		// An attacker holding only the new key announces the old one and
		// signs the previous_signature with a key of its own.
		_, attacker, _ := ed25519.GenerateKey(rand.Reader)
		sh, _ := protocol.NewServerHandshake(3, protocol.ServerIdentity{Key: cur, Previous: attacker, PreviousUntil: until}, tk, der, nil)
		var h protocol.Hello
		json.Unmarshal(sh.Hello(), &h)
		h.PreviousIdentityKey = oldPub
		hello, _ := json.Marshal(h)
		ch, err := protocol.NewClientHandshake(3, hello, ck, nil)
		if err != nil {
			t.Fatal(err)
		}
		sk, _, err := sh.Finish(ch.ClientHello())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.Finish(sk); !errors.Is(err, protocol.ErrBadSignature) {
			t.Fatalf("got %v, want ErrBadSignature", err)
		}
	})
	t.Run("identities no client could accept", func(t *testing.T) {
		for name, bad := range map[string]protocol.ServerIdentity{
			"previous without an end":  {Key: cur, Previous: old},
			"previous equal to key":    {Key: cur, Previous: cur, PreviousUntil: until},
			"previous of wrong length": {Key: cur, Previous: old[:32], PreviousUntil: until},
			"no key":                   {Previous: old, PreviousUntil: until},
		} {
			if _, err := protocol.NewServerHandshake(3, bad, tk, der, nil); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
		if _, err := protocol.NewServerHandshake(4, protocol.ServerIdentity{Key: cur}, tk, der, nil); !errors.Is(err, protocol.ErrVersion) {
			t.Errorf("version 4: got %v, want ErrVersion", err)
		}
	})
}

func TestSelectVersion(t *testing.T) {
	for _, tt := range []struct {
		offered []string
		want    int
	}{
		{[]string{"accountd.v3"}, 3},
		{[]string{"accountd.v2"}, 2},
		{[]string{"accountd.v2", "accountd.v3"}, 3},
		{[]string{"accountd.v1", "accountd.v2"}, 2},
		{[]string{"accountd.v1"}, 0},
		{[]string{"ACCOUNTD.V3"}, 0},
		{nil, 0},
	} {
		got, ok := protocol.SelectVersion(tt.offered)
		if got != tt.want || ok != (tt.want != 0) {
			t.Errorf("SelectVersion(%q) = %d, %v; want %d", tt.offered, got, ok, tt.want)
		}
	}
}
