package account

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
// It lists every method of store.Store rather than embedding it, so that a
// new store method does not compile until it is guarded.
type guardedStore struct {
	s       store.Store
	timeout time.Duration
	// retried is called before a read is tried again.
	retried func()
	// ended is told the account of every write that revokes sessions or
	// changes what a token check returns, once it returns (whatever
	// its outcome), so that this instance's session view refuses them
	// at once. A new store method that ends sessions must call it.
	ended func(accountID string)
}

// changed calls ended, when set.
func (g *guardedStore) changed(accountID string) {
	if g.ended != nil {
		g.ended(accountID)
	}
}

var _ store.Store = (*guardedStore)(nil)

// readAttempts is how often an idempotent read is tried in all; the pauses
// between attempts grow from readRetryPause.
const (
	readAttempts   = 3
	readRetryPause = 50 * time.Millisecond
)

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
		if g.retried != nil {
			g.retried()
		}
		pause *= 2
	}
}

// write runs f within the timeout, once.
func write[T any](ctx context.Context, g *guardedStore, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	return f(ctx)
}

// write0 is write for methods that return only an error.
func write0(ctx context.Context, g *guardedStore, f func(context.Context) error) error {
	_, err := write(ctx, g, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

func (g *guardedStore) CreateAccount(ctx context.Context, a store.Account, e store.AuthEvent) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.CreateAccount(ctx, a, e) })
}

func (g *guardedStore) GetAccount(ctx context.Context, id string) (store.Account, error) {
	return read(ctx, g, func(ctx context.Context) (store.Account, error) { return g.s.GetAccount(ctx, id) })
}

func (g *guardedStore) GetAccountByUsername(ctx context.Context, username string) (store.Account, error) {
	return read(ctx, g, func(ctx context.Context) (store.Account, error) { return g.s.GetAccountByUsername(ctx, username) })
}

func (g *guardedStore) ListAccounts(ctx context.Context) ([]store.Account, error) {
	return read(ctx, g, g.s.ListAccounts)
}

func (g *guardedStore) CountHashParams(ctx context.Context) (map[string]int64, error) {
	return read(ctx, g, g.s.CountHashParams)
}

func (g *guardedStore) UpdatePasswordHash(ctx context.Context, id, hash string, at time.Time) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.UpdatePasswordHash(ctx, id, hash, at) })
}

func (g *guardedStore) ChangePassword(ctx context.Context, id, hash string, endOthers bool, keep string, e store.AuthEvent) (int, error) {
	defer g.changed(id)
	return write(ctx, g, func(ctx context.Context) (int, error) { return g.s.ChangePassword(ctx, id, hash, endOthers, keep, e) })
}

func (g *guardedStore) SetPendingEmail(ctx context.Context, id, pendingEmail string, e store.AuthEvent) error {
	defer g.changed(id)
	return write0(ctx, g, func(ctx context.Context) error { return g.s.SetPendingEmail(ctx, id, pendingEmail, e) })
}

func (g *guardedStore) SetAccountDisabled(ctx context.Context, id string, disabled bool, e store.AuthEvent) (int, error) {
	defer g.changed(id)
	return write(ctx, g, func(ctx context.Context) (int, error) { return g.s.SetAccountDisabled(ctx, id, disabled, e) })
}

func (g *guardedStore) DeleteAccount(ctx context.Context, id string, e store.AuthEvent) (int, error) {
	defer g.changed(id)
	return write(ctx, g, func(ctx context.Context) (int, error) { return g.s.DeleteAccount(ctx, id, e) })
}

func (g *guardedStore) RecordLoginFailure(ctx context.Context, e store.AuthEvent) (store.LoginFailures, error) {
	return write(ctx, g, func(ctx context.Context) (store.LoginFailures, error) { return g.s.RecordLoginFailure(ctx, e) })
}

