package protocol

import (
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
)

// Protocol constants. SPEC.md is the authority for each of them.
const (
	// Version is the protocol version this package speaks. It is the
	// only one: version 1's hello signature could be replayed, so it is
	// not spoken any more (SPEC.md §1).
	Version = 2
	// Subprotocol is the WebSocket subprotocol name for Version.
	Subprotocol = "accountd.v2"

	// NonceSize is the length of the server's hello nonce.
	NonceSize = 32
	// SecretSize is the length of each side's key-transport secret.
	SecretSize = 32
	// TransportKeyBits is the default size of the server's transport key.
	TransportKeyBits = 3072
	// MinRSABits and MaxRSABits bound every RSA key a peer may send.
	MinRSABits = 2048
	MaxRSABits = 4096

	signatureContext = "accountd.v2 server signature"
	transcriptName   = "accountd.v2 transcript"
	labelC2S         = "accountd.v2 client secret"
	labelS2C         = "accountd.v2 server secret"
	infoC2S          = "accountd.v2 c2s"
	infoS2C          = "accountd.v2 s2c"
)

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
	// ErrBadSignature is returned by (*ClientHandshake).Finish when the
	// server_key signature does not verify under the hello's identity key
	// over this connection's transcript: the peer does not hold the
	// identity private key, or replays another connection's messages.
	ErrBadSignature = errors.New("protocol: bad server signature")
	// ErrVersion is returned when the peer asks for a version this
	// package does not speak.
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
}

// ClientHello is the client's answer to Hello.
type ClientHello struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	// ClientKey is the client's RSA public key, SPKI DER.
	ClientKey []byte `json:"client_key"`
	// Secret is RSA-OAEP-SHA256(TransportKey, client secret, label
	// "accountd.v2 client secret").
	Secret []byte `json:"secret"`
}

// ServerKey is the server's last handshake frame.
type ServerKey struct {
	Type string `json:"type"`
	// Secret is RSA-OAEP-SHA256(ClientKey, server secret, label
	// "accountd.v2 server secret").
	Secret []byte `json:"secret"`
	// Signature is Ed25519(identity, SignedTranscriptBytes(transcript)):
	// the proof that the server holds the identity key, bound to this
	// connection's whole handshake.
	Signature []byte `json:"signature"`
}

// TranscriptHash returns SHA-256 over the handshake, each field preceded
// by its length as a 4-byte big-endian integer, in this order: the name
// "accountd.v2 transcript", the subprotocol "accountd.v2", the version as
// 4 big-endian bytes, identity key, transport key, nonce, client key,
// client's encrypted secret, server's encrypted secret. The server_key
// signature is not part of it: it signs this hash.
func TranscriptHash(h *Hello, ch *ClientHello, sk *ServerKey) []byte {
	var version [4]byte
	binary.BigEndian.PutUint32(version[:], Version)
	d := sha256.New()
	for _, f := range [][]byte{[]byte(transcriptName), []byte(Subprotocol), version[:], h.IdentityKey, h.TransportKey, h.Nonce, ch.ClientKey, ch.Secret, sk.Secret} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		d.Write(n[:])
		d.Write(f)
	}
	return d.Sum(nil)
}

// SignedTranscriptBytes returns the exact bytes the identity key signs in
// server_key: "accountd.v2 server signature" || 0x00 || transcript hash.
func SignedTranscriptBytes(transcript []byte) []byte {
	b := make([]byte, 0, len(signatureContext)+1+len(transcript))
	b = append(b, signatureContext...)
	b = append(b, 0)
	return append(b, transcript...)
}

