package protocol_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accountd/accountd/protocol"
)

// The vectors are generated once and committed. -update-vectors rebuilds
// every derived value from the committed keys and random bytes (it creates
// them only when the file does not exist yet); CI never passes it.
var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/vectors.json from its keys and random bytes")

const vectorsPath = "testdata/vectors.json"

// hexBytes is a byte string written as lower-case hex in the vectors.
type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }
func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

// vectors is the layout of testdata/vectors.json; SPEC.md §9 describes it.
type vectors struct {
	Comment   []string         `json:"comment"`
	Keys      vectorKeys       `json:"keys"`
	Handshake vectorHandshake  `json:"handshake"`
	Packets   []vectorPacket   `json:"packets"`
	BadFrames []vectorBadFrame `json:"invalid_handshake"`
	BadPacket []vectorBadSeq   `json:"invalid_packets"`
	Requests  []vectorRequest  `json:"requests"`
	Bodies    []vectorBody     `json:"bodies"`
	// V3 holds the version 3 vectors (SPEC.md §9.1); everything above is
	// version 2.
	V3 vectorsV3 `json:"v3"`
}

type vectorKeys struct {
	IdentitySeed    hexBytes `json:"identity_seed"`
	IdentityPublic  hexBytes `json:"identity_public"`
	Fingerprint     string   `json:"identity_fingerprint"`
	TransportPKCS8  hexBytes `json:"transport_private_pkcs8"`
	TransportSPKI   hexBytes `json:"transport_public_spki"`
	ClientPKCS8     hexBytes `json:"client_private_pkcs8"`
	ClientSPKI      hexBytes `json:"client_public_spki"`
	OtherRSAPKCS8   hexBytes `json:"other_private_pkcs8"`
	OtherIdentSeed  hexBytes `json:"other_identity_seed"`
	OtherRSAComment string   `json:"other_comment"`
}

type vectorHandshake struct {
	Nonce           hexBytes `json:"nonce"`
	ClientSecret    hexBytes `json:"client_secret"`
	ClientOAEPSeed  hexBytes `json:"client_oaep_seed"`
	ServerSecret    hexBytes `json:"server_secret"`
	ServerOAEPSeed  hexBytes `json:"server_oaep_seed"`
	Hello           string   `json:"hello"`
	ClientHello     string   `json:"client_hello"`
	ServerKey       string   `json:"server_key"`
	TranscriptInput hexBytes `json:"transcript_input"`
	Transcript      hexBytes `json:"transcript_hash"`
	SignedInput     hexBytes `json:"signed_transcript_bytes"`
	Signature       hexBytes `json:"server_signature"`
	IKM             hexBytes `json:"ikm"`
	C2SKey          hexBytes `json:"c2s_key"`
	S2CKey          hexBytes `json:"s2c_key"`
}

type vectorPacket struct {
	Direction string   `json:"direction"` // "c2s" or "s2c"
	Counter   uint64   `json:"counter"`
	Nonce     hexBytes `json:"nonce"`
	Plaintext string   `json:"plaintext"`
	Packet    hexBytes `json:"packet"`
}

// vectorBadFrame is a handshake frame that must be refused. Frame says
// which side receives it: "hello" (the client), "client_hello" (the
// server, after sending the vector hello), "server_key" (the client,
// after sending the vector client_hello).
type vectorBadFrame struct {
	Name   string `json:"name"`
	Frame  string `json:"frame"`
	Data   string `json:"data"`
	Expect string `json:"expect"` // malformed, bad_signature, version, decrypt
}

// vectorBadSeq feeds packets in order to a fresh receiver for Direction
// (with the vector keys, counter 0); Expect gives each packet's outcome.
type vectorBadSeq struct {
	Name      string     `json:"name"`
	Direction string     `json:"direction"`
	Packets   []hexBytes `json:"packets"`
	Expect    []string   `json:"expect"` // ok or decrypt
}

// vectorRequest is a request plaintext and whether it decodes.
type vectorRequest struct {
	Plaintext string `json:"plaintext"`
	Expect    string `json:"expect"` // ok or bad_request
}

// vectorBody is a body of an existing operation; Body is its exact JSON
// text, nil for a request without a body.
type vectorBody struct {
	Op     string  `json:"op"`
	Body   *string `json:"body"`
	Expect string  `json:"expect"` // ok or bad_request
}

// bodyRules are the body types and required members of SPEC.md §5.4,
// which the server checks before an operation's own rules.
var bodyRules = map[string]struct {
	decode   func(json.RawMessage) (map[string]string, error)
	required []string
	// oneOf lists members of which exactly one must be present.
	oneOf []string
}{
	protocol.OpSignup: {func(b json.RawMessage) (map[string]string, error) {
		var r protocol.SignupRequest
		err := protocol.DecodeBody(b, &r)
		return map[string]string{"username": r.Username}, err
	}, []string{"username"}, nil},
	protocol.OpLogin: {func(b json.RawMessage) (map[string]string, error) {
		var r protocol.LoginRequest
		err := protocol.DecodeBody(b, &r)
		return map[string]string{"username": r.Username, "password": r.Password}, err
	}, []string{"username", "password"}, nil},
	protocol.OpAuthenticate: {decodeToken, []string{"token"}, nil},
	protocol.OpRefresh:      {decodeToken, []string{"token"}, nil},
	protocol.OpLogout:       {decodeToken, []string{"token"}, nil},
	protocol.OpServiceAuth: {func(b json.RawMessage) (map[string]string, error) {
		var r protocol.ServiceAuthRequest
		err := protocol.DecodeBody(b, &r)
		return map[string]string{"key": r.Key}, err
	}, []string{"key"}, nil},
	protocol.OpAdminDisableUser: {func(b json.RawMessage) (map[string]string, error) {
		var r protocol.AdminUserRequest
		err := protocol.DecodeBody(b, &r)
		return map[string]string{"user": r.User}, err
	}, []string{"user"}, nil},
	protocol.OpTOTPBegin: {func(b json.RawMessage) (map[string]string, error) {
		var r protocol.TOTPBeginRequest
		err := protocol.DecodeBody(b, &r)
		return map[string]string{"token": r.Token, "password": r.Password}, err
	}, []string{"token", "password"}, nil},
	protocol.OpTOTPConfirm: {func(b json.RawMessage) (map[string]string, error) {
		var r protocol.TOTPConfirmRequest
		err := protocol.DecodeBody(b, &r)
		return map[string]string{"token": r.Token, "code": r.Code}, err
	}, []string{"token", "code"}, nil},
	protocol.OpChangePassword: {func(b json.RawMessage) (map[string]string, error) {
		var r protocol.ChangePasswordRequest
		err := protocol.DecodeBody(b, &r)
		return map[string]string{"token": r.Token, "current_password": r.CurrentPassword, "new_password": r.NewPassword}, err
	}, []string{"token", "current_password", "new_password"}, nil},
	protocol.OpChangeEmail: {func(b json.RawMessage) (map[string]string, error) {
		var r protocol.ChangeEmailRequest
		err := protocol.DecodeBody(b, &r)
		return map[string]string{"token": r.Token, "password": r.Password, "new_email": r.NewEmail}, err
	}, []string{"token", "password", "new_email"}, nil},
	protocol.OpDeleteAccount: {func(b json.RawMessage) (map[string]string, error) {
		var r protocol.DeleteAccountRequest
		err := protocol.DecodeBody(b, &r)
		return map[string]string{"token": r.Token, "password": r.Password}, err
	}, []string{"token", "password"}, nil},
	protocol.OpTOTPDisable:             {decodeFactorChange, []string{"token", "password", "code"}, nil},
	protocol.OpRecoveryCodesRegenerate: {decodeFactorChange, []string{"token", "password", "code"}, nil},
	protocol.OpLoginSecondFactor: {func(b json.RawMessage) (map[string]string, error) {
		var r protocol.LoginSecondFactorRequest
		err := protocol.DecodeBody(b, &r)
		return map[string]string{"challenge": r.Challenge, "code": r.Code, "recovery_code": r.RecoveryCode}, err
	}, []string{"challenge"}, []string{"code", "recovery_code"}},
	protocol.OpRequestPasswordReset: {func(b json.RawMessage) (map[string]string, error) {
		var r protocol.RequestPasswordResetRequest
		err := protocol.DecodeBody(b, &r)
		return map[string]string{"login": r.Login}, err
	}, []string{"login"}, nil},
	protocol.OpResetPassword: {func(b json.RawMessage) (map[string]string, error) {
		var r protocol.ResetPasswordRequest
		err := protocol.DecodeBody(b, &r)
		return map[string]string{"login": r.Login, "code": r.Code, "new_password": r.NewPassword}, err
	}, []string{"login", "code", "new_password"}, nil},
	protocol.OpResendVerification: {func(b json.RawMessage) (map[string]string, error) {
		var r protocol.ResendVerificationRequest
		err := protocol.DecodeBody(b, &r)
		return map[string]string{"token": r.Token}, err
	}, []string{"token"}, nil},
	protocol.OpWatchRevocations: {func(b json.RawMessage) (map[string]string, error) {
		var r protocol.WatchRevocationsRequest
		return nil, protocol.DecodeBody(b, &r)
	}, nil, nil},
}