func (g *guardedStore) ResetLoginFailures(ctx context.Context, accountID string, e store.AuthEvent) (int, error) {
	return write(ctx, g, func(ctx context.Context) (int, error) { return g.s.ResetLoginFailures(ctx, accountID, e) })
}

func (g *guardedStore) CreateSession(ctx context.Context, s store.Session, e store.AuthEvent) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.CreateSession(ctx, s, e) })
}

func (g *guardedStore) GetSession(ctx context.Context, id string) (store.Session, error) {
	return read(ctx, g, func(ctx context.Context) (store.Session, error) { return g.s.GetSession(ctx, id) })
}

func (g *guardedStore) GetSessionAccount(ctx context.Context, id string) (store.Session, store.Account, error) {
	type pair struct {
		s store.Session
		a store.Account
	}
	p, err := read(ctx, g, func(ctx context.Context) (pair, error) {
		s, a, err := g.s.GetSessionAccount(ctx, id)
		return pair{s, a}, err
	})
	return p.s, p.a, err
}

func (g *guardedStore) ListSessions(ctx context.Context, accountID string, t time.Time) ([]store.Session, error) {
	return read(ctx, g, func(ctx context.Context) ([]store.Session, error) { return g.s.ListSessions(ctx, accountID, t) })
}

func (g *guardedStore) TouchSession(ctx context.Context, id string, at time.Time) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.TouchSession(ctx, id, at) })
}

func (g *guardedStore) RevokeSession(ctx context.Context, accountID, id string, e store.AuthEvent) error {
	defer g.changed(accountID)
	return write0(ctx, g, func(ctx context.Context) error { return g.s.RevokeSession(ctx, accountID, id, e) })
}

func (g *guardedStore) RevokeAccountSessions(ctx context.Context, accountID, keep string, e store.AuthEvent) (int, error) {
	defer g.changed(accountID)
	return write(ctx, g, func(ctx context.Context) (int, error) { return g.s.RevokeAccountSessions(ctx, accountID, keep, e) })
}

// PruneSessions is bounded by the caller's deadline only, like
// PruneAuthEvents.
func (g *guardedStore) PruneSessions(ctx context.Context, before time.Time) (int64, error) {
	return g.s.PruneSessions(ctx, before)
}

func (g *guardedStore) ListRevocations(ctx context.Context, after int64, limit int) ([]store.Revocation, error) {
	return read(ctx, g, func(ctx context.Context) ([]store.Revocation, error) { return g.s.ListRevocations(ctx, after, limit) })
}

// PruneRevocations is bounded by the caller's deadline only, like
// PruneSessions.
func (g *guardedStore) PruneRevocations(ctx context.Context, before time.Time) (int64, error) {
	return g.s.PruneRevocations(ctx, before)
}

func (g *guardedStore) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.CreateSigningKey(ctx, k) })
}

func (g *guardedStore) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return read(ctx, g, g.s.ListSigningKeys)
}

func (g *guardedStore) SetSigningKeyMAC(ctx context.Context, id string, mac []byte) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.SetSigningKeyMAC(ctx, id, mac) })
}

func (g *guardedStore) ResealSigningKey(ctx context.Context, id string, old, sealed, mac []byte) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.ResealSigningKey(ctx, id, old, sealed, mac) })
}

func (g *guardedStore) ListSealedSecrets(ctx context.Context, after string, limit int) ([]store.SecondFactor, error) {
	return read(ctx, g, func(ctx context.Context) ([]store.SecondFactor, error) {
		return g.s.ListSealedSecrets(ctx, after, limit)
	})
}

func (g *guardedStore) ResealSecondFactor(ctx context.Context, accountID string, old, sealed []byte) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.ResealSecondFactor(ctx, accountID, old, sealed) })
}

func (g *guardedStore) RotateSigningKey(ctx context.Context, k store.SigningKey, retireAt, expiresAt time.Time) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.RotateSigningKey(ctx, k, retireAt, expiresAt) })
}

