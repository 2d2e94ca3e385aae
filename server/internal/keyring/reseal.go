package keyring

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"

	"github.com/accountd/accountd/store"
)

// ResealCount says what Reseal did with the keys it found.
type ResealCount struct {
	// Resealed keys were moved from the previous master key to the
	// current one.
	Resealed int
	// Current keys were sealed under the current master key already.
	Current int
	// Refused keys are authenticated by neither master key, or their
	// private half does not open: they were left as they are (the ring
	// never uses them).
	Refused int
}

// Reseal seals every authentic key that opens only under the previous
// master key again under the current one, with a new MAC, one row at a
// time: a key is never written in a state that neither master key opens.
// A row changed meanwhile is read again. Keys that neither master key
// authenticates are never resealed, so that a rotation cannot launder a
// row written with database access alone.
func (r *Ring) Reseal(ctx context.Context) (ResealCount, error) {
	var n ResealCount
	recs, err := r.cfg.Store.ListSigningKeys(ctx)
	if err != nil {
		return n, fmt.Errorf("list signing keys: %w", err)
	}
	for _, rec := range recs {
		for attempt := 0; ; attempt++ {
			done, err := r.reseal(ctx, rec, &n)
			if err != nil {
				return n, fmt.Errorf("signing key %s: %w", rec.ID, err)
			}
			if done {
				break
			}
			if attempt == 2 {
				return n, fmt.Errorf("signing key %s: changed under the reseal three times", rec.ID)
			}
			if rec, err = r.get(ctx, rec.ID); errors.Is(err, store.ErrNotFound) {
				break // pruned meanwhile
			} else if err != nil {
				return n, err
			}
		}
	}
	return n, r.Reload(ctx)
}

// reseal reseals one key; false when the row changed before the write.
func (r *Ring) reseal(ctx context.Context, rec store.SigningKey, n *ResealCount) (bool, error) {
	pkcs8, opener, err := r.unseal(rec)
	if err != nil {
		n.Refused++
		return true, nil
	}
	defer clear(pkcs8)
	macBy := r.macMaster(rec)
	switch {
	case macBy == nil && rec.MAC != nil:
		n.Refused++
		return true, nil
	case macBy == nil:
		// Written before MACs: trusted only if its private half, which
		// only a master key holder could seal, matches its public key.
		if err := matchPrivate(pkcs8, rec.PublicKey, rec.Algorithm); err != nil {
			n.Refused++
			return true, nil
		}
	case hmac.Equal(opener, r.cfg.MasterKey) && hmac.Equal(macBy, r.cfg.MasterKey):
		n.Current++
		return true, nil
	}
	sealed, err := sealKey(r.cfg.MasterKey, rec.ID, pkcs8)
	if err != nil {
		return false, err
	}
	mac, err := keyMAC(r.cfg.MasterKey, rec)
	if err != nil {
		return false, err
	}
	err = r.cfg.Store.ResealSigningKey(ctx, rec.ID, rec.SealedPrivateKey, sealed, mac)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	n.Resealed++
	return true, nil
}

// get reads the key id again.
func (r *Ring) get(ctx context.Context, id string) (store.SigningKey, error) {
	recs, err := r.cfg.Store.ListSigningKeys(ctx)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("list signing keys: %w", err)
	}
	for _, rec := range recs {
		if rec.ID == id {
			return rec, nil
		}
	}
	return store.SigningKey{}, fmt.Errorf("signing key %s: %w", id, store.ErrNotFound)
}