func decodeFactorChange(b json.RawMessage) (map[string]string, error) {
	var r protocol.SecondFactorRequest
	err := protocol.DecodeBody(b, &r)
	return map[string]string{"token": r.Token, "password": r.Password, "code": r.Code}, err
}

func decodeToken(b json.RawMessage) (map[string]string, error) {
	var r protocol.TokenRequest
	err := protocol.DecodeBody(b, &r)
	return map[string]string{"token": r.Token}, err
}

func loadVectors(tb testing.TB) *vectors {
	tb.Helper()
	data, err := os.ReadFile(vectorsPath)
	if err != nil {
		tb.Fatal(err)
	}
	var v vectors
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("%s: %v", vectorsPath, err)
	}
	if len(v.Packets) == 0 || len(v.BadFrames) == 0 || len(v.BadPacket) == 0 || len(v.Requests) == 0 || len(v.Bodies) == 0 ||
		len(v.V3.Packets) == 0 || len(v.V3.BadFrames) == 0 || len(v.V3.BadPacket) == 0 {
		tb.Fatalf("%s: a section is empty", vectorsPath)
	}
	return &v
}

// vectorKeySet holds the parsed keys of the vectors.
type vectorKeySet struct {
	identity          ed25519.PrivateKey
	otherIdentity     ed25519.PrivateKey
	transport, client *rsa.PrivateKey
	other             *rsa.PrivateKey
	transportDER      []byte
}

func parseKeys(tb testing.TB, k *vectorKeys) *vectorKeySet {
	tb.Helper()
	parse := func(der []byte) *rsa.PrivateKey {
		key, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			tb.Fatal(err)
		}
		return key.(*rsa.PrivateKey)
	}
	ks := &vectorKeySet{
		identity:      ed25519.NewKeyFromSeed(k.IdentitySeed),
		otherIdentity: ed25519.NewKeyFromSeed(k.OtherIdentSeed),
		transport:     parse(k.TransportPKCS8),
		client:        parse(k.ClientPKCS8),
		other:         parse(k.OtherRSAPKCS8),
	}
	var err error
	if ks.transportDER, err = x509.MarshalPKIXPublicKey(&ks.transport.PublicKey); err != nil {
		tb.Fatal(err)
	}
	return ks
}

// stream is the random source of one side: exactly the bytes the vector
// fixes, in the order the implementation reads them, and nothing more.
func stream(parts ...[]byte) *bytes.Reader { return bytes.NewReader(bytes.Join(parts, nil)) }

// handshakeFromVectors replays the version 2 vector handshake through the
// real implementation with the vector's random bytes.
func handshakeFromVectors(tb testing.TB, v *vectors, ks *vectorKeySet) (sh *protocol.ServerHandshake, ch *protocol.ClientHandshake) {
	tb.Helper()
	return replayHandshake(tb, 2, protocol.ServerIdentity{Key: ks.identity}, &v.Handshake, ks)
}

// replayHandshake runs a handshake of version with the server identity id
// through the real implementation, with the random bytes of hs.
func replayHandshake(tb testing.TB, version int, id protocol.ServerIdentity, hs *vectorHandshake, ks *vectorKeySet) (sh *protocol.ServerHandshake, ch *protocol.ClientHandshake) {
	tb.Helper()
	sh, err := protocol.NewServerHandshake(version, id, ks.transport, ks.transportDER, stream(hs.Nonce, hs.ServerSecret, hs.ServerOAEPSeed))
	if err != nil {
		tb.Fatal(err)
	}
	ch, err = protocol.NewClientHandshake(version, sh.Hello(), ks.client, stream(hs.ClientSecret, hs.ClientOAEPSeed))
	if err != nil {
		tb.Fatal(err)
	}
	return sh, ch
}