func (g *guardedStore) AddAuthEvent(ctx context.Context, e store.AuthEvent) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.AddAuthEvent(ctx, e) })
}

func (g *guardedStore) ListAuthEvents(ctx context.Context, f store.AuthEventFilter) ([]store.AuthEvent, error) {
	return read(ctx, g, func(ctx context.Context) ([]store.AuthEvent, error) { return g.s.ListAuthEvents(ctx, f) })
}

// PruneAuthEvents is bounded by the caller's deadline only (the pruner
// gives it a minute): deleting a day of a busy log takes longer than one
// request's database call may.
func (g *guardedStore) PruneAuthEvents(ctx context.Context, before time.Time) (int64, error) {
	return g.s.PruneAuthEvents(ctx, before)
}

func (g *guardedStore) CreateServiceKey(ctx context.Context, k store.ServiceKey, e store.AuthEvent) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.CreateServiceKey(ctx, k, e) })
}

func (g *guardedStore) GetServiceKey(ctx context.Context, id string) (store.ServiceKey, error) {
	return read(ctx, g, func(ctx context.Context) (store.ServiceKey, error) { return g.s.GetServiceKey(ctx, id) })
}

func (g *guardedStore) ListServiceKeys(ctx context.Context) ([]store.ServiceKey, error) {
	return read(ctx, g, g.s.ListServiceKeys)
}

func (g *guardedStore) DeleteServiceKey(ctx context.Context, name string, e store.AuthEvent) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.DeleteServiceKey(ctx, name, e) })
}

func (g *guardedStore) GetAccountByEmail(ctx context.Context, email string) (store.Account, error) {
	return read(ctx, g, func(ctx context.Context) (store.Account, error) { return g.s.GetAccountByEmail(ctx, email) })
}

func (g *guardedStore) PutEmailCode(ctx context.Context, c store.EmailCode, replaces []byte) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.PutEmailCode(ctx, c, replaces) })
}

func (g *guardedStore) GetEmailCode(ctx context.Context, accountID, purpose string) (store.EmailCode, error) {
	return read(ctx, g, func(ctx context.Context) (store.EmailCode, error) { return g.s.GetEmailCode(ctx, accountID, purpose) })
}

func (g *guardedStore) CountEmailCodeAttempt(ctx context.Context, accountID, purpose string) (store.EmailCode, error) {
	return write(ctx, g, func(ctx context.Context) (store.EmailCode, error) {
		return g.s.CountEmailCodeAttempt(ctx, accountID, purpose)
	})
}

func (g *guardedStore) VerifyEmail(ctx context.Context, accountID, email string, hash []byte, e store.AuthEvent) error {
	defer g.changed(accountID)
	return write0(ctx, g, func(ctx context.Context) error { return g.s.VerifyEmail(ctx, accountID, email, hash, e) })
}

func (g *guardedStore) ResetPassword(ctx context.Context, accountID string, codeHash []byte, passwordHash string, e store.AuthEvent) (int, error) {
	defer g.changed(accountID)
	return write(ctx, g, func(ctx context.Context) (int, error) {
		return g.s.ResetPassword(ctx, accountID, codeHash, passwordHash, e)
	})
}

func (g *guardedStore) EnqueueMail(ctx context.Context, m store.QueuedMail) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.EnqueueMail(ctx, m) })
}

func (g *guardedStore) ClaimMail(ctx context.Context, now, until time.Time, limit int) ([]store.QueuedMail, error) {
	return write(ctx, g, func(ctx context.Context) ([]store.QueuedMail, error) { return g.s.ClaimMail(ctx, now, until, limit) })
}

func (g *guardedStore) RetryMail(ctx context.Context, id string, attempts int, next time.Time) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.RetryMail(ctx, id, attempts, next) })
}

func (g *guardedStore) DeleteMail(ctx context.Context, id string) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.DeleteMail(ctx, id) })
}

