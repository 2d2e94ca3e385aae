package keyring

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/accountd/accountd/store"
)

// Store is what a Ring needs of the database.
type Store interface {
	// ListSigningKeys returns every signing key.
	ListSigningKeys(ctx context.Context) ([]store.SigningKey, error)
	// RotateSigningKey writes k and retires the keys before it; it
	// returns store.ErrAlreadyExists when k's generation exists.
	RotateSigningKey(ctx context.Context, k store.SigningKey, retireAt, expiresAt time.Time) error
	// SetSigningKeyMAC sets the MAC of a key that has none;
	// store.ErrNotFound when it has one already.
	SetSigningKeyMAC(ctx context.Context, id string, mac []byte) error
	// ResealSigningKey replaces the sealed private half and MAC of key
	// id if its sealed private half is still old; store.ErrNotFound
	// when it is not.
	ResealSigningKey(ctx context.Context, id string, old, sealed, mac []byte) error
}

// Config configures a Ring.
type Config struct {
	Store Store
	// MasterKey seals and MACs the keys this ring writes, and opens
	// keys.
	MasterKey []byte
	// PreviousMasterKey, set while a master key rotation is under way,
	// opens (and authenticates) the keys not yet resealed under
	// MasterKey.
	PreviousMasterKey []byte
	// Algorithm is the JWS algorithm of the keys this Ring writes (one
	// of Algorithms). The key that signs is the newest active key,
	// whatever its algorithm, so that a change takes effect at the next
	// rotation, on every instance at once.
	Algorithm string
	Policy    Policy
	Now       func() time.Time
	// Rotated, when set, is called after this instance wrote a key.
	Rotated func()
	// Refused, when set, is called once per key id the ring refuses:
	// its MAC does not verify, or it has none and its private half does
	// not open under the master key.
	Refused func()
	// Log receives the refusals, at error level. Default discards.
	Log *slog.Logger
}

// Ring holds the signing keys loaded from the store.
type Ring struct {
	cfg Config

	mu         sync.RWMutex
	keys       map[string]*ringKey
	maxGen     int64
	lastReload time.Time
	// refused are the key ids refused so far, reported once each.
	refused map[string]bool
}

type ringKey struct {
	rec  store.SigningKey
	priv crypto.Signer // nil for keys that will not sign here
	pub  crypto.PublicKey
}

// New returns an empty Ring; Load fills it.
func New(cfg Config) *Ring {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Ring{cfg: cfg, refused: make(map[string]bool)}
}

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
	recs = r.authentic(ctx, recs)
	boundValidity(recs, r.cfg.Policy.Keep)
	for _, rec := range recs {
		maxGen = max(maxGen, rec.Generation)
		if expired(rec, now) {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(rec.PublicKey)
		if err != nil {
			return fmt.Errorf("signing key %s: public key: %w", rec.ID, err)
		}
		if !fitsAlgorithm(rec.Algorithm, pub) {
			return fmt.Errorf("signing key %s: not a key for %q", rec.ID, rec.Algorithm)
		}
		k := &ringKey{rec: rec, pub: pub}
		// Keys that sign now or will (a rotation's next key) are unsealed.
		if rec.RetireAt.IsZero() || now.Before(rec.RetireAt) {
			pkcs8, _, err := r.unseal(rec)
			if err != nil {
				return fmt.Errorf("signing key %s: %w", rec.ID, err)
			}
			priv, err := x509.ParsePKCS8PrivateKey(pkcs8)
			if err != nil {
				return fmt.Errorf("signing key %s: private key: %w", rec.ID, err)
			}
			if !samePublicKey(priv, pub) {
				return fmt.Errorf("signing key %s: private half does not match", rec.ID)
			}
			k.priv = priv.(crypto.Signer)
		}
		keys[rec.ID] = k
	}
	r.mu.Lock()
	r.keys, r.maxGen, r.lastReload = keys, maxGen, now
	r.mu.Unlock()
	return nil
}

// authentic returns the keys whose MAC verifies. A key without one,
// written before MACs existed, is MACed now if its private half opens
// under the master key (which only a holder of the master key could have
// sealed); the others are refused: never used or published, logged and
// counted once each.
func (r *Ring) authentic(ctx context.Context, recs []store.SigningKey) []store.SigningKey {
	out := recs[:0:0]
	for _, rec := range recs {
		if rec.MAC == nil {
			if err := r.adopt(ctx, &rec); err != nil {
				r.refuse(rec, "it has no MAC and "+err.Error())
				continue
			}
		}
		if r.macMaster(rec) == nil {
			r.refuse(rec, "its MAC does not verify under the master key: the row was written or changed without it")
			continue
		}
		out = append(out, rec)
	}
	return out
}

