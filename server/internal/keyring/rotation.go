package keyring

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/accountd/accountd/store"
)

// Policy is when keys rotate.
type Policy struct {
	// Interval is how long a key signs before the next one is written.
	Interval time.Duration
	// Lead is how long the next key is published before it signs.
	Lead time.Duration
	// Keep is how long a retired key stays published: the longest token
	// lifetime plus clock leeway.
	Keep time.Duration
}

// ReloadEvery is how often an instance reloads the signing keys and
// checks whether a rotation is due: a quarter of the lead, at most 30 s
// and at least 100 ms.
func (p Policy) ReloadEvery() time.Duration {
	return min(max(p.Lead/4, 100*time.Millisecond), 30*time.Second)
}

// maySign reports whether k may sign at now: active, neither retired nor
// expired. Its algorithm does not matter: the newest key signs on every
// instance, whatever algorithm each instance writes new keys with.
func maySign(k store.SigningKey, now time.Time) bool {
	return !now.Before(k.ActiveAt) &&
		(k.RetireAt.IsZero() || now.Before(k.RetireAt)) && !expired(k, now)
}

// later reports whether a became (or becomes) active after b; of two
// activated at the same moment, the later generation.
func later(a, b store.SigningKey) bool {
	return a.ActiveAt.After(b.ActiveAt) || (a.ActiveAt.Equal(b.ActiveAt) && a.Generation > b.Generation)
}

// signer returns the key that signs at now: of the keys whose private half
// is loaded and that may sign, the one that became active last; nil when
// none can.
func (r *Ring) signer(now time.Time) *ringKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var best *ringKey
	for _, k := range r.keys {
		if k.priv == nil || !maySign(k.rec, now) {
			continue
		}
		if best == nil || later(k.rec, best.rec) {
			best = k
		}
	}
	return best
}

// newest returns the loaded key that became or becomes active last, or
// nil.
func (r *Ring) newest() *ringKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var best *ringKey
	for _, k := range r.keys {
		if k.priv == nil {
			continue
		}
		if best == nil || later(k.rec, best.rec) {
			best = k
		}
	}
	return best
}

// underWay reports whether a next key is published and not signing yet.
func (r *Ring) underWay(now time.Time) bool {
	n := r.newest()
	return n != nil && n.rec.ActiveAt.After(now)
}

// rotationDue reports whether the key that signs has signed for the
// interval and no next key is waiting.
func (r *Ring) rotationDue(now time.Time) bool {
	n := r.newest()
	if n == nil {
		return true
	}
	if n.rec.ActiveAt.After(now) {
		return false
	}
	return now.Sub(n.rec.ActiveAt) >= r.cfg.Policy.Interval
}

// rotate reloads the keys and, when need (asked after the reload, since
// another instance may have rotated since the caller decided to) still
// holds, writes the next generation's key: active at once when immediate,
// else after the lead. It reports false when it wrote nothing, or another
// instance wrote that generation first (the ring then holds its key).
func (r *Ring) rotate(ctx context.Context, immediate bool, need func(now time.Time) bool) (bool, error) {
	if err := r.Reload(ctx); err != nil {
		return false, err
	}
	if need != nil && !need(r.cfg.Now()) {
		return false, nil
	}
	r.mu.RLock()
	gen := r.maxGen + 1
	r.mu.RUnlock()
	priv, err := generateKey(r.cfg.Algorithm)
	if err != nil {
		return false, fmt.Errorf("generate signing key: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return false, err
	}
	spki, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return false, err
	}
	idb := make([]byte, 16)
	if _, err := rand.Read(idb); err != nil {
		return false, err
	}
	kid := hex.EncodeToString(idb)
	sealed, err := sealKey(r.cfg.MasterKey, kid, pkcs8)
	if err != nil {
		return false, err
	}
	now := r.cfg.Now().UTC().Truncate(time.Microsecond)
	active := now
	if !immediate {
		active = now.Add(r.cfg.Policy.Lead)
	}
	k := store.SigningKey{
		ID: kid, Algorithm: r.cfg.Algorithm, PublicKey: spki, SealedPrivateKey: sealed,
		CreatedAt: now, ActiveAt: active, Generation: gen,
	}
	if k.MAC, err = keyMAC(r.cfg.MasterKey, k); err != nil {
		return false, err
	}
	err = r.cfg.Store.RotateSigningKey(ctx, k, active, active.Add(r.cfg.Policy.Keep))
	won := err == nil
	if errors.Is(err, store.ErrAlreadyExists) {
		err = nil
	}
	if err != nil {
		return false, fmt.Errorf("store signing key: %w", err)
	}
	if won && r.cfg.Rotated != nil {
		r.cfg.Rotated()
	}
	return won, r.Reload(ctx)
}

// Rotate writes the next signing key now, whatever the age of the current
// one: it is published at once and signs after the lead, or at once when
// immediate. A rotation that is already under way (a next key published,
// not signing yet) is not followed by another unless immediate. It returns
// the newest key and whether this call wrote it.
func (r *Ring) Rotate(ctx context.Context, immediate bool) (store.SigningKey, bool, error) {
	var need func(time.Time) bool
	if !immediate {
		need = func(now time.Time) bool { return !r.underWay(now) }
	}
	won, err := r.rotate(ctx, immediate, need)
	if err != nil {
		return store.SigningKey{}, false, fmt.Errorf("rotate signing keys: %w", err)
	}
	n := r.newest()
	if n == nil {
		return store.SigningKey{}, false, errors.New("rotate signing keys: no key after rotating")
	}
	return n.rec, won, nil
}

// Maintain reloads the keys every Policy.ReloadEvery and rotates them when
// due, until ctx ends.
func (r *Ring) Maintain(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(r.cfg.Policy.ReloadEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.Reload(ctx); err != nil {
			if ctx.Err() == nil {
				log.Warn("reload signing keys", "err", err)
			}
			continue
		}
		now := r.cfg.Now()
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

// State is where a signing key is in its life.
type State string

// The states of a signing key, as Describe reports them.
const (
	StateSigning    State = "signing"
	StatePending    State = "published, not signing yet"
	StateVerifying  State = "verifies only"
	StateSuperseded State = "superseded, never signs"
	StateExpired    State = "expired"
)

// KeyState is one key and its state.
type KeyState struct {
	Key   store.SigningKey
	State State
}

// Describe gives each key's state at now: the key that signs is the one
// a ring picks.
func Describe(keys []store.SigningKey, now time.Time) []KeyState {
	signer := -1
	for i, k := range keys {
		if maySign(k, now) && (signer < 0 || later(k, keys[signer])) {
			signer = i
		}
	}
	out := make([]KeyState, len(keys))
	for i, k := range keys {
		s := StateVerifying
		switch {
		case i == signer:
			s = StateSigning
		case expired(k, now):
			s = StateExpired
		case !k.RetireAt.IsZero() && !k.RetireAt.After(k.ActiveAt):
			s = StateSuperseded
		case now.Before(k.ActiveAt):
			s = StatePending
		}
		out[i] = KeyState{Key: k, State: s}
	}
	return out
}
