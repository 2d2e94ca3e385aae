package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/accountd/accountd/store"
)

// RotateSigningKey writes the next signing key now, as
// Service.RotateSigningKeys does, without starting a service: it is what
// `accountd keys rotate` runs beside the servers. cfg needs what the
// servers' key rings use: Store, MasterKey, Identity, SigningAlgorithm,
// TokenLifetime and the rotation settings (KeyPublishLead, JWKSMaxAge).
//
// The key is published by every server at its next reload of the keys and
// signs after KeyPublishLead; with immediate it signs at once. Either way
// the keys before it stop signing when it starts, and stay published until
// the last token they signed has expired. It returns the newest key and
// false when another instance rotated at the same moment (the newest key
// is then that instance's).
func RotateSigningKey(ctx context.Context, cfg Config, immediate bool) (store.SigningKey, bool, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return store.SigningKey{}, false, err
	}
	r := &keyRing{store: cfg.Store, masterKey: cfg.MasterKey, algorithm: cfg.SigningAlgorithm, now: cfg.Now,
		rotation: cfg.rotationPolicy(), metrics: newMetrics()}
	won, err := r.rotate(ctx, immediate, nil)
	if err != nil {
		return store.SigningKey{}, false, fmt.Errorf("server: rotate: %w", err)
	}
	n := r.newest()
	if n == nil {
		return store.SigningKey{}, false, errors.New("server: rotate: no key after rotating")
	}
	return n.rec, won, nil
}