// adopt MACs a key written before MACs existed, after checking that its
// private half opens under the master key and matches its public key.
func (r *Ring) adopt(ctx context.Context, rec *store.SigningKey) error {
	pkcs8, _, err := r.unseal(*rec)
	if err != nil {
		return errors.New("its private half does not open under the master key")
	}
	err = matchPrivate(pkcs8, rec.PublicKey, rec.Algorithm)
	clear(pkcs8)
	if err != nil {
		return err
	}
	mac, err := keyMAC(r.cfg.MasterKey, *rec)
	if err != nil {
		return err
	}
	if err := r.cfg.Store.SetSigningKeyMAC(ctx, rec.ID, mac); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("its MAC could not be stored: %w", err)
	}
	rec.MAC = mac
	return nil
}

// masters are the master keys that open keys: the current one first.
func (r *Ring) masters() [][]byte {
	if len(r.cfg.PreviousMasterKey) == 0 {
		return [][]byte{r.cfg.MasterKey}
	}
	return [][]byte{r.cfg.MasterKey, r.cfg.PreviousMasterKey}
}

// unseal opens rec's private half under the first master key it opens
// under, and returns that key.
func (r *Ring) unseal(rec store.SigningKey) ([]byte, []byte, error) {
	for _, m := range r.masters() {
		if pkcs8, err := unsealKey(m, rec.ID, rec.SealedPrivateKey); err == nil {
			return pkcs8, m, nil
		}
	}
	return nil, nil, errors.New("signing key does not open with this master key")
}

// macMaster returns the master key rec's MAC verifies under, or nil.
func (r *Ring) macMaster(rec store.SigningKey) []byte {
	for _, m := range r.masters() {
		if checkMAC(m, rec) {
			return m
		}
	}
	return nil
}

// matchPrivate checks that pkcs8 is a private key whose public half is
// spki, of a type alg signs with.
func matchPrivate(pkcs8, spki []byte, alg string) error {
	priv, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return errors.New("its private half does not parse")
	}
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil || !fitsAlgorithm(alg, pub) || !samePublicKey(priv, pub) {
		return errors.New("its private half does not match its public key and algorithm")
	}
	return nil
}

func (r *Ring) refuse(rec store.SigningKey, why string) {
	r.mu.Lock()
	seen := r.refused[rec.ID]
	r.refused[rec.ID] = true
	r.mu.Unlock()
	if seen {
		return
	}
	r.cfg.Log.Error("SIGNING KEY REFUSED: not used, not published; someone with write access to the database may be trying to mint tokens",
		"kid", rec.ID, "generation", rec.Generation, "why", why)
	if r.cfg.Refused != nil {
		r.cfg.Refused()
	}
}

// boundValidity caps each key's RetireAt at the activation of the next
// authentic key (a later activation, or a later generation at the same
// one) and its ExpiresAt at that plus keep: the bounds a rotation sets,
// so that changing these unauthenticated columns can only end a key
// sooner.
func boundValidity(recs []store.SigningKey, keep time.Duration) {
	for i := range recs {
		k := &recs[i]
		var next *store.SigningKey
		for j := range recs {
			o := &recs[j]
			if o.Generation > k.Generation && o.Generation > 0 && (next == nil || o.Generation < next.Generation) {
				next = o
			}
		}
		if next == nil {
			continue
		}
		if k.RetireAt.IsZero() || next.ActiveAt.Before(k.RetireAt) {
			k.RetireAt = next.ActiveAt
		}
		if lim := k.RetireAt.Add(keep); k.ExpiresAt.IsZero() || lim.Before(k.ExpiresAt) {
			k.ExpiresAt = lim
		}
	}
}

func expired(k store.SigningKey, now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

// Sign issues a token of claims with the key that signs now, and names
// that key.
func (r *Ring) Sign(claims jwt.Claims) (token, kid string, err error) {
	k := r.signer(r.cfg.Now())
	if k == nil {
		return "", "", errors.New("keyring: no signing key loaded")
	}
	t := jwt.NewWithClaims(method(k.rec.Algorithm), claims)
	t.Header["kid"] = k.rec.ID
	token, err = t.SignedString(k.priv)
	return token, k.rec.ID, err
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
		if k == nil || expired(k.rec, r.cfg.Now()) {
			return nil, errors.New("unknown key id")
		}
		if t.Method.Alg() != k.rec.Algorithm {
			return nil, errors.New("algorithm does not match key")
		}
		return k.pub, nil
	}
}

// Verifies reports whether the ring holds kid and it is still published
// at now: a key stops verifying the moment it leaves the JWKS, not at the
// next reload.
func (r *Ring) Verifies(kid string, now time.Time) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.keys[kid]
	return ok && !expired(k.rec, now)
}

// Has reports whether the ring holds a key id.
func (r *Ring) Has(kid string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.keys[kid]
	return ok
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
		out = append(out, jwk(k.rec.ID, k.rec.Algorithm, k.pub))
	}
	return out
}