// DeriveKeys returns the client-to-server and server-to-client AES-256 keys:
// HKDF-SHA256 with IKM = client secret || server secret, salt = the
// transcript hash, info "accountd.v2 c2s" / "accountd.v2 s2c", 32 bytes each.
func DeriveKeys(clientSecret, serverSecret, transcript []byte) (c2s, s2c []byte, err error) {
	ikm := append(append(make([]byte, 0, len(clientSecret)+len(serverSecret)), clientSecret...), serverSecret...)
	c2s, err = hkdf.Key(sha256.New, ikm, transcript, infoC2S, 32)
	if err != nil {
		return nil, nil, err
	}
	s2c, err = hkdf.Key(sha256.New, ikm, transcript, infoS2C, 32)
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

// decodeFrame parses one handshake frame strictly: known fields only, the
// expected type, nothing after the object.
func decodeFrame(data []byte, typ string, v any) error {
	if len(data) > MaxHandshakeFrame {
		return fmt.Errorf("%w: frame too large", ErrMalformed)
	}
	if err := checkNames(data, v); err != nil {
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

// ParseHello decodes a hello frame and checks its shape, version, field
// lengths and transport key. The hello is not signed: the server proves
// its identity in server_key. ParseHello does not decide whether the
// identity key is trusted: that is the caller's pinning policy.
func ParseHello(data []byte) (*Hello, *rsa.PublicKey, error) {
	var h Hello
	if err := decodeFrame(data, TypeHello, &h); err != nil {
		return nil, nil, err
	}
	if h.Version != Version {
		return nil, nil, fmt.Errorf("%w: server speaks %d", ErrVersion, h.Version)
	}
	if len(h.IdentityKey) != ed25519.PublicKeySize || len(h.Nonce) != NonceSize {
		return nil, nil, fmt.Errorf("%w: hello field length", ErrMalformed)
	}
	pub, err := ParseRSAPublicKey(h.TransportKey)
	if err != nil {
		return nil, nil, err
	}
	return &h, pub, nil
}

// ParseClientHello decodes a client_hello frame and checks its shape.
func ParseClientHello(data []byte) (*ClientHello, *rsa.PublicKey, error) {
	var ch ClientHello
	if err := decodeFrame(data, TypeClientHello, &ch); err != nil {
		return nil, nil, err
	}
	if ch.Version != Version {
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

// ParseServerKey decodes a server_key frame and checks its shape. The
// signature is checked by (*ClientHandshake).Finish, which knows the
// transcript.
func ParseServerKey(data []byte) (*ServerKey, error) {
	var sk ServerKey
	if err := decodeFrame(data, TypeServerKey, &sk); err != nil {
		return nil, err
	}
	if len(sk.Secret) == 0 || len(sk.Secret) > MaxRSABits/8 {
		return nil, fmt.Errorf("%w: server_key secret length", ErrMalformed)
	}
	if len(sk.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: server_key signature length", ErrMalformed)
	}
	return &sk, nil
}

// ServerHandshake is the server's side of one connection's handshake.
// Use it from one goroutine.
type ServerHandshake struct {
	identity  ed25519.PrivateKey
	transport *rsa.PrivateKey
	hello     Hello
	rand      io.Reader
}

// NewServerHandshake prepares a fresh hello for one connection; the
// identity key signs the transcript later, in Finish. transportDER
// is the SPKI DER of transport's public key (callers compute it once per
// start). A nil rand means crypto/rand.
func NewServerHandshake(identity ed25519.PrivateKey, transport *rsa.PrivateKey, transportDER []byte, random io.Reader) (*ServerHandshake, error) {
	if random == nil {
		random = rand.Reader
	}
	nonce := make([]byte, NonceSize)
	if _, err := io.ReadFull(random, nonce); err != nil {
		return nil, fmt.Errorf("protocol: read nonce: %w", err)
	}
	return &ServerHandshake{
		identity:  identity,
		transport: transport,
		rand:      random,
		hello: Hello{
			Type:         TypeHello,
			Version:      Version,
			IdentityKey:  []byte(identity.Public().(ed25519.PublicKey)),
			TransportKey: transportDER,
			Nonce:        nonce,
		},
	}, nil
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
	ch, clientPub, err := ParseClientHello(clientHello)
	if err != nil {
		return nil, nil, err
	}
	clientSecret, err := rsa.DecryptOAEP(sha256.New(), nil, s.transport, ch.Secret, []byte(labelC2S))
	if err != nil || len(clientSecret) != SecretSize {
		return nil, nil, ErrDecrypt
	}
	serverSecret := make([]byte, SecretSize)
	if _, err := io.ReadFull(s.rand, serverSecret); err != nil {
		return nil, nil, fmt.Errorf("protocol: read secret: %w", err)
	}
	enc, err := rsa.EncryptOAEP(sha256.New(), s.rand, clientPub, serverSecret, []byte(labelS2C))
	if err != nil {
		return nil, nil, fmt.Errorf("protocol: encrypt server secret: %w", err)
	}
	sk := ServerKey{Type: TypeServerKey, Secret: enc}
	transcript := TranscriptHash(&s.hello, ch, &sk)
	sk.Signature = ed25519.Sign(s.identity, SignedTranscriptBytes(transcript))
	c2s, s2c, err := DeriveKeys(clientSecret, serverSecret, transcript)
	if err != nil {
		return nil, nil, err
	}
	sess, err := newSession(s2c, c2s)
	if err != nil {
		return nil, nil, err
	}
	out, _ := json.Marshal(&sk)
	return out, sess, nil
}

// ClientHandshake is the client's side of one connection's handshake.
type ClientHandshake struct {
	hello        *Hello
	clientKey    *rsa.PrivateKey
	clientHello  ClientHello
	clientSecret []byte
}

// NewClientHandshake parses and checks the server's hello and prepares
// the client_hello. clientKey is the client's RSA key (it may be reused
// across connections; the secrets are fresh each time). Check
// IdentityKey against the pinned key before sending ClientHello: Finish
// proves that the server holds that key.
func NewClientHandshake(hello []byte, clientKey *rsa.PrivateKey, random io.Reader) (*ClientHandshake, error) {
	if random == nil {
		random = rand.Reader
	}
	h, transportPub, err := ParseHello(hello)
	if err != nil {
		return nil, err
	}
	clientDER, err := x509.MarshalPKIXPublicKey(&clientKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("protocol: encode client key: %w", err)
	}
	secret := make([]byte, SecretSize)
	if _, err := io.ReadFull(random, secret); err != nil {
		return nil, fmt.Errorf("protocol: read secret: %w", err)
	}
	enc, err := rsa.EncryptOAEP(sha256.New(), random, transportPub, secret, []byte(labelC2S))
	if err != nil {
		return nil, fmt.Errorf("protocol: encrypt client secret: %w", err)
	}
	return &ClientHandshake{
		hello:        h,
		clientKey:    clientKey,
		clientSecret: secret,
		clientHello:  ClientHello{Type: TypeClientHello, Version: Version, ClientKey: clientDER, Secret: enc},
	}, nil
}

// IdentityKey returns the identity key the hello announces. It is proven
// only once Finish succeeds.
func (c *ClientHandshake) IdentityKey() ed25519.PublicKey {
	return ed25519.PublicKey(c.hello.IdentityKey)
}

// ClientHello returns the encoded client_hello frame to send.
func (c *ClientHandshake) ClientHello() []byte {
	b, _ := json.Marshal(&c.clientHello)
	return b
}

// Finish processes the server_key frame and returns the session. It
// verifies the signature over the transcript under the hello's identity
// key before it decrypts anything; a signature that does not verify is
// ErrBadSignature.
func (c *ClientHandshake) Finish(serverKey []byte) (*Session, error) {
	sk, err := ParseServerKey(serverKey)
	if err != nil {
		return nil, err
	}
	transcript := TranscriptHash(c.hello, &c.clientHello, sk)
	if !ed25519.Verify(ed25519.PublicKey(c.hello.IdentityKey), SignedTranscriptBytes(transcript), sk.Signature) {
		return nil, ErrBadSignature
	}
	serverSecret, err := c.clientKey.Decrypt(nil, sk.Secret, &rsa.OAEPOptions{Hash: crypto.SHA256, Label: []byte(labelS2C)})
	if err != nil || len(serverSecret) != SecretSize {
		return nil, ErrDecrypt
	}
	c2s, s2c, err := DeriveKeys(c.clientSecret, serverSecret, transcript)
	if err != nil {
		return nil, err
	}
	return newSession(c2s, s2c)
}

// Fingerprint formats an identity key as "SHA256:" followed by the
// unpadded standard base64 of its SHA-256, like OpenSSH.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + b64raw.EncodeToString(sum[:])
}
