package protocol

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"sync"
)

// Limits on frames. SPEC.md lists them.
const (
	// MaxHandshakeFrame is the largest handshake frame either side accepts.
	MaxHandshakeFrame = 4096
	// MaxPacket is the largest sealed packet (ciphertext plus tag).
	MaxPacket = 64 * 1024
	// MaxPlaintext is the largest JSON document a packet may carry.
	MaxPlaintext = MaxPacket - tagSize
	// MaxFrame is the WebSocket read limit that covers every frame.
	MaxFrame = MaxPacket

	tagSize   = 16
	nonceSize = 12
)

// ErrCounterExhausted is returned when a direction has sent or received
// 2^63 packets; the connection must be closed.
var ErrCounterExhausted = errors.New("protocol: packet counter exhausted")

// ErrTooLarge is returned by Seal for a plaintext over MaxPlaintext.
var ErrTooLarge = errors.New("protocol: packet too large")

var b64raw = base64.RawStdEncoding

// Session seals outgoing and opens incoming packets of one connection.
// Each direction has its own key and counter: the n-th packet (from 0) a
// side sends is sealed with nonce = 4 zero bytes || n as 8-byte big-endian.
// Seal and Open may be called from different goroutines; each is
// serialized internally.
type Session struct {
	sendMu  sync.Mutex
	send    cipher.AEAD
	sendCtr uint64

	recvMu  sync.Mutex
	recv    cipher.AEAD
	recvCtr uint64
	broken  bool

	// aad is the additional data of every packet: "accountd.vN packet".
	aad []byte
}

func newSession(sendKey, recvKey, aad []byte) (*Session, error) {
	s, err := newGCM(sendKey)
	if err != nil {
		return nil, err
	}
	r, err := newGCM(recvKey)
	if err != nil {
		return nil, err
	}
	return &Session{send: s, recv: r, aad: aad}, nil
}

// NewSessionForKeys returns a session of version from raw direction keys;
// it exists for test vectors and other implementations' tests.
func NewSessionForKeys(version int, sendKey, recvKey []byte) (*Session, error) {
	s, err := suiteOf(version)
	if err != nil {
		return nil, err
	}
	return newSession(sendKey, recvKey, s.packetAAD)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("protocol: key must be 32 bytes")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func counterNonce(n uint64) []byte {
	nonce := make([]byte, nonceSize)
	binary.BigEndian.PutUint64(nonce[4:], n)
	return nonce
}

// Seal encrypts the next outgoing packet.
func (s *Session) Seal(plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintext {
		return nil, ErrTooLarge
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.sendCtr >= math.MaxInt64 {
		return nil, ErrCounterExhausted
	}
	out := s.send.Seal(nil, counterNonce(s.sendCtr), plaintext, s.aad)
	s.sendCtr++
	return out, nil
}

// Open decrypts the next incoming packet. Any failure returns ErrDecrypt
// and leaves the session unusable: a replayed, reordered, reflected,
// truncated or altered packet means the connection must be closed.
func (s *Session) Open(packet []byte) ([]byte, error) {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	if s.broken || len(packet) < tagSize || len(packet) > MaxPacket {
		s.broken = true
		return nil, ErrDecrypt
	}
	if s.recvCtr >= math.MaxInt64 {
		s.broken = true
		return nil, ErrCounterExhausted
	}
	pt, err := s.recv.Open(nil, counterNonce(s.recvCtr), packet, s.aad)
	if err != nil {
		s.broken = true
		return nil, ErrDecrypt
	}
	s.recvCtr++
	return pt, nil
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
