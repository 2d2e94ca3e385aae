package protocol_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
)

// vectorsV3 is the "v3" member of testdata/vectors.json (SPEC.md §9.1).
// It reuses the keys and random bytes of version 2 and adds a rotated
// identity key.
type vectorsV3 struct {
	Comment   []string         `json:"comment"`
	Keys      vectorKeysV3     `json:"keys"`
	Handshake vectorHandshake  `json:"handshake"`
	Rotation  vectorRotation   `json:"rotation"`
	Packets   []vectorPacket   `json:"packets"`
	BadFrames []vectorBadFrame `json:"invalid_handshake"`
	BadPacket []vectorBadSeq   `json:"invalid_packets"`
}

// vectorKeysV3 is the identity key the server rotated to; the version 2
// identity key is its previous key.
type vectorKeysV3 struct {
	RotatedSeed        hexBytes `json:"rotated_identity_seed"`
	RotatedPublic      hexBytes `json:"rotated_identity_public"`
	RotatedFingerprint string   `json:"rotated_identity_fingerprint"`
}

// vectorRotation is a handshake during a rotation overlap: identity_key
// is the rotated key, previous_identity_key the version 2 identity key.
type vectorRotation struct {
	vectorHandshake
	PreviousUntil       int64    `json:"previous_until"`
	PreviousSignedInput hexBytes `json:"previous_signed_transcript_bytes"`
	PreviousSignature   hexBytes `json:"previous_signature"`
}

// rotationIdentity is the server identity of the rotation vector.
func rotationIdentity(tb testing.TB, v3 *vectorsV3, ks *vectorKeySet) protocol.ServerIdentity {
	tb.Helper()
	if len(v3.Keys.RotatedSeed) != ed25519.SeedSize {
		tb.Fatalf("v3 rotated_identity_seed is %d bytes", len(v3.Keys.RotatedSeed))
	}
	return protocol.ServerIdentity{
		Key:           ed25519.NewKeyFromSeed(v3.Keys.RotatedSeed),
		Previous:      ks.identity,
		PreviousUntil: time.Unix(v3.Rotation.PreviousUntil, 0),
	}
}