func TestVectors(t *testing.T) {
	if *updateVectors {
		writeVectors(t)
	}
	v := loadVectors(t)
	ks := parseKeys(t, &v.Keys)
	hs := &v.Handshake

	t.Run("keys", func(t *testing.T) {
		pub := ks.identity.Public().(ed25519.PublicKey)
		if !bytes.Equal(pub, v.Keys.IdentityPublic) {
			t.Errorf("identity public key %x, vector %x", pub, v.Keys.IdentityPublic)
		}
		if fp := protocol.Fingerprint(pub); fp != v.Keys.Fingerprint {
			t.Errorf("fingerprint %s, vector %s", fp, v.Keys.Fingerprint)
		}
		if !bytes.Equal(ks.transportDER, v.Keys.TransportSPKI) {
			t.Error("transport SPKI differs")
		}
		if ks.transport.N.BitLen() != protocol.TransportKeyBits {
			t.Errorf("transport key has %d bits", ks.transport.N.BitLen())
		}
		clientDER, _ := x509.MarshalPKIXPublicKey(&ks.client.PublicKey)
		if !bytes.Equal(clientDER, v.Keys.ClientSPKI) {
			t.Error("client SPKI differs")
		}
	})

	var serverSess, clientSess *protocol.Session
	t.Run("handshake", func(t *testing.T) {
		serverSess, clientSess = checkHandshake(t, 2, protocol.ServerIdentity{Key: ks.identity}, hs, ks)
	})
	if serverSess == nil {
		t.FailNow()
	}

	t.Run("packets", func(t *testing.T) {
		// The sessions from the handshake seal exactly the vector packets,
		// and fresh sessions from the vector keys open them.
		srvOpen := mustSession(t, 2, hs.S2CKey, hs.C2SKey)
		cliOpen := mustSession(t, 2, hs.C2SKey, hs.S2CKey)
		for i, p := range v.Packets {
			sender, receiver := clientSess, srvOpen
			if p.Direction == "s2c" {
				sender, receiver = serverSess, cliOpen
			}
			nonce := make([]byte, 12)
			nonce[4], nonce[5], nonce[6], nonce[7] = byte(p.Counter>>56), byte(p.Counter>>48), byte(p.Counter>>40), byte(p.Counter>>32)
			nonce[8], nonce[9], nonce[10], nonce[11] = byte(p.Counter>>24), byte(p.Counter>>16), byte(p.Counter>>8), byte(p.Counter)
			if !bytes.Equal(nonce, p.Nonce) {
				t.Errorf("packet %d: nonce %x is not 0^4 || u64be(%d)", i, p.Nonce, p.Counter)
			}
			got, err := sender.Seal([]byte(p.Plaintext))
			if err != nil || !bytes.Equal(got, p.Packet) {
				t.Errorf("packet %d (%s #%d): sealed %x, %v\nwant %x", i, p.Direction, p.Counter, got, err, p.Packet)
			}
			pt, err := receiver.Open(p.Packet)
			if err != nil || string(pt) != p.Plaintext {
				t.Errorf("packet %d: opened %q, %v", i, pt, err)
			}
			if p.Direction == "s2c" {
				if _, _, err := protocol.DecodeServerPacket(pt); err != nil {
					t.Errorf("packet %d: not a response or a push: %v", i, err)
				}
			}
		}
	})

	t.Run("invalid handshake", func(t *testing.T) {
		for _, bf := range v.BadFrames {
			t.Run(bf.Name, func(t *testing.T) {
				var err error
				switch bf.Frame {
				case "hello":
					_, err = protocol.NewClientHandshake(2, []byte(bf.Data), ks.client, stream(hs.ClientSecret, hs.ClientOAEPSeed))
				case "client_hello":
					sh, _ := handshakeFromVectors(t, v, ks)
					_, _, err = sh.Finish([]byte(bf.Data))
				case "server_key":
					_, ch := handshakeFromVectors(t, v, ks)
					_, err = ch.Finish([]byte(bf.Data))
				default:
					t.Fatalf("unknown frame %q", bf.Frame)
				}
				if want := expectErr(t, bf.Expect); !errors.Is(err, want) {
					t.Fatalf("got %v, want %v", err, want)
				}
			})
		}
	})

	t.Run("invalid packets", func(t *testing.T) { checkBadPackets(t, 2, hs, v.BadPacket) })

	t.Run("requests", func(t *testing.T) {
		for _, r := range v.Requests {
			req, err := protocol.DecodeRequest([]byte(r.Plaintext))
			switch r.Expect {
			case "ok":
				if err != nil || req == nil {
					t.Errorf("%s: %v", r.Plaintext, err)
				}
			case "bad_request":
				if !errors.Is(err, protocol.ErrBadRequest) || req != nil {
					t.Errorf("%s: got %v, %v; want bad_request", r.Plaintext, req, err)
				}
			default:
				t.Errorf("%s: unknown expectation %q", r.Plaintext, r.Expect)
			}
		}
	})

	t.Run("bodies", func(t *testing.T) {
		for _, b := range v.Bodies {
			rule, ok := bodyRules[b.Op]
			if !ok {
				t.Errorf("%s: not an operation", b.Op)
				continue
			}
			var raw json.RawMessage
			if b.Body != nil {
				raw = json.RawMessage(*b.Body)
			}
			got := "ok"
			fields, err := rule.decode(raw)
			if err != nil {
				got = "bad_request"
			}
			for _, name := range rule.required {
				if fields[name] == "" {
					got = "bad_request"
				}
			}
			if len(rule.oneOf) > 0 {
				present := 0
				for _, name := range rule.oneOf {
					if fields[name] != "" {
						present++
					}
				}
				if present != 1 {
					got = "bad_request"
				}
			}
			if got != b.Expect {
				t.Errorf("%s %v: got %s (%v), want %s", b.Op, b.Body, got, err, b.Expect)
			}
		}
	})

	t.Run("v3", func(t *testing.T) { checkVectorsV3(t, v, ks) })
}

// checkBadPackets opens each sequence of packets of a version's
// invalid_packets vectors with the keys of handshake hs, on the side the
// sequence is sent to, and checks each packet's outcome.
func checkBadPackets(t *testing.T, version int, hs *vectorHandshake, seqs []vectorBadSeq) {
	for _, seq := range seqs {
		t.Run(seq.Name, func(t *testing.T) {
			recv := mustSession(t, version, hs.S2CKey, hs.C2SKey) // the server
			if seq.Direction == "s2c" {
				recv = mustSession(t, version, hs.C2SKey, hs.S2CKey)
			}
			if len(seq.Packets) != len(seq.Expect) || len(seq.Packets) == 0 {
				t.Fatalf("%d packets, %d outcomes", len(seq.Packets), len(seq.Expect))
			}
			for i, p := range seq.Packets {
				_, err := recv.Open(p)
				if seq.Expect[i] == "ok" {
					if err != nil {
						t.Fatalf("packet %d: %v", i, err)
					}
				} else if want := expectErr(t, seq.Expect[i]); !errors.Is(err, want) {
					t.Fatalf("packet %d: got %v, want %v", i, err, want)
				}
			}
		})
	}
}

// checkHandshake replays the vector handshake hs of version with the
// server identity id and checks every value it records; it returns the
// server's and the client's sessions.
func checkHandshake(t *testing.T, version int, id protocol.ServerIdentity, hs *vectorHandshake, ks *vectorKeySet) (serverSess, clientSess *protocol.Session) {
	t.Helper()
	sh, ch := replayHandshake(t, version, id, hs, ks)
	if got := string(sh.Hello()); got != hs.Hello {
		t.Fatalf("hello\n got %s\nwant %s", got, hs.Hello)
	}
	if got := string(ch.ClientHello()); got != hs.ClientHello {
		t.Fatalf("client_hello\n got %s\nwant %s", got, hs.ClientHello)
	}
	sk, ss, err := sh.Finish([]byte(hs.ClientHello))
	if err != nil {
		t.Fatal(err)
	}
	if string(sk) != hs.ServerKey {
		t.Fatalf("server_key\n got %s\nwant %s", sk, hs.ServerKey)
	}
	cs, err := ch.Finish([]byte(hs.ServerKey))
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := protocol.ParseHello(version, []byte(hs.Hello))
	if err != nil {
		t.Fatal(err)
	}
	chello, _, err := protocol.ParseClientHello(version, []byte(hs.ClientHello))
	if err != nil {
		t.Fatal(err)
	}
	skf, err := protocol.ParseServerKey(version, []byte(hs.ServerKey))
	if err != nil {
		t.Fatal(err)
	}
	if got := sha256.Sum256(hs.TranscriptInput); !bytes.Equal(got[:], hs.Transcript) {
		t.Error("transcript_hash is not SHA-256 of transcript_input")
	}
	if got := protocol.TranscriptHash(h, chello, skf); !bytes.Equal(got, hs.Transcript) {
		t.Errorf("transcript hash\n got %x\nwant %x", got, hs.Transcript)
	}
	if got := protocol.SignedTranscriptBytes(version, hs.Transcript); !bytes.Equal(got, hs.SignedInput) {
		t.Errorf("signed transcript bytes\n got %x\nwant %x", got, hs.SignedInput)
	}
	if !bytes.Equal(skf.Signature, hs.Signature) || !ed25519.Verify(ed25519.PublicKey(h.IdentityKey), hs.SignedInput, hs.Signature) {
		t.Errorf("server_key signature %x is not the vector's %x over signed_transcript_bytes", skf.Signature, hs.Signature)
	}
	if !bytes.Equal(hs.IKM, append(append([]byte{}, hs.ClientSecret...), hs.ServerSecret...)) {
		t.Error("ikm is not client_secret || server_secret")
	}
	c2s, s2c, err := protocol.DeriveKeys(version, hs.ClientSecret, hs.ServerSecret, hs.Transcript)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c2s, hs.C2SKey) || !bytes.Equal(s2c, hs.S2CKey) {
		t.Errorf("keys\n got c2s %x s2c %x\nwant c2s %x s2c %x", c2s, s2c, hs.C2SKey, hs.S2CKey)
	}
	return ss, cs
}

