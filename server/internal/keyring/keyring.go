package keyring

import (
	"context"
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

// KeyBits is the size of the RSA signing keys.
const KeyBits = 3072

// Algorithms are the JWS algorithms a Ring signs with.
var Algorithms = []string{"PS256", "RS256"}

// Store is what a Ring needs of the database.
type Store interface {
	// ListSigningKeys returns every signing key.
	ListSigningKeys(ctx context.Context) ([]store.SigningKey, error)
	// RotateSigningKey writes k and retires the keys before it; it
	// returns store.ErrAlreadyExists when k's generation exists.
	RotateSigningKey(ctx context.Context, k store.SigningKey, retireAt, expiresAt time.Time) error
}

// Config configures a Ring.
type Config struct {
	Store     Store
	MasterKey []byte
	// Algorithm is the JWS algorithm new keys sign with (one of
	// Algorithms).
	Algorithm string
	Policy    Policy
	Now       func() time.Time
	// Rotated, when set, is called after this instance wrote a key.
	Rotated func()
}

// Ring holds the signing keys loaded from the store.
type Ring struct {
	cfg Config

	mu         sync.RWMutex
	keys       map[string]*ringKey
	maxGen     int64
	lastReload time.Time
}

type ringKey struct {
	rec  store.SigningKey
	priv *rsa.PrivateKey // nil for keys that will not sign here
	pub  *rsa.PublicKey
}

// New returns an empty Ring; Load fills it.
func New(cfg Config) *Ring { return &Ring{cfg: cfg} }

// Load reads every signing key from the store and makes sure one can sign
// now, creating one that signs at once if none can.
func (r *Ring) Load(ctx context.Context) error {
	if err := r.Reload(ctx); err != nil {
		return err
	}
	if r.signer(r.cfg.Now()) != nil {
		return nil
	}
	if _, err := r.rotate(ctx, true, func(now time.Time) bool { return r.signer(now) == nil }); err != nil {
		return err
	}
	if r.signer(r.cfg.Now()) == nil {
		return errors.New("keyring: no signing key can sign after creating one")
	}
	return nil
}

// Reload replaces the ring with the store's keys.
func (r *Ring) Reload(ctx context.Context) error {
	recs, err := r.cfg.Store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	now := r.cfg.Now()
	keys := make(map[string]*ringKey, len(recs))
	var maxGen int64
	for _, rec := range recs {
		maxGen = max(maxGen, rec.Generation)
		if expired(rec, now) {
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
		if (rec.RetireAt.IsZero() || now.Before(rec.RetireAt)) && rec.Algorithm == r.cfg.Algorithm {
			pkcs8, err := unsealKey(r.cfg.MasterKey, rec.ID, rec.SealedPrivateKey)
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

func expired(k store.SigningKey, now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

func method(alg string) jwt.SigningMethod {
	if alg == "RS256" {
		return jwt.SigningMethodRS256
	}
	return jwt.SigningMethodPS256
}

// Sign issues a token of claims with the key that signs now.
func (r *Ring) Sign(claims jwt.Claims) (string, error) {
	k := r.signer(r.cfg.Now())
	if k == nil {
		return "", errors.New("keyring: no signing key loaded")
	}
	t := jwt.NewWithClaims(method(k.rec.Algorithm), claims)
	t.Header["kid"] = k.rec.ID
	return t.SignedString(k.priv)
}

// CanSign reports whether a key can sign now.
func (r *Ring) CanSign() bool { return r.signer(r.cfg.Now()) != nil }

// Keyfunc returns the jwt.Keyfunc that finds a token's key by its kid,
// reloading from the store (at most once a second) when another instance
// created a key this one has not seen yet. The token's algorithm must be
// its key's.
func (r *Ring) Keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		r.mu.RLock()
		k := r.keys[kid]
		stale := r.cfg.Now().Sub(r.lastReload) > time.Second
		r.mu.RUnlock()
		if k == nil && stale && kid != "" {
			if err := r.Reload(ctx); err != nil {
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
}

// Has reports whether the ring holds a key id.
func (r *Ring) Has(kid string) bool {
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

// JWKS returns every key that can still verify a live token, and the next
// key of a rotation before it signs.
func (r *Ring) JWKS() []JWK {
	now := r.cfg.Now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]JWK, 0, len(r.keys))
	for _, k := range r.keys {
		if expired(k.rec, now) {
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
