package client

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"

	"github.com/accountd/accountd/protocol"
)

// FingerprintTrust is a TrustStore for a server whose identity
// fingerprint the operator already knows (accountd prints it at every
// start, and `accountd config show` shows it): it trusts exactly the key
// with that fingerprint, under any server name, and nothing else. There
// is no first use to trust: a server presenting another key is refused
// with *KeyMismatchError. Safe for concurrent use.
type FingerprintTrust struct {
	mu  sync.Mutex
	sum [32]byte
}

// TrustFingerprint returns the trust store for a fingerprint written as
// protocol.Fingerprint writes it: "SHA256:" and the unpadded standard
// base64 of the key's SHA-256 (padding is accepted too).
func TrustFingerprint(fingerprint string) (*FingerprintTrust, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(fingerprint), "SHA256:")
	if !ok {
		return nil, fmt.Errorf("client: fingerprint %q: want SHA256:<base64>", fingerprint)
	}
	sum, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(b64, "="))
	if err != nil || len(sum) != 32 {
		return nil, fmt.Errorf("client: fingerprint %q: want SHA256: and the base64 of 32 bytes", fingerprint)
	}
	t := &FingerprintTrust{}
	copy(t.sum[:], sum)
	return t, nil
}

// String returns the fingerprint in protocol.Fingerprint's form: the
// one given, or the one Repin moved to.
func (t *FingerprintTrust) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(t.sum[:])
}

func (t *FingerprintTrust) matches(key ed25519.PublicKey) bool {
	presented := protocol.Fingerprint(key)
	return subtle.ConstantTimeCompare([]byte(presented), []byte(t.String())) == 1
}

// Check implements TrustStore: nil for the key with the fingerprint,
// *KeyMismatchError for any other; never ErrUnknownServer.
func (t *FingerprintTrust) Check(server string, key ed25519.PublicKey) error {
	if t.matches(key) {
		return nil
	}
	return &KeyMismatchError{Server: server, Pinned: t.String(), Presented: protocol.Fingerprint(key)}
}

// Pin implements TrustStore. The store holds one fingerprint, so
// pinning succeeds only for the key it already trusts.
func (t *FingerprintTrust) Pin(server string, key ed25519.PublicKey) error {
	return t.Check(server, key)
}

// Repin implements TrustStore: from now on the store trusts current
// instead of previous. The move lasts as long as the store: a program
// that was given the fingerprint should be given current's
// (Options.IdentityRotated tells it).
func (t *FingerprintTrust) Repin(server string, previous, current ed25519.PublicKey) error {
	if t.matches(current) {
		return nil
	}
	if err := t.Check(server, previous); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sum = sha256.Sum256(current)
	return nil
}
