package protocol

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Protocol constants. SPEC.md is the authority for each of them.
const (
	// NonceSize is the length of the server's hello nonce.
	NonceSize = 32
	// SecretSize is the length of each side's key-transport secret.
	SecretSize = 32
	// TransportKeyBits is the default size of the server's transport key.
	TransportKeyBits = 3072
	// MinRSABits and MaxRSABits bound every RSA key a peer may send.
	MinRSABits = 2048
	MaxRSABits = 4096
	// MaxPreviousUntil is the largest previous_until a hello may carry
	// (2^53-1, exact in every JSON implementation).
	MaxPreviousUntil = 1<<53 - 1
)

// rotationMembers are the frame members of version 3 that version 2
// does not know: in a version 2 frame they are unknown members.
var rotationMembers = []string{"previous_identity_key", "previous_until", "previous_signature"}

// Handshake frame types.
const (
	TypeHello       = "hello"
	TypeClientHello = "client_hello"
	TypeServerKey   = "server_key"
)

// Errors returned by the handshake. Every RSA-OAEP or AES-GCM failure is
// reported as ErrDecrypt, with no detail.
var (
	// ErrMalformed is returned for a handshake frame that does not parse
	// or violates a limit.
	ErrMalformed = errors.New("protocol: malformed handshake frame")
	// ErrBadSignature is returned by (*ClientHandshake).Finish when a
	// server_key signature does not verify over this connection's
	// transcript, under the hello's identity key or, for
	// previous_signature, its previous identity key: the peer does not
	// hold that private key, or replays another connection's messages.
	ErrBadSignature = errors.New("protocol: bad server signature")
	// ErrVersion is returned when a frame names a version other than the
	// one the subprotocol selected, or a version this package does not
	// speak is asked for.
	ErrVersion = errors.New("protocol: unsupported protocol version")
	// ErrDecrypt is returned for every decryption failure: key transport,
	// or a sealed packet that fails to open.
	ErrDecrypt = errors.New("protocol: decryption failed")
)

// Hello is the server's first frame.
type Hello struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	// IdentityKey is the server's raw 32-byte Ed25519 public key.
	IdentityKey []byte `json:"identity_key"`
	// TransportKey is the server's per-start RSA public key, SPKI DER.
	TransportKey []byte `json:"transport_key"`
	// Nonce is 32 fresh random bytes per connection.
	Nonce []byte `json:"nonce"`
	// PreviousIdentityKey (version 3) is the identity key before
	// IdentityKey while the server's rotation overlap runs: it signs the
	// transcript too, so that clients pinned to it move to IdentityKey.
	// Absent otherwise.
	PreviousIdentityKey []byte `json:"previous_identity_key,omitempty"`
	// PreviousUntil (version 3) is when the server stops announcing
	// PreviousIdentityKey, in Unix seconds; present exactly with it.
	PreviousUntil int64 `json:"previous_until,omitempty"`
}

// ClientHello is the client's answer to Hello.
type ClientHello struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	// ClientKey is the client's RSA public key, SPKI DER.
	ClientKey []byte `json:"client_key"`
	// Secret is RSA-OAEP-SHA256(TransportKey, client secret, label
	// "accountd.vN client secret").
	Secret []byte `json:"secret"`
}

// ServerKey is the server's last handshake frame.
type ServerKey struct {
	Type string `json:"type"`
	// Secret is RSA-OAEP-SHA256(ClientKey, server secret, label
	// "accountd.vN server secret").
	Secret []byte `json:"secret"`
	// Signature is Ed25519(identity, SignedTranscriptBytes(transcript)):
	// the proof that the server holds the identity key, bound to this
	// connection's whole handshake.
	Signature []byte `json:"signature"`
	// PreviousSignature (version 3) is Ed25519(previous identity,
	// PreviousSignedTranscriptBytes(transcript)), present exactly when
	// the hello announced a previous identity key: the old key vouches
	// for the new one.
	PreviousSignature []byte `json:"previous_signature,omitempty"`
}