func checkVectorsV3(t *testing.T, v *vectors, ks *vectorKeySet) {
	v3 := &v.V3
	plain := protocol.ServerIdentity{Key: ks.identity}
	rot := rotationIdentity(t, v3, ks)

	t.Run("keys", func(t *testing.T) {
		pub := rot.Key.Public().(ed25519.PublicKey)
		if !bytes.Equal(pub, v3.Keys.RotatedPublic) || protocol.Fingerprint(pub) != v3.Keys.RotatedFingerprint {
			t.Errorf("rotated key %x %s, vector %x %s", pub, protocol.Fingerprint(pub), v3.Keys.RotatedPublic, v3.Keys.RotatedFingerprint)
		}
	})
	var serverSess, clientSess *protocol.Session
	t.Run("handshake", func(t *testing.T) {
		serverSess, clientSess = checkHandshake(t, 3, plain, &v3.Handshake, ks)
	})
	t.Run("rotation", func(t *testing.T) {
		r := &v3.Rotation
		checkHandshake(t, 3, rot, &r.vectorHandshake, ks)
		h, _, err := protocol.ParseHello(3, []byte(r.Hello))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(h.PreviousIdentityKey, v.Keys.IdentityPublic) || h.PreviousUntil != r.PreviousUntil {
			t.Errorf("hello announces previous key %x until %d; want %x until %d", h.PreviousIdentityKey, h.PreviousUntil, v.Keys.IdentityPublic, r.PreviousUntil)
		}
		if got := protocol.PreviousSignedTranscriptBytes(3, r.Transcript); !bytes.Equal(got, r.PreviousSignedInput) {
			t.Errorf("previous signed bytes\n got %x\nwant %x", got, r.PreviousSignedInput)
		}
		skf, err := protocol.ParseServerKey(3, []byte(r.ServerKey))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(skf.PreviousSignature, r.PreviousSignature) || !ed25519.Verify(ed25519.PublicKey(v.Keys.IdentityPublic), r.PreviousSignedInput, r.PreviousSignature) {
			t.Errorf("previous_signature %x is not the vector's %x over previous_signed_transcript_bytes", skf.PreviousSignature, r.PreviousSignature)
		}
		// The same server, to a version 2 client, presents the previous
		// key: its handshake is the version 2 vector's, byte for byte.
		sh, _ := replayHandshake(t, 2, rot, &v.Handshake, ks)
		if got := string(sh.Hello()); got != v.Handshake.Hello {
			t.Errorf("version 2 hello during the overlap\n got %s\nwant %s", got, v.Handshake.Hello)
		}
	})
	if serverSess == nil {
		t.FailNow()
	}
	hs := &v3.Handshake
	t.Run("packets", func(t *testing.T) {
		srvOpen := mustSession(t, 3, hs.S2CKey, hs.C2SKey)
		cliOpen := mustSession(t, 3, hs.C2SKey, hs.S2CKey)
		for i, p := range v3.Packets {
			sender, receiver := clientSess, srvOpen
			if p.Direction == "s2c" {
				sender, receiver = serverSess, cliOpen
			}
			if want := binary.BigEndian.AppendUint64(make([]byte, 4), p.Counter); !bytes.Equal(want, p.Nonce) {
				t.Errorf("packet %d: nonce %x is not 0^4 || u64be(%d)", i, p.Nonce, p.Counter)
			}
			got, err := sender.Seal([]byte(p.Plaintext))
			if err != nil || !bytes.Equal(got, p.Packet) {
				t.Errorf("packet %d (%s #%d): sealed %x, %v\nwant %x", i, p.Direction, p.Counter, got, err, p.Packet)
			}
			if pt, err := receiver.Open(p.Packet); err != nil || string(pt) != p.Plaintext {
				t.Errorf("packet %d: opened %q, %v", i, pt, err)
			}
		}
	})
	t.Run("invalid handshake", func(t *testing.T) {
		for _, bf := range v3.BadFrames {
			t.Run(bf.Name, func(t *testing.T) {
				var err error
				switch bf.Frame {
				case "hello":
					_, err = protocol.NewClientHandshake(3, []byte(bf.Data), ks.client, stream(hs.ClientSecret, hs.ClientOAEPSeed))
				case "client_hello":
					sh, _ := replayHandshake(t, 3, plain, hs, ks)
					_, _, err = sh.Finish([]byte(bf.Data))
				case "server_key":
					_, ch := replayHandshake(t, 3, plain, hs, ks)
					_, err = ch.Finish([]byte(bf.Data))
				case "rotation_server_key":
					_, ch := replayHandshake(t, 3, rot, &v3.Rotation.vectorHandshake, ks)
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
	t.Run("invalid packets", func(t *testing.T) { checkBadPackets(t, 3, hs, v3.BadPacket) })
}

// fillHandshake runs the handshake hs of version 3 with the server
// identity id and records its frames and derived values in hs. It
// returns both sessions and the transcript fields, built by hand.
func fillHandshake(t *testing.T, id protocol.ServerIdentity, hs *vectorHandshake, ks *vectorKeySet) (ss, cs *protocol.Session, f transcriptFields, skf *protocol.ServerKey) {
	t.Helper()
	sh, ch := replayHandshake(t, 3, id, hs, ks)
	hs.Hello = string(sh.Hello())
	hs.ClientHello = string(ch.ClientHello())
	sk, ss, err := sh.Finish([]byte(hs.ClientHello))
	if err != nil {
		t.Fatal(err)
	}
	hs.ServerKey = string(sk)
	if cs, err = ch.Finish(sk); err != nil {
		t.Fatal(err)
	}
	h, _, _ := protocol.ParseHello(3, []byte(hs.Hello))
	chf, _, _ := protocol.ParseClientHello(3, []byte(hs.ClientHello))
	skf, _ = protocol.ParseServerKey(3, sk)
	f = transcriptFields{
		name: []byte("accountd.v3 transcript"), subprotocol: []byte("accountd.v3"), version: []byte{0, 0, 0, 3},
		identity: h.IdentityKey, previous: append([]byte{}, h.PreviousIdentityKey...),
		previousUntil: binary.BigEndian.AppendUint64(nil, uint64(h.PreviousUntil)),
		transport:     h.TransportKey, nonce: h.Nonce,
		clientKey: chf.ClientKey, clientSecret: chf.Secret, serverSecret: skf.Secret,
	}
	hs.TranscriptInput = f.input()
	hs.Transcript = protocol.TranscriptHash(h, chf, skf)
	if got := sha256.Sum256(hs.TranscriptInput); !bytes.Equal(got[:], hs.Transcript) {
		t.Fatal("the version 3 transcript input built here does not hash to TranscriptHash")
	}
	hs.SignedInput = protocol.SignedTranscriptBytes(3, hs.Transcript)
	hs.Signature = skf.Signature
	hs.IKM = append(append(hexBytes{}, hs.ClientSecret...), hs.ServerSecret...)
	if hs.C2SKey, hs.S2CKey, err = protocol.DeriveKeys(3, hs.ClientSecret, hs.ServerSecret, hs.Transcript); err != nil {
		t.Fatal(err)
	}
	return ss, cs, f, skf
}

// writeVectorsV3 (re)builds the "v3" member from the version 2 keys and
// random bytes and the rotated identity seed (new only when missing).
func writeVectorsV3(t *testing.T, v *vectors, ks *vectorKeySet) {
	v3 := &v.V3
	if v3.Keys.RotatedSeed == nil {
		seed := make(hexBytes, ed25519.SeedSize)
		rand.Read(seed)
		v3.Keys.RotatedSeed = seed
	}
	if v3.Rotation.PreviousUntil == 0 {
		v3.Rotation.PreviousUntil = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Unix()
	}
	v3.Comment = []string{
		"accountd protocol v3 test vectors; protocol/SPEC.md section 9.1 explains every field. Everything outside this member is version 2.",
		"They reuse the version 2 keys and random bytes. handshake: identity_seed's key, no previous key.",
		"rotation: the server rotated to rotated_identity_seed's key and announces identity_seed's key as previous_identity_key until previous_until.",
	}
	base := v.Handshake
	random := vectorHandshake{
		Nonce: base.Nonce, ClientSecret: base.ClientSecret, ClientOAEPSeed: base.ClientOAEPSeed,
		ServerSecret: base.ServerSecret, ServerOAEPSeed: base.ServerOAEPSeed,
	}
	plain := protocol.ServerIdentity{Key: ks.identity}
	rot := rotationIdentity(t, v3, ks)
	pub := rot.Key.Public().(ed25519.PublicKey)
	v3.Keys.RotatedPublic = hexBytes(pub)
	v3.Keys.RotatedFingerprint = protocol.Fingerprint(pub)

	v3.Handshake = random
	hs := &v3.Handshake
	ss, cs, fields, skf := fillHandshake(t, plain, hs, ks)
	until := v3.Rotation.PreviousUntil
	v3.Rotation = vectorRotation{vectorHandshake: random, PreviousUntil: until}
	r := &v3.Rotation
	_, _, rfields, rskf := fillHandshake(t, rot, &r.vectorHandshake, ks)
	r.PreviousSignedInput = protocol.PreviousSignedTranscriptBytes(3, r.Transcript)
	r.PreviousSignature = rskf.PreviousSignature

	conv := []struct{ dir, text string }{
		{"c2s", `{"id":1,"op":"signup","body":{"username":"alice","password":"correct horse battery staple"}}`},
		{"s2c", `{"id":1,"result":{"account":{"id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","username":"alice","created_at":"2026-01-02T03:04:05Z"}}}`},
		{"c2s", `{"id":2,"op":"policy"}`},
		{"s2c", `{"id":2,"result":{"min_password_length":15,"max_password_length":1024}}`},
	}
	var counters [2]uint64
	v3.Packets = nil
	var c2s, s2c [][]byte
	for _, m := range conv {
		sess, idx := cs, 0
		if m.dir == "s2c" {
			sess, idx = ss, 1
		}
		p, err := sess.Seal([]byte(m.text))
		if err != nil {
			t.Fatal(err)
		}
		nonce := binary.BigEndian.AppendUint64(make([]byte, 4), counters[idx])
		v3.Packets = append(v3.Packets, vectorPacket{Direction: m.dir, Counter: counters[idx], Nonce: nonce, Plaintext: m.text, Packet: p})
		counters[idx]++
		if idx == 0 {
			c2s = append(c2s, p)
		} else {
			s2c = append(s2c, p)
		}
	}
	v2AAD, err := mustSession(t, 2, hs.C2SKey, hs.S2CKey).Seal([]byte(conv[0].text))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 0x01; return c }
	v3.BadPacket = []vectorBadSeq{
		{"in order", "c2s", []hexBytes{c2s[0], c2s[1]}, []string{"ok", "ok"}},
		{"sealed with the version 2 AAD under the version 3 keys", "c2s", []hexBytes{v2AAD}, []string{"decrypt"}},
		{"the version 2 vector's first packet", "c2s", []hexBytes{v.Packets[0].Packet}, []string{"decrypt"}},
		{"flipped bit in tag", "c2s", []hexBytes{flip(c2s[0], len(c2s[0])-1)}, []string{"decrypt"}},
		{"replayed counter", "c2s", []hexBytes{c2s[0], c2s[0]}, []string{"ok", "decrypt"}},
		{"reflected (server's packet back to the server)", "c2s", []hexBytes{s2c[0]}, []string{"decrypt"}},
		{"server packets in order", "s2c", []hexBytes{s2c[0], s2c[1]}, []string{"ok", "ok"}},
	}

	// Frames to refuse. Hellos are edited from the rotation hello (it has
	// every member) or the plain one.
	edit := func(frame string, change func(m map[string]any)) string {
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader([]byte(frame)))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		change(m)
		return orderedFrame(m, "type", "version", "identity_key", "transport_key", "nonce", "previous_identity_key", "previous_until", "signature", "extra")
	}
	seed := func() io.Reader { return bytes.NewReader(bytes.Repeat([]byte{0x5a}, 32)) }
	v2Label, _ := rsa.EncryptOAEP(sha256.New(), seed(), &ks.transport.PublicKey, hs.ClientSecret, []byte("accountd.v2 client secret"))
	skV2Label, _ := rsa.EncryptOAEP(sha256.New(), seed(), &ks.client.PublicKey, hs.ServerSecret, []byte("accountd.v2 server secret"))
	clientHello := func(version int, secret []byte) string {
		b, _ := json.Marshal(protocol.ClientHello{Type: protocol.TypeClientHello, Version: version, ClientKey: v.Keys.ClientSPKI, Secret: secret})
		return string(b)
	}
	serverKey := func(secret, signature, previous []byte) string {
		b, _ := json.Marshal(protocol.ServerKey{Type: protocol.TypeServerKey, Secret: secret, Signature: signature, PreviousSignature: previous})
		return string(b)
	}
	hashOf := func(f transcriptFields) []byte { sum := sha256.Sum256(f.input()); return sum[:] }
	// signed returns a plain server_key for secret, signed by the vector
	// identity over the plain transcript with edit applied.
	signed := func(secret []byte, edit func(f *transcriptFields)) string {
		f := fields
		f.serverSecret = secret
		if edit != nil {
			edit(&f)
		}
		return serverKey(secret, ed25519.Sign(ks.identity, protocol.SignedTranscriptBytes(3, hashOf(f))), nil)
	}
	// rotSigned returns a rotation server_key whose two signatures the
	// rotated and the previous key make over the rotation transcript
	// with edit applied.
	rotSigned := func(secret []byte, edit func(f *transcriptFields)) string {
		f := rfields
		f.serverSecret = secret
		if edit != nil {
			edit(&f)
		}
		sum := hashOf(f)
		return serverKey(secret, ed25519.Sign(rot.Key, protocol.SignedTranscriptBytes(3, sum)), ed25519.Sign(rot.Previous, protocol.PreviousSignedTranscriptBytes(3, sum)))
	}
	rsum := hashOf(rfields)
	prevByOther := ed25519.Sign(ks.otherIdentity, protocol.PreviousSignedTranscriptBytes(3, rsum))
	prevWithServerContext := ed25519.Sign(rot.Previous, protocol.SignedTranscriptBytes(3, rsum))
	swappedSig := ed25519.Sign(rot.Previous, protocol.SignedTranscriptBytes(3, rsum))
	swappedPrev := ed25519.Sign(rot.Key, protocol.PreviousSignedTranscriptBytes(3, rsum))
	v2Context := ed25519.Sign(ks.identity, protocol.SignedTranscriptBytes(2, hashOf(fields)))
	v3.BadFrames = []vectorBadFrame{
		{"hello: version 2", "hello", edit(hs.Hello, func(m map[string]any) { m["version"] = 2 }), "version"},
		{"hello: the version 2 vector hello", "hello", v.Handshake.Hello, "version"},
		{"hello: a signature member", "hello", edit(hs.Hello, func(m map[string]any) { m["signature"] = bytes.Repeat([]byte{1}, 64) }), "malformed"},
		{"hello: unknown field", "hello", edit(hs.Hello, func(m map[string]any) { m["extra"] = true }), "malformed"},
		{"hello: previous_identity_key without previous_until", "hello", edit(r.Hello, func(m map[string]any) { delete(m, "previous_until") }), "malformed"},
		{"hello: previous_until without previous_identity_key", "hello", edit(r.Hello, func(m map[string]any) { delete(m, "previous_identity_key") }), "malformed"},
		{"hello: previous_identity_key null, previous_until present", "hello", edit(r.Hello, func(m map[string]any) { m["previous_identity_key"] = nil }), "malformed"},
		{"hello: previous_identity_key of 31 bytes", "hello", edit(r.Hello, func(m map[string]any) { m["previous_identity_key"] = []byte(v.Keys.IdentityPublic[:31]) }), "malformed"},
		{"hello: previous_identity_key empty", "hello", edit(r.Hello, func(m map[string]any) { m["previous_identity_key"] = "" }), "malformed"},
		{"hello: previous_identity_key equal to identity_key", "hello", edit(r.Hello, func(m map[string]any) { m["previous_identity_key"] = m["identity_key"] }), "malformed"},
		{"hello: previous_until 0", "hello", edit(r.Hello, func(m map[string]any) { m["previous_until"] = 0 }), "malformed"},
		{"hello: previous_until negative", "hello", edit(r.Hello, func(m map[string]any) { m["previous_until"] = -1 }), "malformed"},
		{"hello: previous_until 2^53", "hello", edit(r.Hello, func(m map[string]any) { m["previous_until"] = json.Number("9007199254740992") }), "malformed"},
		{"hello: previous_until with a fraction", "hello", edit(r.Hello, func(m map[string]any) { m["previous_until"] = 1.5 }), "malformed"},
		{"hello: previous_until a string", "hello", edit(r.Hello, func(m map[string]any) { m["previous_until"] = "1772323200" }), "malformed"},
		{"client_hello: version 2", "client_hello", clientHello(2, mustClientSecret(t, hs.ClientHello)), "version"},
		{"client_hello: the version 2 vector client_hello", "client_hello", v.Handshake.ClientHello, "version"},
		{"client_hello: secret with the version 2 label", "client_hello", clientHello(3, v2Label), "decrypt"},
		{"server_key: previous_signature although the hello announced no previous key", "server_key", serverKey(skf.Secret, skf.Signature, skf.Signature), "malformed"},
		{"server_key: the version 2 vector server_key", "server_key", v.Handshake.ServerKey, "bad_signature"},
		{"server_key: signed with the version 2 context string", "server_key", serverKey(skf.Secret, v2Context, nil), "bad_signature"},
		{"server_key: signed over the version 2 transcript (downgrade)", "server_key", signed(skf.Secret, func(f *transcriptFields) {
			f.name, f.subprotocol, f.version, f.previous, f.previousUntil = []byte("accountd.v2 transcript"), []byte("accountd.v2"), []byte{0, 0, 0, 2}, nil, nil
		}), "bad_signature"},
		{"server_key: signed over a transcript without the previous key fields", "server_key", signed(skf.Secret, func(f *transcriptFields) { f.previous, f.previousUntil = nil, nil }), "bad_signature"},
		{"server_key: secret with the version 2 label, correctly signed", "server_key", signed(skV2Label, nil), "decrypt"},
		{"rotation_server_key: no previous_signature", "rotation_server_key", serverKey(rskf.Secret, rskf.Signature, nil), "malformed"},
		{"rotation_server_key: previous_signature of 63 bytes", "rotation_server_key", serverKey(rskf.Secret, rskf.Signature, rskf.PreviousSignature[:63]), "malformed"},
		{"rotation_server_key: flipped previous_signature bit", "rotation_server_key", serverKey(rskf.Secret, rskf.Signature, flip(rskf.PreviousSignature, 9)), "bad_signature"},
		{"rotation_server_key: flipped signature bit, previous_signature right", "rotation_server_key", serverKey(rskf.Secret, flip(rskf.Signature, 9), rskf.PreviousSignature), "bad_signature"},
		{"rotation_server_key: previous_signature by another key", "rotation_server_key", serverKey(rskf.Secret, rskf.Signature, prevByOther), "bad_signature"},
		{"rotation_server_key: previous_signature under the server signature context", "rotation_server_key", serverKey(rskf.Secret, rskf.Signature, prevWithServerContext), "bad_signature"},
		{"rotation_server_key: previous_signature a copy of signature", "rotation_server_key", serverKey(rskf.Secret, rskf.Signature, rskf.Signature), "bad_signature"},
		{"rotation_server_key: the two keys' roles swapped", "rotation_server_key", serverKey(rskf.Secret, swappedSig, swappedPrev), "bad_signature"},
		{"rotation_server_key: both signed for another previous_until", "rotation_server_key", rotSigned(rskf.Secret, func(f *transcriptFields) {
			f.previousUntil = binary.BigEndian.AppendUint64(nil, uint64(until+86400))
		}), "bad_signature"},
		{"rotation_server_key: both signed for a hello without the previous key", "rotation_server_key", rotSigned(rskf.Secret, func(f *transcriptFields) {
			f.previous, f.previousUntil = []byte{}, make([]byte, 8)
		}), "bad_signature"},
		{"rotation_server_key: flipped ciphertext bit, correctly signed", "rotation_server_key", rotSigned(flip(rskf.Secret, 7), nil), "decrypt"},
	}
}

// mustClientSecret returns the secret of a client_hello frame.
func mustClientSecret(tb testing.TB, frame string) []byte {
	tb.Helper()
	var ch protocol.ClientHello
	if err := json.Unmarshal([]byte(frame), &ch); err != nil {
		tb.Fatal(err)
	}
	return ch.Secret
}

// orderedFrame encodes m with its members in order, those not in order
// left out.
func orderedFrame(m map[string]any, order ...string) string {
	var b bytes.Buffer
	b.WriteByte('{')
	for _, k := range order {
		x, ok := m[k]
		if !ok {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(x)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.String()
}
