package server

import (
	"context"
	"errors"
	"time"

	"github.com/accountd/accountd/store"
)

// guardedStore bounds every store call by a timeout, so that a database
// that stops answering turns into a quick `unavailable` rather than a
// request that hangs, and runs idempotent reads again when they fail on a
// broken connection (a database restart, a failover, a connection killed
// by a proxy). Writes are never repeated here: a write whose answer was
// lost may have been applied.
//
// Methods of store.Store it does not list pass through unguarded.
type guardedStore struct {
	store.Store
	timeout time.Duration
	metrics *Metrics
}

// readAttempts is how often an idempotent read is tried in all; the pauses
// between attempts grow from readRetryPause.
const (
	readAttempts   = 3
	readRetryPause = 50 * time.Millisecond
)

func guardStore(s store.Store, timeout time.Duration, m *Metrics) *guardedStore {
	return &guardedStore{Store: s, timeout: timeout, metrics: m}
}

// read runs f within the timeout, again after a short pause when it fails
// with store.ErrUnavailable, until readAttempts or the deadline.
func read[T any](ctx context.Context, g *guardedStore, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	pause := readRetryPause
	for attempt := 1; ; attempt++ {
		v, err := f(ctx)
		if err == nil || !errors.Is(err, store.ErrUnavailable) || attempt == readAttempts {
			return v, err
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return v, err
		}
		g.metrics.readRetried()
		pause *= 2
	}
}

// write runs f within the timeout, once.
func write(ctx context.Context, g *guardedStore, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	return f(ctx)
}

func (g *guardedStore) GetAccount(ctx context.Context, id string) (store.Account, error) {
	return read(ctx, g, func(ctx context.Context) (store.Account, error) { return g.Store.GetAccount(ctx, id) })
}

func (g *guardedStore) GetAccountByUsername(ctx context.Context, username string) (store.Account, error) {
	return read(ctx, g, func(ctx context.Context) (store.Account, error) {
		return g.Store.GetAccountByUsername(ctx, username)
	})
}

func (g *guardedStore) ListAccounts(ctx context.Context) ([]store.Account, error) {
	return read(ctx, g, g.Store.ListAccounts)
}

func (g *guardedStore) GetSession(ctx context.Context, id string) (store.Session, error) {
	return read(ctx, g, func(ctx context.Context) (store.Session, error) { return g.Store.GetSession(ctx, id) })
}

func (g *guardedStore) GetSessionAccount(ctx context.Context, id string) (store.Session, store.Account, error) {
	type pair struct {
		s store.Session
		a store.Account
	}
	p, err := read(ctx, g, func(ctx context.Context) (pair, error) {
		s, a, err := g.Store.GetSessionAccount(ctx, id)
		return pair{s, a}, err
	})
	return p.s, p.a, err
}

func (g *guardedStore) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return read(ctx, g, g.Store.ListSigningKeys)
}

func (g *guardedStore) Ping(ctx context.Context) error {
	_, err := read(ctx, g, func(ctx context.Context) (struct{}, error) { return struct{}{}, g.Store.Ping(ctx) })
	return err
}

func (g *guardedStore) CreateAccount(ctx context.Context, a store.Account) error {
	return write(ctx, g, func(ctx context.Context) error { return g.Store.CreateAccount(ctx, a) })
}

func (g *guardedStore) UpdatePasswordHash(ctx context.Context, id, hash string, at time.Time) error {
	return write(ctx, g, func(ctx context.Context) error { return g.Store.UpdatePasswordHash(ctx, id, hash, at) })
}

func (g *guardedStore) SetAccountDisabled(ctx context.Context, id string, disabled bool, at time.Time) error {
	return write(ctx, g, func(ctx context.Context) error { return g.Store.SetAccountDisabled(ctx, id, disabled, at) })
}

func (g *guardedStore) DeleteAccount(ctx context.Context, id string) error {
	return write(ctx, g, func(ctx context.Context) error { return g.Store.DeleteAccount(ctx, id) })
}

func (g *guardedStore) RecordLoginFailure(ctx context.Context, e store.AuthEvent) (store.LoginFailures, error) {
	var f store.LoginFailures
	err := write(ctx, g, func(ctx context.Context) error {
		var err error
		f, err = g.Store.RecordLoginFailure(ctx, e)
		return err
	})
	return f, err
}

func (g *guardedStore) ResetLoginFailures(ctx context.Context, accountID string) error {
	return write(ctx, g, func(ctx context.Context) error { return g.Store.ResetLoginFailures(ctx, accountID) })
}

func (g *guardedStore) CreateSession(ctx context.Context, s store.Session) error {
	return write(ctx, g, func(ctx context.Context) error { return g.Store.CreateSession(ctx, s) })
}

func (g *guardedStore) RevokeSession(ctx context.Context, id string, at time.Time) error {
	return write(ctx, g, func(ctx context.Context) error { return g.Store.RevokeSession(ctx, id, at) })
}

func (g *guardedStore) RevokeAccountSessions(ctx context.Context, accountID string, at time.Time) (int, error) {
	var n int
	err := write(ctx, g, func(ctx context.Context) (err error) {
		n, err = g.Store.RevokeAccountSessions(ctx, accountID, at)
		return err
	})
	return n, err
}

func (g *guardedStore) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	return write(ctx, g, func(ctx context.Context) error { return g.Store.CreateSigningKey(ctx, k) })
}

func (g *guardedStore) RotateSigningKey(ctx context.Context, k store.SigningKey, retireAt, expiresAt time.Time) error {
	return write(ctx, g, func(ctx context.Context) error { return g.Store.RotateSigningKey(ctx, k, retireAt, expiresAt) })
}