// TranscriptHash returns SHA-256 over the handshake, each field preceded
// by its length as a 4-byte big-endian integer, in this order: the name
// "accountd.vN transcript", the subprotocol "accountd.vN", the version as
// 4 big-endian bytes, identity key, (version 3: the previous identity key,
// empty when absent, and previous_until as 8 big-endian bytes, zero when
// absent), transport key, nonce, client key, client's encrypted secret,
// server's encrypted secret. N is h.Version, which ParseHello checked; for
// a version this package does not speak it returns nil. The server_key
// signatures are not part of it: they sign this hash.
func TranscriptHash(h *Hello, ch *ClientHello, sk *ServerKey) []byte {
	s, err := suiteOf(h.Version)
	if err != nil {
		return nil
	}
	return s.transcriptHash(h, ch, sk)
}

func (s *suite) transcriptHash(h *Hello, ch *ClientHello, sk *ServerKey) []byte {
	version := binary.BigEndian.AppendUint32(nil, uint32(s.version))
	fields := [][]byte{[]byte(s.transcriptName), []byte(s.subprotocol), version, h.IdentityKey}
	if s.rotates() {
		until := binary.BigEndian.AppendUint64(nil, uint64(h.PreviousUntil))
		fields = append(fields, h.PreviousIdentityKey, until)
	}
	fields = append(fields, h.TransportKey, h.Nonce, ch.ClientKey, ch.Secret, sk.Secret)
	d := sha256.New()
	for _, f := range fields {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		d.Write(n[:])
		d.Write(f)
	}
	return d.Sum(nil)
}

// SignedTranscriptBytes returns the exact bytes the identity key signs in
// server_key: "accountd.vN server signature" || 0x00 || transcript hash.
// It is nil for a version this package does not speak.
func SignedTranscriptBytes(version int, transcript []byte) []byte {
	s, err := suiteOf(version)
	if err != nil {
		return nil
	}
	return contextBytes(s.signatureContext, transcript)
}

// PreviousSignedTranscriptBytes returns the exact bytes the previous
// identity key signs in a version 3 server_key: "accountd.v3 previous
// identity signature" || 0x00 || transcript hash. It is nil for a
// version without a previous identity key.
func PreviousSignedTranscriptBytes(version int, transcript []byte) []byte {
	s, err := suiteOf(version)
	if err != nil || !s.rotates() {
		return nil
	}
	return contextBytes(s.previousContext, transcript)
}

func contextBytes(context string, transcript []byte) []byte {
	b := make([]byte, 0, len(context)+1+len(transcript))
	b = append(b, context...)
	b = append(b, 0)
	return append(b, transcript...)
}

// DeriveKeys returns the client-to-server and server-to-client AES-256 keys:
// HKDF-SHA256 with IKM = client secret || server secret, salt = the
// transcript hash, info "accountd.vN c2s" / "accountd.vN s2c", 32 bytes each.
func DeriveKeys(version int, clientSecret, serverSecret, transcript []byte) (c2s, s2c []byte, err error) {
	s, err := suiteOf(version)
	if err != nil {
		return nil, nil, err
	}
	return s.deriveKeys(clientSecret, serverSecret, transcript)
}

func (s *suite) deriveKeys(clientSecret, serverSecret, transcript []byte) (c2s, s2c []byte, err error) {
	ikm := append(append(make([]byte, 0, len(clientSecret)+len(serverSecret)), clientSecret...), serverSecret...)
	defer clear(ikm)
	c2s, err = hkdf.Key(sha256.New, ikm, transcript, s.infoC2S, 32)
	if err != nil {
		return nil, nil, err
	}
	s2c, err = hkdf.Key(sha256.New, ikm, transcript, s.infoS2C, 32)
	if err != nil {
		return nil, nil, err
	}
	return c2s, s2c, nil
}

// GenerateTransportKey returns a fresh RSA key of TransportKeyBits.
func GenerateTransportKey() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, TransportKeyBits)
}

