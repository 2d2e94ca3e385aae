package protocol_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
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

func TestHelloSignatureChecked(t *testing.T) {
	tk, ck := mustKeys(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	sh, err := protocol.NewServerHandshake(priv, tk, der, nil)
	if err != nil {
		t.Fatal(err)
	}
	var h protocol.Hello
	if err := json.Unmarshal(sh.Hello(), &h); err != nil {
		t.Fatal(err)
	}
	// An attacker swaps in their own transport key but cannot re-sign.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	h.TransportKey, _ = x509.MarshalPKIXPublicKey(&other.PublicKey)
	forged, _ := json.Marshal(h)
	if _, err := protocol.NewClientHandshake(forged, ck, nil); !errors.Is(err, protocol.ErrBadSignature) {
		t.Fatalf("got %v, want ErrBadSignature", err)
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
