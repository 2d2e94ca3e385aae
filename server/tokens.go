package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/accountd/accountd/store"
)

// SigningKeyBits is the size of JWT signing keys.
const SigningKeyBits = 3072

// Claims are the claims of an accountd token.
type Claims struct {
	jwt.RegisteredClaims
	// SessionID is the "sid" claim: the session behind the token.
	SessionID string `json:"sid"`
}

// keyRing holds the signing keys loaded from the store, their private
// halves unsealed with the master key, and rotates them (rotation.go).
// Safe for concurrent use.
type keyRing struct {
	store     store.Store
	masterKey []byte
	algorithm string
	now       func() time.Time
	rotation  rotationPolicy
	metrics   *Metrics

	mu         sync.RWMutex
	keys       map[string]*ringKey
	maxGen     int64
	lastReload time.Time
}

type ringKey struct {
	rec  store.SigningKey
	priv *rsa.PrivateKey
	pub  *rsa.PublicKey
}

// sealKey encrypts a PKCS#8 private key under the master key with
// AES-256-GCM; the key id is the additional data, so a sealed key cannot be
// moved to another row.
func sealKey(master []byte, kid string, pkcs8 []byte) ([]byte, error) {
	aead, err := masterAEAD(master)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, pkcs8, []byte("accountd signing key "+kid)), nil
}

func unsealKey(master []byte, kid string, sealed []byte) ([]byte, error) {
	aead, err := masterAEAD(master)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("sealed signing key too short")
	}
	n := aead.NonceSize()
	pt, err := aead.Open(nil, sealed[:n], sealed[n:], []byte("accountd signing key "+kid))
	if err != nil {
		return nil, errors.New("signing key does not open with this master key")
	}
	return pt, nil
}

func masterAEAD(master []byte) (cipher.AEAD, error) {
	if len(master) != 32 {
		return nil, errors.New("master key must be 32 bytes")
	}
	b, err := aes.NewCipher(master)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// load reads every signing key from the store and makes sure one can sign
// now, creating one that signs at once if none can.
func (r *keyRing) load(ctx context.Context) error {
	if err := r.reload(ctx); err != nil {
		return err
	}
	if r.signer(r.now()) != nil {
		return nil
	}
	if _, err := r.rotate(ctx, true, func(now time.Time) bool { return r.signer(now) == nil }); err != nil {
		return err
	}
	if r.signer(r.now()) == nil {
		return errors.New("no signing key can sign after creating one")
	}
	return nil
}

// reload replaces the ring with the store's keys.
func (r *keyRing) reload(ctx context.Context) error {
	recs, err := r.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	now := r.now()
	keys := make(map[string]*ringKey, len(recs))
	var maxGen int64
	for _, rec := range recs {
		maxGen = max(maxGen, rec.Generation)
		if !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt) {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(rec.PublicKey)
		if err != nil {
			return fmt.Errorf("signing key %s: public key: %w", rec.ID, err)
		}
		rpub, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("signing key %s: not an RSA key", rec.ID)
		}
		k := &ringKey{rec: rec, pub: rpub}
		// Keys that sign now or will (a rotation's next key) are unsealed.
		mayYetSign := rec.RetireAt.IsZero() || now.Before(rec.RetireAt)
		if mayYetSign && rec.Algorithm == r.algorithm {
			pkcs8, err := unsealKey(r.masterKey, rec.ID, rec.SealedPrivateKey)
			if err != nil {
				return fmt.Errorf("signing key %s: %w", rec.ID, err)
			}
			priv, err := x509.ParsePKCS8PrivateKey(pkcs8)
			if err != nil {
				return fmt.Errorf("signing key %s: private key: %w", rec.ID, err)
			}
			rpriv, ok := priv.(*rsa.PrivateKey)
			if !ok || !rpriv.PublicKey.Equal(rpub) {
				return fmt.Errorf("signing key %s: private half does not match", rec.ID)
			}
			k.priv = rpriv
		}
		keys[rec.ID] = k
	}
	r.mu.Lock()
	r.keys, r.maxGen, r.lastReload = keys, maxGen, now
	r.mu.Unlock()
	return nil
}

func (r *keyRing) method(alg string) jwt.SigningMethod {
	if alg == "RS256" {
		return jwt.SigningMethodRS256
	}
	return jwt.SigningMethodPS256
}

// sign issues a token with the current signing key.
func (r *keyRing) sign(c Claims) (string, error) {
	k := r.signer(r.now())
	if k == nil {
		return "", errors.New("no signing key loaded")
	}
	t := jwt.NewWithClaims(r.method(k.rec.Algorithm), c)
	t.Header["kid"] = k.rec.ID
	return t.SignedString(k.priv)
}

// verificationKey finds the public key for a token's kid, reloading from
// the store (at most once a second) when another instance created a key
// this one has not seen yet.
func (r *keyRing) verificationKey(ctx context.Context, t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	r.mu.RLock()
	k := r.keys[kid]
	stale := r.now().Sub(r.lastReload) > time.Second
	r.mu.RUnlock()
	if k == nil && stale && kid != "" {
		if err := r.reload(ctx); err != nil {
			return nil, err
		}
		r.mu.RLock()
		k = r.keys[kid]
		r.mu.RUnlock()
	}
	if k == nil {
		return nil, errors.New("unknown key id")
	}
	if t.Method.Alg() != k.rec.Algorithm {
		return nil, errors.New("algorithm does not match key")
	}
	return k.pub, nil
}

// has reports whether the ring holds a key id.
func (r *keyRing) has(kid string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.keys[kid]
	return ok
}

// JWK is one RSA key in a JSON Web Key Set (RFC 7517/7518).
type JWK struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// jwks returns every key that can still verify a live token, and the next
// key of a rotation before it signs.
func (r *keyRing) jwks() []JWK {
	now := r.now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]JWK, 0, len(r.keys))
	for _, k := range r.keys {
		if !k.rec.ExpiresAt.IsZero() && !now.Before(k.rec.ExpiresAt) {
			continue
		}
		out = append(out, JWK{
			Kty: "RSA", Use: "sig", Alg: k.rec.Algorithm, Kid: k.rec.ID,
			N: base64.RawURLEncoding.EncodeToString(k.pub.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.pub.E)).Bytes()),
		})
	}
	return out
}