// ParseRSAPublicKey parses an SPKI DER RSA public key and checks its size
// (MinRSABits..MaxRSABits) and public exponent (65537).
func ParseRSAPublicKey(der []byte) (*rsa.PublicKey, error) {
	if len(der) > 1024 {
		return nil, fmt.Errorf("%w: rsa key too long", ErrMalformed)
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: rsa key: not SPKI DER", ErrMalformed)
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: key is not RSA", ErrMalformed)
	}
	if bits := pub.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
		return nil, fmt.Errorf("%w: rsa key of %d bits (want %d to %d)", ErrMalformed, bits, MinRSABits, MaxRSABits)
	}
	if pub.E != 65537 {
		return nil, fmt.Errorf("%w: rsa exponent must be 65537", ErrMalformed)
	}
	return pub, nil
}

// decodeFrame parses one handshake frame of s's version strictly: known
// fields only, the expected type, nothing after the object.
func (s *suite) decodeFrame(data []byte, typ string, v any) error {
	if len(data) > MaxHandshakeFrame {
		return fmt.Errorf("%w: frame too large", ErrMalformed)
	}
	var unknown []string
	if !s.rotates() {
		unknown = rotationMembers
	}
	if err := checkNames(data, v, unknown...); err != nil {
		return fmt.Errorf("%w: %s: %s", ErrMalformed, typ, err)
	}
	dec := json.NewDecoder(bytesReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s: invalid json", ErrMalformed, typ)
	}
	if dec.More() {
		return fmt.Errorf("%w: %s: trailing data", ErrMalformed, typ)
	}
	var got string
	switch f := v.(type) {
	case *Hello:
		got = f.Type
	case *ClientHello:
		got = f.Type
	case *ServerKey:
		got = f.Type
	}
	if got != typ {
		return fmt.Errorf("%w: expected %q frame", ErrMalformed, typ)
	}
	return nil
}

// present reports which of names the JSON object in data has with a
// value other than null: a zero or empty value is present too, which the
// decoded struct alone cannot tell from an absent member.
func present(data []byte, names ...string) map[string]bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		if v, ok := m[n]; ok && string(v) != "null" {
			out[n] = true
		}
	}
	return out
}

// ParseHello decodes a hello frame of the version the WebSocket
// subprotocol selected and checks its shape, version, field lengths and
// transport key: a hello of another version is ErrVersion. The hello is
// not signed: the server proves its identity in server_key. ParseHello
// does not decide whether the identity key is trusted: that is the
// caller's pinning policy.
func ParseHello(version int, data []byte) (*Hello, *rsa.PublicKey, error) {
	s, err := suiteOf(version)
	if err != nil {
		return nil, nil, err
	}
	var h Hello
	if err := s.decodeFrame(data, TypeHello, &h); err != nil {
		return nil, nil, err
	}
	if h.Version != version {
		return nil, nil, fmt.Errorf("%w: server speaks %d", ErrVersion, h.Version)
	}
	if len(h.IdentityKey) != ed25519.PublicKeySize || len(h.Nonce) != NonceSize {
		return nil, nil, fmt.Errorf("%w: hello field length", ErrMalformed)
	}
	if s.rotates() {
		p := present(data, "previous_identity_key", "previous_until")
		switch {
		case p["previous_identity_key"] != p["previous_until"]:
			return nil, nil, fmt.Errorf("%w: hello: previous_identity_key and previous_until come together or not at all", ErrMalformed)
		case !p["previous_identity_key"]:
		case len(h.PreviousIdentityKey) != ed25519.PublicKeySize:
			return nil, nil, fmt.Errorf("%w: hello: previous_identity_key length", ErrMalformed)
		case h.PreviousUntil < 1 || h.PreviousUntil > MaxPreviousUntil:
			return nil, nil, fmt.Errorf("%w: hello: previous_until out of range", ErrMalformed)
		case bytes.Equal(h.PreviousIdentityKey, h.IdentityKey):
			return nil, nil, fmt.Errorf("%w: hello: previous_identity_key is the identity key", ErrMalformed)
		}
	}
	pub, err := ParseRSAPublicKey(h.TransportKey)
	if err != nil {
		return nil, nil, err
	}
	return &h, pub, nil
}