func expectErr(tb testing.TB, name string) error {
	tb.Helper()
	switch name {
	case "malformed":
		return protocol.ErrMalformed
	case "bad_signature":
		return protocol.ErrBadSignature
	case "version":
		return protocol.ErrVersion
	case "decrypt":
		return protocol.ErrDecrypt
	}
	tb.Fatalf("unknown expectation %q", name)
	return nil
}

func mustSession(tb testing.TB, version int, send, recv []byte) *protocol.Session {
	tb.Helper()
	s, err := protocol.NewSessionForKeys(version, send, recv)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// writeVectors (re)builds testdata/vectors.json. Keys and random bytes are
// kept from the existing file; only a missing file gets new ones.
func writeVectors(t *testing.T) {
	var v vectors
	if data, err := os.ReadFile(vectorsPath); err == nil {
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatal(err)
		}
	} else {
		v.Keys = newVectorKeys(t)
		r := func(n int) hexBytes { b := make([]byte, n); rand.Read(b); return b }
		v.Handshake = vectorHandshake{
			Nonce: r(32), ClientSecret: r(32), ClientOAEPSeed: r(32), ServerSecret: r(32), ServerOAEPSeed: r(32),
		}
	}
	v.Comment = []string{
		"accountd protocol v2 test vectors; protocol/SPEC.md section 9 explains every field.",
		"Binary values are lower-case hex; frames and plaintexts are the exact UTF-8 text sent.",
		"The keys are for testing only. Do not regenerate: implementations check themselves against these bytes.",
	}
	ks := parseKeys(t, &v.Keys)
	pub := ks.identity.Public().(ed25519.PublicKey)
	v.Keys.IdentityPublic = hexBytes(pub)
	v.Keys.Fingerprint = protocol.Fingerprint(pub)
	v.Keys.TransportSPKI = ks.transportDER
	v.Keys.ClientSPKI, _ = x509.MarshalPKIXPublicKey(&ks.client.PublicKey)
	v.Keys.OtherRSAComment = "other_private_pkcs8 (RSA-2048) and other_identity_seed are an unrelated server's keys, for the wrong-key cases"

	hs := &v.Handshake
	sh, ch := handshakeFromVectors(t, &v, ks)
	hs.Hello = string(sh.Hello())
	hs.ClientHello = string(ch.ClientHello())
	sk, ss, err := sh.Finish([]byte(hs.ClientHello))
	if err != nil {
		t.Fatal(err)
	}
	hs.ServerKey = string(sk)
	cs, err := ch.Finish(sk)
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := protocol.ParseHello(2, []byte(hs.Hello))
	chf, _, _ := protocol.ParseClientHello(2, []byte(hs.ClientHello))
	skf, _ := protocol.ParseServerKey(2, sk)
	fields := transcriptFields{
		name: []byte("accountd.v2 transcript"), subprotocol: []byte("accountd.v2"), version: []byte{0, 0, 0, 2},
		identity: h.IdentityKey, transport: h.TransportKey, nonce: h.Nonce,
		clientKey: chf.ClientKey, clientSecret: chf.Secret, serverSecret: skf.Secret,
	}
	hs.TranscriptInput = fields.input()
	hs.Transcript = protocol.TranscriptHash(h, chf, skf)
	if got := sha256.Sum256(hs.TranscriptInput); !bytes.Equal(got[:], hs.Transcript) {
		t.Fatal("the transcript input built here does not hash to TranscriptHash")
	}
	hs.SignedInput = protocol.SignedTranscriptBytes(2, hs.Transcript)
	hs.Signature = skf.Signature
	hs.IKM = append(append(hexBytes{}, hs.ClientSecret...), hs.ServerSecret...)
	if hs.C2SKey, hs.S2CKey, err = protocol.DeriveKeys(2, hs.ClientSecret, hs.ServerSecret, hs.Transcript); err != nil {
		t.Fatal(err)
	}

	// A short conversation: every operation and an error reply.
	conv := []struct{ dir, text string }{
		{"c2s", `{"id":1,"op":"signup","body":{"username":"alice","password":"correct horse battery staple"}}`},
		{"s2c", `{"id":1,"result":{"account":{"id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","username":"alice","created_at":"2026-01-02T03:04:05Z"}}}`},
		{"c2s", `{"id":2,"op":"login","body":{"username":"alice","password":"correct horse battery staple"}}`},
		{"s2c", `{"id":2,"result":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.c2ln","expires_at":"2026-01-02T04:04:05Z","session_id":"a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5","account":{"id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","username":"alice","created_at":"2026-01-02T03:04:05Z"}}}`},
		{"c2s", `{"id":3,"op":"frobnicate"}`},
		{"s2c", `{"id":3,"error":{"code":"unsupported_op","message":"unsupported op \"frobnicate\""}}`},
		{"c2s", ``},
		{"s2c", `{"id":0,"error":{"code":"bad_request","message":"bad request: invalid JSON"}}`},
		{"c2s", `{"id":4,"op":"policy"}`},
		{"s2c", `{"id":4,"result":{"min_password_length":15,"max_password_length":1024}}`},
		{"c2s", `{"id":5,"op":"sessions","body":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.c2ln"}}`},
		{"s2c", `{"id":5,"result":{"sessions":[{"id":"a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5","created_at":"2026-01-02T03:04:05Z","last_used_at":"2026-01-02T03:04:05Z","expires_at":"2026-01-03T03:04:05Z","client_ip":"192.0.2.10","client":"account/1.0 (linux)","current":true}]}}`},
		{"c2s", `{"id":6,"op":"change_password","body":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.c2ln","current_password":"correct horse battery staple","new_password":"a much longer passphrase than before"}}`},
		{"s2c", `{"id":6,"result":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.bmV3","expires_at":"2026-01-02T04:05:05Z","session_id":"a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5","account":{"id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","username":"alice","created_at":"2026-01-02T03:04:05Z"},"sessions_ended":1}}`},
		{"c2s", `{"id":7,"op":"revoke_session","body":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.bmV3","session_id":"b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6"}}`},
		{"s2c", `{"id":7,"error":{"code":"not_found","message":"no such session on this account"}}`},
		{"c2s", `{"id":8,"op":"logout_all","body":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.bmV3","keep_current":true}}`},
		{"s2c", `{"id":8,"result":{"sessions_ended":0}}`},
		{"c2s", `{"id":9,"op":"change_email","body":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.bmV3","password":"a much longer passphrase than before","new_email":"alice@example.org"}}`},
		{"s2c", `{"id":9,"result":{"account":{"id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","username":"alice","pending_email":"alice@example.org","created_at":"2026-01-02T03:04:05Z"}}}`},
		{"c2s", `{"id":10,"op":"delete_account","body":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.bmV3","password":"a much longer passphrase than before"}}`},
		{"s2c", `{"id":10,"result":{"sessions_ended":1}}`},
		{"c2s", `{"id":11,"op":"service_auth","body":{"key":"ask_0f1e2d3c4b5a69788796a5b4c3d2e1f0_5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c"}}`},
		{"s2c", `{"id":11,"result":{"service":"ops","scopes":["admin"]}}`},
		{"c2s", `{"id":12,"op":"admin_disable_user","body":{"user":"bob"},"client_ip":"198.51.100.23"}`},
		{"s2c", `{"id":12,"result":{"sessions_ended":2}}`},
		{"c2s", `{"id":13,"op":"admin_show_user","body":{"user":"bob"}}`},
		{"s2c", `{"id":13,"result":{"user":{"id":"1a2b3c4d5e6f708192a3b4c5d6e7f809","username":"bob","disabled":true,"created_at":"2026-01-02T03:04:05Z","failed_logins":0}}}`},
		{"c2s", `{"id":14,"op":"totp_begin","body":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.bmV3","password":"a much longer passphrase than before"}}`},
		{"s2c", `{"id":14,"result":{"secret":"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP","uri":"otpauth://totp/accountd:alice?algorithm=SHA1&digits=6&issuer=accountd&period=30&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"}}`},
		{"c2s", `{"id":15,"op":"totp_confirm","body":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.bmV3","code":"492039"}}`},
		{"s2c", `{"id":15,"result":{"recovery_codes":["abcd-efgh-ijkm-nopq","rstu-vwxy-z234-567a"]}}`},
		{"c2s", `{"id":16,"op":"login","body":{"username":"alice","password":"a much longer passphrase than before"}}`},
		{"s2c", `{"id":16,"result":{"second_factor_required":{"challenge":"q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA","methods":["totp","recovery_code"],"expires_at":"2026-01-02T03:09:05Z"}}}`},
		{"c2s", `{"id":17,"op":"login_second_factor","body":{"challenge":"q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA","code":"123456"}}`},
		{"s2c", `{"id":17,"error":{"code":"invalid_credentials","message":"wrong code"}}`},
		{"c2s", `{"id":18,"op":"login_second_factor","body":{"challenge":"q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA","recovery_code":"abcd-efgh-ijkm-nopq"}}`},
		{"s2c", `{"id":18,"result":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.b3Rw","expires_at":"2026-01-02T04:04:35Z","session_id":"c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7","account":{"id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","username":"alice","created_at":"2026-01-02T03:04:05Z"}}}`},
		{"c2s", `{"id":19,"op":"authenticate","body":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.b3Rw"}}`},
		{"s2c", `{"id":19,"result":{"account":{"id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","username":"alice","created_at":"2026-01-02T03:04:05Z"},"session":{"id":"c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7","created_at":"2026-01-02T03:04:35Z","expires_at":"2026-01-03T03:04:35Z"},"amr":["pwd","otp"],"aal":2}}`},
		{"c2s", `{"id":20,"op":"recovery_codes_regenerate","body":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.b3Rw","password":"a much longer passphrase than before","code":"287082"}}`},
		{"s2c", `{"id":20,"result":{"recovery_codes":["bcde-fghi-jkmn-opqr","stuv-wxyz-2345-67ab"]}}`},
		{"c2s", `{"id":21,"op":"totp_disable","body":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.b3Rw","password":"a much longer passphrase than before","code":"359152"}}`},
		{"s2c", `{"id":21,"result":{"enabled":false}}`},
		{"c2s", `{"id":22,"op":"verify_email","body":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.bmV3","code":"48151623"}}`},
		{"s2c", `{"id":22,"result":{"account":{"id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","username":"alice","email":"alice@example.org","created_at":"2026-01-02T03:04:05Z"}}}`},
		{"c2s", `{"id":23,"op":"resend_verification","body":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.bmV3"}}`},
		{"s2c", `{"id":23,"error":{"code":"bad_request","message":"no email address awaits verification"}}`},
		{"c2s", `{"id":24,"op":"request_password_reset","body":{"login":"alice@example.org"}}`},
		{"s2c", `{"id":24,"result":{}}`},
		{"c2s", `{"id":25,"op":"reset_password","body":{"login":"alice","code":"00000000","new_password":"a brand new passphrase for alice"}}`},
		{"s2c", `{"id":25,"error":{"code":"invalid_code","message":"the code is wrong or no longer valid; ask for a new one"}}`},
		{"c2s", `{"id":26,"op":"reset_password","body":{"login":"alice","code":"2342 1508","new_password":"a brand new passphrase for alice"}}`},
		{"s2c", `{"id":26,"result":{"sessions_ended":2}}`},
		{"c2s", `{"id":27,"op":"login","body":{"username":"carol","password":"correct horse battery staple"}}`},
		{"s2c", `{"id":27,"error":{"code":"email_unverified","message":"verify your email first: a code was mailed to it"}}`},
		{"c2s", `{"id":28,"op":"verify_email","body":{"login":"carol","code":"16234815"}}`},
		{"s2c", `{"id":28,"result":{"account":{"id":"2b3c4d5e6f708192a3b4c5d6e7f8091a","username":"carol","email":"carol@example.com","created_at":"2026-01-02T03:04:05Z"}}}`},
		{"c2s", `{"id":29,"op":"watch_revocations","body":{"after":0}}`},
		{"s2c", `{"id":29,"result":{}}`},
		{"s2c", `{"push":"revocations","body":{"revoked":[{"session_id":"a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5","expires_at":"2026-01-03T03:04:05Z"}],"position":41}}`},
		{"s2c", `{"push":"revocations","body":{"revoked":[],"position":41}}`},
		{"c2s", `{"id":33,"op":"login","body":{"username":"carol","password":"correct horse battery staple"}}`},
		{"s2c", `{"id":33,"result":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.ZGV2","expires_at":"2026-01-02T04:04:05Z","session_id":"d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708","account":{"id":"2b3c4d5e6f708192a3b4c5d6e7f8091a","username":"carol","email":"carol@example.com","created_at":"2026-01-02T03:04:05Z"},"device_token":"5f1e2d3c4b5a69788796a5b4c3d2e1f0.q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA"}}`},
		{"c2s", `{"id":34,"op":"login","body":{"username":"carol","password":"correct horse battery staple","device_token":"5f1e2d3c4b5a69788796a5b4c3d2e1f0.q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA"}}`},
		{"s2c", `{"id":34,"result":{"token":"eyJhbGciOiJQUzI1NiJ9.e30.ZGV2Mg","expires_at":"2026-01-02T04:04:05Z","session_id":"e4f5a6b7c8d9e0f1a2b3c4d5e6f70819","account":{"id":"2b3c4d5e6f708192a3b4c5d6e7f8091a","username":"carol","email":"carol@example.com","created_at":"2026-01-02T03:04:05Z"},"device_token":"5f1e2d3c4b5a69788796a5b4c3d2e1f0.3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}`},
	}
	var counters [2]uint64
	v.Packets = nil
	var c2sPackets, s2cPackets [][]byte
	for _, m := range conv {
		sess, idx := cs, 0
		if m.dir == "s2c" {
			sess, idx = ss, 1
		}
		p, err := sess.Seal([]byte(m.text))
		if err != nil {
			t.Fatal(err)
		}
		nonce := make([]byte, 12)
		for i := range 8 {
			nonce[11-i] = byte(counters[idx] >> (8 * i))
		}
		v.Packets = append(v.Packets, vectorPacket{Direction: m.dir, Counter: counters[idx], Nonce: nonce, Plaintext: m.text, Packet: p})
		counters[idx]++
		if idx == 0 {
			c2sPackets = append(c2sPackets, p)
		} else {
			s2cPackets = append(s2cPackets, p)
		}
	}

	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 0x01; return c }
	v.BadPacket = []vectorBadSeq{
		{"in order", "c2s", []hexBytes{c2sPackets[0], c2sPackets[1], c2sPackets[2]}, []string{"ok", "ok", "ok"}},
		{"flipped bit in ciphertext", "c2s", []hexBytes{flip(c2sPackets[0], 3)}, []string{"decrypt"}},
		{"flipped bit in tag", "c2s", []hexBytes{flip(c2sPackets[0], len(c2sPackets[0])-1)}, []string{"decrypt"}},
		{"replayed counter", "c2s", []hexBytes{c2sPackets[0], c2sPackets[0]}, []string{"ok", "decrypt"}},
		{"reordered", "c2s", []hexBytes{c2sPackets[1], c2sPackets[0]}, []string{"decrypt", "decrypt"}},
		{"skipped packet", "c2s", []hexBytes{c2sPackets[0], c2sPackets[2]}, []string{"ok", "decrypt"}},
		{"truncated by one byte", "c2s", []hexBytes{c2sPackets[0][:len(c2sPackets[0])-1]}, []string{"decrypt"}},
		{"shorter than a tag", "c2s", []hexBytes{c2sPackets[0][:15]}, []string{"decrypt"}},
		{"empty", "c2s", []hexBytes{{}}, []string{"decrypt"}},
		{"reflected (server's packet back to the server)", "c2s", []hexBytes{s2cPackets[0]}, []string{"decrypt"}},
		{"wrong direction key (client's packet to the client)", "s2c", []hexBytes{c2sPackets[0]}, []string{"decrypt"}},
		{"good packet after a failure", "c2s", []hexBytes{flip(c2sPackets[0], 0), c2sPackets[0]}, []string{"decrypt", "decrypt"}},
		{"server packets in order", "s2c", []hexBytes{s2cPackets[0], s2cPackets[1]}, []string{"ok", "ok"}},
	}

	// Invalid handshake frames.
	var hello map[string]any
	json.Unmarshal([]byte(hs.Hello), &hello)
	editHello := func(edit func(m map[string]any)) string {
		m := map[string]any{}
		for k, x := range hello {
			m[k] = x
		}
		edit(m)
		b, _ := json.Marshal(orderedHello(m))
		return string(b)
	}
	otherDER, _ := x509.MarshalPKIXPublicKey(&ks.other.PublicKey)
	otherIdentity := ks.otherIdentity.Public().(ed25519.PublicKey)
	// Fixed OAEP seeds and secrets keep a rerun of the generator
	// byte-identical.
	seed := func() io.Reader { return bytes.NewReader(bytes.Repeat([]byte{0x5a}, 32)) }
	wrongSecret, _ := rsa.EncryptOAEP(sha256.New(), seed(), &ks.other.PublicKey, hs.ClientSecret, []byte("accountd.v2 client secret"))
	wrongLabel, _ := rsa.EncryptOAEP(sha256.New(), seed(), &ks.transport.PublicKey, hs.ClientSecret, []byte("accountd.v2 server secret"))
	v1Label, _ := rsa.EncryptOAEP(sha256.New(), seed(), &ks.transport.PublicKey, hs.ClientSecret, []byte("accountd.v1 client secret"))
	shortSecret, _ := rsa.EncryptOAEP(sha256.New(), seed(), &ks.transport.PublicKey, hs.ClientSecret[:31], []byte("accountd.v2 client secret"))
	skToOther, _ := rsa.EncryptOAEP(sha256.New(), seed(), &ks.other.PublicKey, hs.ServerSecret, []byte("accountd.v2 server secret"))
	skShort, _ := rsa.EncryptOAEP(sha256.New(), seed(), &ks.client.PublicKey, hs.ServerSecret[:31], []byte("accountd.v2 server secret"))
	skV1Label, _ := rsa.EncryptOAEP(sha256.New(), seed(), &ks.client.PublicKey, hs.ServerSecret, []byte("accountd.v1 server secret"))
	clientHello := func(version int, key, secret []byte) string {
		b, _ := json.Marshal(protocol.ClientHello{Type: protocol.TypeClientHello, Version: version, ClientKey: key, Secret: secret})
		return string(b)
	}
	serverKey := func(secret, signature []byte) string {
		b, _ := json.Marshal(protocol.ServerKey{Type: protocol.TypeServerKey, Secret: secret, Signature: signature})
		return string(b)
	}
	// signed returns a server_key for secret whose signature the vector
	// identity makes over the vector transcript with edit applied: what a
	// server that saw other handshake bytes than the client would send.
	signed := func(secret []byte, edit func(f *transcriptFields)) string {
		f := fields
		f.serverSecret = secret
		if edit != nil {
			edit(&f)
		}
		sum := sha256.Sum256(f.input())
		return serverKey(secret, ed25519.Sign(ks.identity, protocol.SignedTranscriptBytes(2, sum[:])))
	}
	// Another client's handshake with the same server and the same hello,
	// as an attacker who holds the transport private key records it.
	otherSH, err := protocol.NewServerHandshake(2, protocol.ServerIdentity{Key: ks.identity}, ks.transport, ks.transportDER,
		stream(hs.Nonce, bytes.Repeat([]byte{0x22}, 32), bytes.Repeat([]byte{0x33}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	otherCH, err := protocol.NewClientHandshake(2, otherSH.Hello(), ks.other, stream(bytes.Repeat([]byte{0x44}, 32), bytes.Repeat([]byte{0x55}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	otherSK, _, err := otherSH.Finish(otherCH.ClientHello())
	if err != nil {
		t.Fatal(err)
	}
	otherSKF, _ := protocol.ParseServerKey(2, otherSK)
	sum := sha256.Sum256(fields.input())
	signedByOther := ed25519.Sign(ks.otherIdentity, protocol.SignedTranscriptBytes(2, sum[:]))
	contextless := ed25519.Sign(ks.identity, sum[:])
	// A 1024-bit modulus (the top bits of the transport key's): too small.
	smallDER := mustPKIX(t, &rsa.PublicKey{N: new(big.Int).Rsh(ks.transport.N, 2048), E: 65537})
	v.BadFrames = []vectorBadFrame{
		{"hello: version 1", "hello", editHello(func(m map[string]any) { m["version"] = 1 }), "version"},
		{"hello: version 3", "hello", editHello(func(m map[string]any) { m["version"] = 3 }), "version"},
		{"hello: a signature member (hellos are not signed in version 2)", "hello", editHello(func(m map[string]any) { m["signature"] = bytes.Repeat([]byte{1}, 64) }), "malformed"},
		{"hello: unknown field", "hello", editHello(func(m map[string]any) { m["extra"] = true }), "malformed"},
		{"hello: wrong type", "hello", editHello(func(m map[string]any) { m["type"] = "server_key" }), "malformed"},
		{"hello: nonce of 31 bytes", "hello", editHello(func(m map[string]any) { m["nonce"] = h.Nonce[:31] }), "malformed"},
		{"hello: identity key of 31 bytes", "hello", editHello(func(m map[string]any) { m["identity_key"] = h.IdentityKey[:31] }), "malformed"},
		{"hello: RSA-1024 transport key", "hello", editHello(func(m map[string]any) { m["transport_key"] = smallDER }), "malformed"},
		{"hello: member name in another case", "hello", strings.Replace(hs.Hello, `"nonce"`, `"Nonce"`, 1), "malformed"},
		{"hello: duplicate member", "hello", strings.Replace(hs.Hello, `"version":2,`, `"version":2,"version":2,`, 1), "malformed"},
		{"hello: truncated frame", "hello", hs.Hello[:len(hs.Hello)/2], "malformed"},
		{"hello: trailing data", "hello", hs.Hello + " {}", "malformed"},
		{"client_hello: secret encrypted to another key (wrong key)", "client_hello", clientHello(2, v.Keys.ClientSPKI, wrongSecret), "decrypt"},
		{"client_hello: secret with the server's label", "client_hello", clientHello(2, v.Keys.ClientSPKI, wrongLabel), "decrypt"},
		{"client_hello: secret with the version 1 label", "client_hello", clientHello(2, v.Keys.ClientSPKI, v1Label), "decrypt"},
		{"client_hello: secret of 31 bytes", "client_hello", clientHello(2, v.Keys.ClientSPKI, shortSecret), "decrypt"},
		{"client_hello: flipped ciphertext bit", "client_hello", clientHello(2, v.Keys.ClientSPKI, flip(chf.Secret, 5)), "decrypt"},
		{"client_hello: version 1", "client_hello", clientHello(1, v.Keys.ClientSPKI, chf.Secret), "version"},
		{"client_hello: version 3", "client_hello", clientHello(3, v.Keys.ClientSPKI, chf.Secret), "version"},
		{"client_hello: RSA-1024 client key", "client_hello", clientHello(2, smallDER, chf.Secret), "malformed"},
		{"client_hello: client key not DER", "client_hello", clientHello(2, []byte("not a key"), chf.Secret), "malformed"},
		{"client_hello: Ed25519 client key", "client_hello", clientHello(2, mustPKIX(t, otherIdentity), chf.Secret), "malformed"},
		{"client_hello: duplicate secret", "client_hello", strings.Replace(hs.ClientHello, `"secret"`, `"secret":"AAAA","secret"`, 1), "malformed"},
		{"client_hello: truncated frame", "client_hello", hs.ClientHello[:len(hs.ClientHello)-2], "malformed"},
		{"client_hello: hello frame sent instead", "client_hello", hs.Hello, "malformed"},
		{"server_key: replayed from another client's handshake (same hello)", "server_key", string(otherSK), "bad_signature"},
		{"server_key: another client's signature replayed over a fresh secret", "server_key", serverKey(skf.Secret, otherSKF.Signature), "bad_signature"},
		{"server_key: flipped signature bit", "server_key", serverKey(skf.Secret, flip(skf.Signature, 10)), "bad_signature"},
		{"server_key: flipped ciphertext bit, signature unchanged", "server_key", serverKey(flip(skf.Secret, 7), skf.Signature), "bad_signature"},
		{"server_key: signed by another identity key (wrong key)", "server_key", serverKey(skf.Secret, signedByOther), "bad_signature"},
		{"server_key: signature over the transcript hash without the context string", "server_key", serverKey(skf.Secret, contextless), "bad_signature"},
		{"server_key: signed for another nonce (a recorded hello replayed)", "server_key", signed(skf.Secret, func(f *transcriptFields) { f.nonce = flip(f.nonce, 0) }), "bad_signature"},
		{"server_key: signed for another transport key (hello altered in transit)", "server_key", signed(skf.Secret, func(f *transcriptFields) { f.transport = otherDER }), "bad_signature"},
		{"server_key: signed for another client key", "server_key", signed(skf.Secret, func(f *transcriptFields) { f.clientKey = otherDER }), "bad_signature"},
		{"server_key: signed for another client secret", "server_key", signed(skf.Secret, func(f *transcriptFields) { f.clientSecret = wrongSecret }), "bad_signature"},
		{"server_key: signed for subprotocol accountd.v1 and version 1 (downgrade)", "server_key", signed(skf.Secret, func(f *transcriptFields) {
			f.subprotocol, f.version = []byte("accountd.v1"), []byte{0, 0, 0, 1}
		}), "bad_signature"},
		{"server_key: signed over the version 1 transcript layout", "server_key", signed(skf.Secret, func(f *transcriptFields) {
			f.name, f.subprotocol, f.version = []byte("accountd.v1 transcript"), nil, nil
		}), "bad_signature"},
		{"server_key: secret encrypted to another key (wrong key), correctly signed", "server_key", signed(skToOther, nil), "decrypt"},
		{"server_key: flipped ciphertext bit, correctly signed", "server_key", signed(flip(skf.Secret, 7), nil), "decrypt"},
		{"server_key: secret of 31 bytes, correctly signed", "server_key", signed(skShort, nil), "decrypt"},
		{"server_key: secret with the version 1 label, correctly signed", "server_key", signed(skV1Label, nil), "decrypt"},
		{"server_key: no signature", "server_key", serverKey(skf.Secret, nil), "malformed"},
		{"server_key: signature of 63 bytes", "server_key", serverKey(skf.Secret, skf.Signature[:63]), "malformed"},
		{"server_key: empty secret", "server_key", serverKey(nil, skf.Signature), "malformed"},
		{"server_key: unknown field", "server_key", strings.Replace(hs.ServerKey, `{`, `{"extra":1,`, 1), "malformed"},
		{"server_key: truncated frame", "server_key", hs.ServerKey[:10], "malformed"},
	}

	v.Requests = []vectorRequest{
		{`{"id":1,"op":"login","body":{"username":"alice","password":"correct horse battery staple"}}`, "ok"},
		{`{"id":9007199254740991,"op":"authenticate","body":{"token":"x"}}`, "ok"},
		{`{"op":"logout","id":7}`, "ok"},
		{`{"id":2,"op":"frobnicate","body":{}}`, "ok"},
		{`{"id":3,"op":"logout","body":null}`, "ok"},
		{` {"id" : 4 , "op" : "logout" } `, "ok"},
		{`{"id":5,"op":"policy"}`, "ok"},
		{`{"id":6,"op":"change_password","body":{"token":"x","current_password":"a","new_password":"b","end_other_sessions":false}}`, "ok"},
		{`{"id":7,"op":"revoke_session","body":{"token":"x","session_id":"b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6"}}`, "ok"},
		{`{"id":8,"op":"logout_all","body":{"token":"x"}}`, "ok"},
		{`{"id":9,"op":"authenticate","body":{"token":"x"},"client_ip":"2001:db8::7"}`, "ok"},
		{`{"id":9,"op":"authenticate","body":{"token":"x"},"client_ip":7}`, "bad_request"},
		{`{"id":9,"op":"authenticate","body":{"token":"x"},"Client_IP":"192.0.2.1"}`, "bad_request"},
		{`{"id":0,"op":"login"}`, "bad_request"},
		{`{"id":9,"op":"delete_account","body":{"token":"x"},"password":"p"}`, "bad_request"},
		{`{"id":9007199254740992,"op":"login"}`, "bad_request"},
		{`{"id":-1,"op":"login"}`, "bad_request"},
		{`{"id":1.5,"op":"login"}`, "bad_request"},
		{`{"id":"1","op":"login"}`, "bad_request"},
		{`{"id":1}`, "bad_request"},
		{`{"id":1,"op":7}`, "bad_request"},
		{`{"id":1,"op":"login","body":[]}`, "bad_request"},
		{`{"id":1,"op":"login","body":"x"}`, "bad_request"},
		{`{"id":1,"op":"login","extra":true}`, "bad_request"},
		{`{"id":1,"op":"login"}{"id":2,"op":"login"}`, "bad_request"},
		{`{"ID":1,"op":"login"}`, "bad_request"},
		{`{"id":1,"op":"login","op":"logout"}`, "bad_request"},
		{`{"id":1,"op":"login","body":{"username":"a"},"body":{}}`, "bad_request"},
		{`[1,"login"]`, "bad_request"},
		{`{"id":1,"op":"login"`, "bad_request"},
		{``, "bad_request"},
	}

	body := func(s string) *string { return &s }
	v.Bodies = []vectorBody{
		{"signup", body(`{"username":"alice"}`), "ok"},
		{"signup", body(`{"username":"ALICE","password":"correct horse battery staple","email":"alice@example.com"}`), "ok"},
		{"signup", body(`{}`), "bad_request"},
		{"signup", nil, "bad_request"},
		{"signup", body(`{"username":7}`), "bad_request"},
		{"signup", body(`{"username":"alice","admin":true}`), "bad_request"},
		{"signup", body(`{"username":"alice","password":"correct horse battery staple","idempotency_key":"Zk3q9-Vb_1xYt0pQm7Wn2A"}`), "ok"},
		{"signup", body(`{"username":"alice","password":"correct horse battery staple","idempotency_key":5}`), "bad_request"},
		{"login", body(`{"username":"alice","password":"correct horse battery staple"}`), "ok"},
		{"login", body(`{"username":"alice"}`), "bad_request"},
		{"login", body(`{"username":"alice","password":""}`), "bad_request"},
		{"login", body(`{"password":"correct horse battery staple"}`), "bad_request"},
		{"login", body(`{"username":"alice","password":null}`), "bad_request"},
		{"login", body(`{"username":"alice","username":"bob","password":"x"}`), "bad_request"},
		{"login", body(`{"Username":"alice","password":"x"}`), "bad_request"},
		{"authenticate", body(`{"token":"x"}`), "ok"},
		{"authenticate", body(`{}`), "bad_request"},
		{"authenticate", body(`{"token":1}`), "bad_request"},
		{"refresh", body(`{"token":"x"}`), "ok"},
		{"refresh", body(`{"token":""}`), "bad_request"},
		{"logout", body(`{"token":"x"}`), "ok"},
		{"logout", nil, "bad_request"},
		{"logout", body(`{}`), "bad_request"},
		{"logout", body(`{"token":"x","all":true}`), "bad_request"},
		{"service_auth", body(`{"key":"ask_0f1e2d3c4b5a69788796a5b4c3d2e1f0_5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c"}`), "ok"},
		{"service_auth", body(`{}`), "bad_request"},
		{"service_auth", body(`{"key":"x","scopes":["admin"]}`), "bad_request"},
		{"admin_disable_user", body(`{"user":"bob"}`), "ok"},
		{"admin_disable_user", body(`{"user":""}`), "bad_request"},
		{"admin_disable_user", body(`{"username":"bob"}`), "bad_request"},
		{"totp_begin", body(`{"token":"x","password":"correct horse battery staple"}`), "ok"},
		{"totp_begin", body(`{"token":"x"}`), "bad_request"},
		{"totp_confirm", body(`{"token":"x","code":"123456"}`), "ok"},
		{"totp_confirm", body(`{"token":"x","code":123456}`), "bad_request"},
		{"totp_confirm", body(`{"token":"x"}`), "bad_request"},
		{"totp_disable", body(`{"token":"x","password":"correct horse battery staple","code":"123456"}`), "ok"},
		{"totp_disable", body(`{"token":"x","password":"correct horse battery staple"}`), "bad_request"},
		{"recovery_codes_regenerate", body(`{"token":"x","password":"correct horse battery staple","code":"abcd-efgh-ijkm-nopq"}`), "ok"},
		{"recovery_codes_regenerate", body(`{"token":"x","code":"123456"}`), "bad_request"},
		{"login_second_factor", body(`{"challenge":"c","code":"123456"}`), "ok"},
		{"login_second_factor", body(`{"challenge":"c","recovery_code":"abcd efgh ijkm nopq"}`), "ok"},
		{"login_second_factor", body(`{"challenge":"c","code":"123456","recovery_code":"abcd-efgh-ijkm-nopq"}`), "bad_request"},
		{"login_second_factor", body(`{"challenge":"c"}`), "bad_request"},
		{"login_second_factor", body(`{"code":"123456"}`), "bad_request"},
		{"login_second_factor", body(`{"challenge":"c","code":"123456","token":"x"}`), "bad_request"},
		{"request_password_reset", body(`{"login":"alice@example.com"}`), "ok"},
		{"request_password_reset", body(`{"login":""}`), "bad_request"},
		{"request_password_reset", body(`{"username":"alice"}`), "bad_request"},
		{"reset_password", body(`{"login":"alice","code":"48151623","new_password":"a brand new passphrase for alice"}`), "ok"},
		{"reset_password", body(`{"login":"alice","code":48151623,"new_password":"a brand new passphrase for alice"}`), "bad_request"},
		{"reset_password", body(`{"login":"alice","new_password":"a brand new passphrase for alice"}`), "bad_request"},
		{"resend_verification", body(`{"token":"x"}`), "ok"},
		{"resend_verification", body(`{"token":"x","email":"a@example.com"}`), "bad_request"},
		{"watch_revocations", body(`{"after":41}`), "ok"},
		{"watch_revocations", nil, "ok"},
		{"watch_revocations", body(`{"after":"41"}`), "bad_request"},
		{"watch_revocations", body(`{"after":1.5}`), "bad_request"},
		{"watch_revocations", body(`{"after":0,"kinds":["revocations"]}`), "bad_request"},
		{"change_password", body(`{"token":"x","current_password":"correct horse battery staple","new_password":"a much longer passphrase than before","code":"123456"}`), "ok"},
		{"change_password", body(`{"token":"x","current_password":"correct horse battery staple","new_password":"a much longer passphrase than before"}`), "ok"},
		{"change_password", body(`{"token":"x","current_password":"correct horse battery staple","new_password":"a much longer passphrase than before","code":123456}`), "bad_request"},
		{"change_email", body(`{"token":"x","password":"correct horse battery staple","new_email":"alice@example.org","code":"abcd-efgh-ijkm-nopq"}`), "ok"},
		{"change_email", body(`{"token":"x","password":"correct horse battery staple","new_email":"alice@example.org","code":["123456"]}`), "bad_request"},
		{"delete_account", body(`{"token":"x","password":"correct horse battery staple","code":"123456"}`), "ok"},
		{"delete_account", body(`{"token":"x","code":"123456"}`), "bad_request"},
		{"login", body(`{"username":"alice","password":"correct horse battery staple","device_token":"5f1e2d3c4b5a69788796a5b4c3d2e1f0.q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA"}`), "ok"},
		{"login", body(`{"username":"alice","password":"correct horse battery staple","device_token":5}`), "bad_request"},
	}

	writeVectorsV3(t, &v, ks)

	out, err := json.MarshalIndent(&v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(vectorsPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsPath, append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", vectorsPath)
}

// orderedHello re-encodes an edited hello in the order the server sends.
func orderedHello(m map[string]any) any {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for _, k := range []string{"type", "version", "identity_key", "transport_key", "nonce", "signature", "extra"} {
		x, ok := m[k]
		if !ok {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(x)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return json.RawMessage(b.Bytes())
}

// transcriptFields are the fields SPEC.md §3.4 hashes, in order. The
// generator builds the transcript input from them by hand, apart from
// protocol.TranscriptHash, and edits them for the refused server_key
// frames.
type transcriptFields struct {
	name, subprotocol, version, identity []byte
	// previous and previousUntil are version 3's: nil in version 2.
	previous, previousUntil                                 []byte
	transport, nonce, clientKey, clientSecret, serverSecret []byte
}

// input is the transcript input: each field preceded by u32be(length).
// A nil field is left out, as in the version 1 layout (and version 2's
// previous fields); an empty one is written with its zero length.
func (f transcriptFields) input() []byte {
	var b []byte
	for _, x := range [][]byte{f.name, f.subprotocol, f.version, f.identity, f.previous, f.previousUntil, f.transport, f.nonce, f.clientKey, f.clientSecret, f.serverSecret} {
		if x == nil {
			continue
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(x)))
		b = append(b, x...)
	}
	return b
}

func mustPKIX(tb testing.TB, pub any) []byte {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func newVectorKeys(t *testing.T) vectorKeys {
	seed := func() hexBytes { b := make([]byte, ed25519.SeedSize); rand.Read(b); return b }
	pkcs8 := func(bits int) hexBytes {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	return vectorKeys{
		IdentitySeed:   seed(),
		OtherIdentSeed: seed(),
		TransportPKCS8: pkcs8(protocol.TransportKeyBits),
		ClientPKCS8:    pkcs8(2048),
		OtherRSAPKCS8:  pkcs8(2048),
	}
}
