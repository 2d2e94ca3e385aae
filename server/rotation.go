package server

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/accountd/accountd/store"
)

// Signing-key rotation, safe with several instances on one database:
//
//   - By age: when the key that signs has signed for Interval, one
//     instance writes the next key with ActiveAt = now + Lead. Every
//     instance reloads the keys every reloadEvery, so each publishes the
//     next key in its JWKS at least Lead - reloadEvery (validated to be at
//     least the JWKS cache max-age) before any instance signs with it: a
//     verifier that cached the JWKS has refetched by then.
//   - In the same transaction every older key gets RetireAt = the next
//     key's ActiveAt (it stops signing then, on every instance, as each
//     picks the newest key whose ActiveAt has passed) and ExpiresAt =
//     RetireAt + Keep, Keep being the token lifetime and a minute of clock
//     leeway: it stays published until the last token it signed expired.
//   - Each rotation writes the next generation number, which the database
//     keeps unique: of several instances rotating at the same moment, one
//     writes its key and the others get a conflict and load that key.

// rotationPolicy is when keys rotate.
type rotationPolicy struct {
	// Interval is how long a key signs before the next one is written.
	Interval time.Duration
	// Lead is how long the next key is published before it signs.
	Lead time.Duration
	// Keep is how long a retired key stays published: the longest token
	// lifetime plus clock leeway.
	Keep time.Duration
}

// clockLeeway is added to how long retired keys are kept, for clocks of
// instances and verifiers that differ a little.
const clockLeeway = time.Minute

// reloadEvery is how often an instance reloads the signing keys and checks
// whether a rotation is due: a quarter of the lead, at most 30 s and at
// least 100 ms.
func (p rotationPolicy) reloadEvery() time.Duration {
	return min(max(p.Lead/4, 100*time.Millisecond), 30*time.Second)
}

// signer returns the key that signs at now: of the keys whose private half
// is loaded, active and not retired at now, the one that became active
// last. It returns nil when none can.
func (r *keyRing) signer(now time.Time) *ringKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var best *ringKey
	for _, k := range r.keys {
		if k.priv == nil || now.Before(k.rec.ActiveAt) || (!k.rec.RetireAt.IsZero() && !now.Before(k.rec.RetireAt)) {
			continue
		}
		if best == nil || k.rec.ActiveAt.After(best.rec.ActiveAt) ||
			(k.rec.ActiveAt.Equal(best.rec.ActiveAt) && k.rec.Generation > best.rec.Generation) {
			best = k
		}
	}
	return best
}

// newest returns the loaded key of this ring's algorithm that became or
// becomes active last, or nil.
func (r *keyRing) newest() *ringKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var best *ringKey
	for _, k := range r.keys {
		if k.rec.Algorithm != r.algorithm || k.priv == nil {
			continue
		}
		if best == nil || k.rec.ActiveAt.After(best.rec.ActiveAt) {
			best = k
		}
	}
	return best
}

// rotationDue reports whether the key that signs has signed for the
// interval and no next key is waiting.
func (r *keyRing) rotationDue(now time.Time) bool {
	n := r.newest()
	if n == nil {
		return true
	}
	if n.rec.ActiveAt.After(now) {
		return false // a rotation is under way
	}
	return now.Sub(n.rec.ActiveAt) >= r.rotation.Interval
}

// rotate reloads the keys and writes the next generation's key: active
// at once when immediate (the first key, or no key can sign), else after
// the lead. It reports false when another instance wrote that generation
// first; the ring then holds that instance's key.
//
// need, when not nil, is asked again after the reload: another instance
// may have rotated since the caller decided to, and its key must not be
// followed by a second one.
func (r *keyRing) rotate(ctx context.Context, immediate bool, need func(now time.Time) bool) (bool, error) {
	if err := r.reload(ctx); err != nil {
		return false, err
	}
	if need != nil && !need(r.now()) {
		return false, nil
	}
	r.mu.RLock()
	gen := r.maxGen + 1
	r.mu.RUnlock()
	priv, err := rsa.GenerateKey(rand.Reader, SigningKeyBits)
	if err != nil {
		return false, fmt.Errorf("generate signing key: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return false, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return false, err
	}
	idb := make([]byte, 16)
	if _, err := rand.Read(idb); err != nil {
		return false, err
	}
	kid := hex.EncodeToString(idb)
	sealed, err := sealKey(r.masterKey, kid, pkcs8)
	if err != nil {
		return false, err
	}
	now := r.now().UTC().Truncate(time.Microsecond)
	active := now
	if !immediate {
		active = now.Add(r.rotation.Lead)
	}
	k := store.SigningKey{
		ID: kid, Algorithm: r.algorithm, PublicKey: spki, SealedPrivateKey: sealed,
		CreatedAt: now, ActiveAt: active, Generation: gen,
	}
	err = r.store.RotateSigningKey(ctx, k, active, active.Add(r.rotation.Keep))
	won := err == nil
	if errors.Is(err, store.ErrAlreadyExists) {
		err = nil
	}
	if err != nil {
		return false, fmt.Errorf("store signing key: %w", err)
	}
	if won {
		r.metrics.keyRotated()
	}
	return won, r.reload(ctx)
}

// maintain reloads the keys every reloadEvery and rotates them when due,
// until ctx ends.
func (r *keyRing) maintain(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(r.rotation.reloadEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.reload(ctx); err != nil {
			if ctx.Err() == nil {
				log.Warn("reload signing keys", "err", err)
			}
			continue
		}
		now := r.now()
		if !r.rotationDue(now) {
			continue
		}
		won, err := r.rotate(ctx, r.signer(now) == nil, r.rotationDue)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				log.Warn("rotate signing keys", "err", err)
			}
		case won:
			if n := r.newest(); n != nil {
				log.Info("signing key rotated", "kid", n.rec.ID, "generation", n.rec.Generation, "signs_from", n.rec.ActiveAt)
			}
		default:
			log.Debug("signing key rotated by another instance")
		}
	}
}

// RotateSigningKeys writes the next signing key now, whatever the age of
// the current one: it is published at once and signs after the lead. It
// reports false when another instance rotated at the same moment (its key
// is then the next one).
func (s *Service) RotateSigningKeys(ctx context.Context) (bool, error) {
	return s.keys.rotate(ctx, false, nil)
}