// ParseClientHello decodes a client_hello frame on a connection of
// version and checks its shape: a client_hello of another version is
// ErrVersion.
func ParseClientHello(version int, data []byte) (*ClientHello, *rsa.PublicKey, error) {
	s, err := suiteOf(version)
	if err != nil {
		return nil, nil, err
	}
	var ch ClientHello
	if err := s.decodeFrame(data, TypeClientHello, &ch); err != nil {
		return nil, nil, err
	}
	if ch.Version != version {
		return nil, nil, fmt.Errorf("%w: client asks for %d", ErrVersion, ch.Version)
	}
	pub, err := ParseRSAPublicKey(ch.ClientKey)
	if err != nil {
		return nil, nil, err
	}
	if len(ch.Secret) == 0 || len(ch.Secret) > MaxRSABits/8 {
		return nil, nil, fmt.Errorf("%w: client_hello secret length", ErrMalformed)
	}
	return &ch, pub, nil
}

// ParseServerKey decodes a server_key frame of version and checks its
// shape. The signatures are checked by (*ClientHandshake).Finish, which
// knows the transcript and whether the hello announced a previous
// identity key.
func ParseServerKey(version int, data []byte) (*ServerKey, error) {
	s, err := suiteOf(version)
	if err != nil {
		return nil, err
	}
	var sk ServerKey
	if err := s.decodeFrame(data, TypeServerKey, &sk); err != nil {
		return nil, err
	}
	if len(sk.Secret) == 0 || len(sk.Secret) > MaxRSABits/8 {
		return nil, fmt.Errorf("%w: server_key secret length", ErrMalformed)
	}
	if len(sk.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: server_key signature length", ErrMalformed)
	}
	if s.rotates() && present(data, "previous_signature")["previous_signature"] && len(sk.PreviousSignature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: server_key previous_signature length", ErrMalformed)
	}
	return &sk, nil
}

// ServerIdentity is what a server proves it holds in its handshakes.
type ServerIdentity struct {
	// Key is the current identity key. Required.
	Key ed25519.PrivateKey
	// Previous is the identity key before Key while a rotation's overlap
	// runs, nil otherwise. Version 3 hellos announce it beside Key and it
	// signs the transcript too; version 2 hellos present it instead of
	// Key, so that version 2 clients pinned before the rotation keep
	// working until the overlap ends. The caller ends the overlap by no
	// longer passing it.
	Previous ed25519.PrivateKey
	// PreviousUntil is the end of the overlap, announced in version 3
	// hellos in whole seconds. Required with Previous.
	PreviousUntil time.Time
}

// check refuses a ServerIdentity that no client could accept.
func (id ServerIdentity) check() error {
	if len(id.Key) != ed25519.PrivateKeySize {
		return errors.New("protocol: identity key must be an Ed25519 private key")
	}
	if id.Previous == nil {
		return nil
	}
	if len(id.Previous) != ed25519.PrivateKeySize {
		return errors.New("protocol: previous identity key must be an Ed25519 private key")
	}
	if u := id.PreviousUntil.Unix(); u < 1 || u > MaxPreviousUntil {
		return errors.New("protocol: previous identity key needs an end of its overlap after 1970")
	}
	if id.Previous.Equal(id.Key) {
		return errors.New("protocol: previous identity key is the identity key")
	}
	return nil
}

// ServerHandshake is the server's side of one connection's handshake.
// Use it from one goroutine.
type ServerHandshake struct {
	suite     *suite
	signer    ed25519.PrivateKey // signs signature
	previous  ed25519.PrivateKey // signs previous_signature, or nil
	transport *rsa.PrivateKey
	hello     Hello
	rand      io.Reader
}