func (g *guardedStore) Ping(ctx context.Context) error {
	_, err := read(ctx, g, func(ctx context.Context) (struct{}, error) { return struct{}{}, g.s.Ping(ctx) })
	return err
}

// Close closes nothing: the store belongs to the caller of New.
func (g *guardedStore) Close() error { return nil }

func (g *guardedStore) BeginSecondFactor(ctx context.Context, f store.SecondFactor, e store.AuthEvent) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.BeginSecondFactor(ctx, f, e) })
}

func (g *guardedStore) GetSecondFactor(ctx context.Context, accountID string) (store.SecondFactor, error) {
	return read(ctx, g, func(ctx context.Context) (store.SecondFactor, error) { return g.s.GetSecondFactor(ctx, accountID) })
}

func (g *guardedStore) EnableSecondFactor(ctx context.Context, accountID string, sealed []byte, step int64, codeHashes [][]byte, e store.AuthEvent) error {
	defer g.changed(accountID)
	return write0(ctx, g, func(ctx context.Context) error {
		return g.s.EnableSecondFactor(ctx, accountID, sealed, step, codeHashes, e)
	})
}

func (g *guardedStore) DisableSecondFactor(ctx context.Context, accountID string, endSessions bool, keep string, e store.AuthEvent) (int, error) {
	defer g.changed(accountID)
	return write(ctx, g, func(ctx context.Context) (int, error) {
		return g.s.DisableSecondFactor(ctx, accountID, endSessions, keep, e)
	})
}

func (g *guardedStore) UseTOTPStep(ctx context.Context, accountID string, step int64) (bool, error) {
	return write(ctx, g, func(ctx context.Context) (bool, error) { return g.s.UseTOTPStep(ctx, accountID, step) })
}

func (g *guardedStore) UseRecoveryCode(ctx context.Context, accountID string, codeHash []byte, e store.AuthEvent) (bool, error) {
	return write(ctx, g, func(ctx context.Context) (bool, error) { return g.s.UseRecoveryCode(ctx, accountID, codeHash, e) })
}

func (g *guardedStore) ReplaceRecoveryCodes(ctx context.Context, accountID string, codeHashes [][]byte, e store.AuthEvent) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.ReplaceRecoveryCodes(ctx, accountID, codeHashes, e) })
}

func (g *guardedStore) CreateLoginChallenge(ctx context.Context, c store.LoginChallenge) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.CreateLoginChallenge(ctx, c) })
}

func (g *guardedStore) GetLoginChallenge(ctx context.Context, id string) (store.LoginChallenge, error) {
	return read(ctx, g, func(ctx context.Context) (store.LoginChallenge, error) { return g.s.GetLoginChallenge(ctx, id) })
}

func (g *guardedStore) ClaimChallengeAttempt(ctx context.Context, id string, now time.Time, maxAttempts int) (bool, error) {
	return write(ctx, g, func(ctx context.Context) (bool, error) { return g.s.ClaimChallengeAttempt(ctx, id, now, maxAttempts) })
}

func (g *guardedStore) CompleteLoginChallenge(ctx context.Context, id string, s store.Session, e store.AuthEvent) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.CompleteLoginChallenge(ctx, id, s, e) })
}

func (g *guardedStore) GetDevice(ctx context.Context, id string) (store.Device, error) {
	return read(ctx, g, func(ctx context.Context) (store.Device, error) { return g.s.GetDevice(ctx, id) })
}

func (g *guardedStore) PutDevice(ctx context.Context, d store.Device, keep int) error {
	return write0(ctx, g, func(ctx context.Context) error { return g.s.PutDevice(ctx, d, keep) })
}

func (g *guardedStore) RecordDeviceFailure(ctx context.Context, id string, e store.AuthEvent) (store.LoginFailures, error) {
	return write(ctx, g, func(ctx context.Context) (store.LoginFailures, error) { return g.s.RecordDeviceFailure(ctx, id, e) })
}