// NewServerHandshake prepares a fresh hello of version (the one the
// WebSocket subprotocol selected) for one connection; the identity keys
// sign the transcript later, in Finish. transportDER is the SPKI DER of
// transport's public key (callers compute it once per start). A nil rand
// means crypto/rand.
func NewServerHandshake(version int, id ServerIdentity, transport *rsa.PrivateKey, transportDER []byte, random io.Reader) (*ServerHandshake, error) {
	s, err := suiteOf(version)
	if err != nil {
		return nil, err
	}
	if err := id.check(); err != nil {
		return nil, err
	}
	if random == nil {
		random = rand.Reader
	}
	nonce := make([]byte, NonceSize)
	if _, err := io.ReadFull(random, nonce); err != nil {
		return nil, fmt.Errorf("protocol: read nonce: %w", err)
	}
	hs := &ServerHandshake{
		suite:     s,
		signer:    id.Key,
		transport: transport,
		rand:      random,
		hello:     Hello{Type: TypeHello, Version: version, TransportKey: transportDER, Nonce: nonce},
	}
	switch {
	case id.Previous == nil:
	case s.rotates():
		hs.previous = id.Previous
		hs.hello.PreviousIdentityKey = []byte(id.Previous.Public().(ed25519.PublicKey))
		hs.hello.PreviousUntil = id.PreviousUntil.Unix()
	default:
		hs.signer = id.Previous
	}
	hs.hello.IdentityKey = []byte(hs.signer.Public().(ed25519.PublicKey))
	return hs, nil
}

// Hello returns the encoded hello frame to send first.
func (s *ServerHandshake) Hello() []byte {
	b, _ := json.Marshal(&s.hello)
	return b
}

// Finish processes the client's client_hello frame and returns the
// server_key frame to send, signed over the transcript, and the
// established session.
func (s *ServerHandshake) Finish(clientHello []byte) ([]byte, *Session, error) {
	ch, clientPub, err := ParseClientHello(s.suite.version, clientHello)
	if err != nil {
		return nil, nil, err
	}
	clientSecret, err := rsa.DecryptOAEP(sha256.New(), nil, s.transport, ch.Secret, []byte(s.suite.labelC2S))
	// The secrets live only until the session keys are derived.
	defer clear(clientSecret)
	if err != nil || len(clientSecret) != SecretSize {
		return nil, nil, ErrDecrypt
	}
	serverSecret := make([]byte, SecretSize)
	defer clear(serverSecret)
	if _, err := io.ReadFull(s.rand, serverSecret); err != nil {
		return nil, nil, fmt.Errorf("protocol: read secret: %w", err)
	}
	enc, err := rsa.EncryptOAEP(sha256.New(), s.rand, clientPub, serverSecret, []byte(s.suite.labelS2C))
	if err != nil {
		return nil, nil, fmt.Errorf("protocol: encrypt server secret: %w", err)
	}
	sk := ServerKey{Type: TypeServerKey, Secret: enc}
	transcript := s.suite.transcriptHash(&s.hello, ch, &sk)
	sk.Signature = ed25519.Sign(s.signer, contextBytes(s.suite.signatureContext, transcript))
	if s.previous != nil {
		sk.PreviousSignature = ed25519.Sign(s.previous, contextBytes(s.suite.previousContext, transcript))
	}
	c2s, s2c, err := s.suite.deriveKeys(clientSecret, serverSecret, transcript)
	if err != nil {
		return nil, nil, err
	}
	sess, err := newSession(s2c, c2s, s.suite.packetAAD)
	clear(c2s)
	clear(s2c)
	if err != nil {
		return nil, nil, err
	}
	out, _ := json.Marshal(&sk)
	return out, sess, nil
}

// ClientHandshake is the client's side of one connection's handshake.
type ClientHandshake struct {
	suite        *suite
	hello        *Hello
	clientKey    *rsa.PrivateKey
	clientHello  ClientHello
	clientSecret []byte
}

// NewClientHandshake parses and checks the server's hello of version (the
// one the WebSocket subprotocol selected) and prepares the client_hello.
// clientKey is the client's RSA key (it may be reused across connections;
// the secrets are fresh each time). Check IdentityKey (or, when it is
// not pinned, PreviousIdentityKey) against the pinned key before sending
// ClientHello: Finish proves that the server holds those keys.
func NewClientHandshake(version int, hello []byte, clientKey *rsa.PrivateKey, random io.Reader) (*ClientHandshake, error) {
	if random == nil {
		random = rand.Reader
	}
	h, transportPub, err := ParseHello(version, hello)
	if err != nil {
		return nil, err
	}
	s, _ := suiteOf(version) // ParseHello checked it
	clientDER, err := x509.MarshalPKIXPublicKey(&clientKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("protocol: encode client key: %w", err)
	}
	secret := make([]byte, SecretSize)
	if _, err := io.ReadFull(random, secret); err != nil {
		return nil, fmt.Errorf("protocol: read secret: %w", err)
	}
	enc, err := rsa.EncryptOAEP(sha256.New(), random, transportPub, secret, []byte(s.labelC2S))
	if err != nil {
		return nil, fmt.Errorf("protocol: encrypt client secret: %w", err)
	}
	return &ClientHandshake{
		suite:        s,
		hello:        h,
		clientKey:    clientKey,
		clientSecret: secret,
		clientHello:  ClientHello{Type: TypeClientHello, Version: version, ClientKey: clientDER, Secret: enc},
	}, nil
}

// IdentityKey returns the identity key the hello announces. It is proven
// only once Finish succeeds.
func (c *ClientHandshake) IdentityKey() ed25519.PublicKey {
	return ed25519.PublicKey(c.hello.IdentityKey)
}

// PreviousIdentityKey returns the previous identity key a version 3 hello
// announces during a rotation overlap, and when the server stops
// announcing it; nil and the zero time when it announces none. The key is
// proven only once Finish succeeds.
func (c *ClientHandshake) PreviousIdentityKey() (ed25519.PublicKey, time.Time) {
	if len(c.hello.PreviousIdentityKey) == 0 {
		return nil, time.Time{}
	}
	return ed25519.PublicKey(c.hello.PreviousIdentityKey), time.Unix(c.hello.PreviousUntil, 0).UTC()
}

// ClientHello returns the encoded client_hello frame to send.
func (c *ClientHandshake) ClientHello() []byte {
	b, _ := json.Marshal(&c.clientHello)
	return b
}

// Finish processes the server_key frame and returns the session. It
// verifies the signature over the transcript under the hello's identity
// key, and the previous identity key's when the hello announced one,
// before it decrypts anything; a signature that does not verify is
// ErrBadSignature. A previous_signature without a previous identity key
// in the hello, or the other way round, is ErrMalformed.
func (c *ClientHandshake) Finish(serverKey []byte) (*Session, error) {
	sk, err := ParseServerKey(c.suite.version, serverKey)
	if err != nil {
		return nil, err
	}
	if (len(c.hello.PreviousIdentityKey) != 0) != (sk.PreviousSignature != nil) {
		return nil, fmt.Errorf("%w: server_key: previous_signature must come exactly with a previous identity key", ErrMalformed)
	}
	transcript := c.suite.transcriptHash(c.hello, &c.clientHello, sk)
	if !ed25519.Verify(ed25519.PublicKey(c.hello.IdentityKey), contextBytes(c.suite.signatureContext, transcript), sk.Signature) {
		return nil, ErrBadSignature
	}
	if sk.PreviousSignature != nil && !ed25519.Verify(ed25519.PublicKey(c.hello.PreviousIdentityKey), contextBytes(c.suite.previousContext, transcript), sk.PreviousSignature) {
		return nil, ErrBadSignature
	}
	serverSecret, err := c.clientKey.Decrypt(nil, sk.Secret, &rsa.OAEPOptions{Hash: crypto.SHA256, Label: []byte(c.suite.labelS2C)})
	defer clear(serverSecret)
	if err != nil || len(serverSecret) != SecretSize {
		return nil, ErrDecrypt
	}
	c2s, s2c, err := c.suite.deriveKeys(c.clientSecret, serverSecret, transcript)
	if err != nil {
		return nil, err
	}
	// The handshake is over: its secret and the direction keys live on
	// only inside the session's ciphers.
	clear(c.clientSecret)
	defer clear(c2s)
	defer clear(s2c)
	return newSession(c2s, s2c, c.suite.packetAAD)
}

// Fingerprint formats an identity key as "SHA256:" followed by the
// unpadded standard base64 of its SHA-256, like OpenSSH.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + b64raw.EncodeToString(sum[:])
}
