package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
)

// Login checks a username and password and opens a session. An unknown
// username, a wrong password, a disabled account and a throttled or
// locked account all do the same work (one Argon2 verification and one
// database write) and give the same error; the audit log records which it
// was.
//
// Failed logins are counted in the store, so the count holds across
// server instances: past ThrottleAfter failures each attempt must wait a
// growing delay, and at LockAfter the counter is locked until an
// administrator unlocks it (UnlockAccount). A login with a valid device
// token (devices.go) is counted on its device's counter; any other on the
// account's, which therefore never refuses the owner's devices.
//
// When the account has a second factor on, a good password does not open
// a session: the answer is second_factor_required with a challenge that
// LoginSecondFactor completes.
func (s *Service) Login(ctx context.Context, req protocol.LoginRequest) (*protocol.LoginResult, error) {
	if err := protocol.CheckClient(req.Client); err != nil {
		return nil, NewError(protocol.CodeBadRequest, err.Error())
	}
	if err := checkDeviceToken(req.DeviceToken); err != nil {
		return nil, err
	}
	if req.Password == "" || len(req.Password) > 4*MaxPasswordLength {
		s.audit(ctx, store.AuthEvent{Type: store.EventLoginFailed, Reason: store.ReasonWrongPassword})
		return nil, ErrInvalidCredentials
	}
	at, err := s.beginAttempt(ctx, req.Username, parseDeviceToken(req.DeviceToken))
	if err != nil {
		return nil, err
	}
	defer at.release()
	ok, rehash, unreadable, err := s.verifyPassword(ctx, req.Password, at.hash)
	if err != nil {
		return nil, err
	}
	if at.refused != "" {
		// Unknown, locked, throttled or disabled: the password was not
		// checked and the account's counter does not move.
		s.audit(ctx, store.AuthEvent{Type: store.EventLoginFailed, Reason: at.refused, AccountID: at.account.ID})
		return nil, ErrInvalidCredentials
	}
	if !ok {
		return nil, s.recordFailure(ctx, at.account, at.device, "", unreadable)
	}
	if rehash {
		s.upgradeHash(ctx, at.account.ID, req.Password)
	}
	if s.settings().RequireVerifiedEmail && at.account.Email == "" {
		return nil, s.refuseUnverified(ctx, at.account)
	}
	if steps := stepsFor(at.account); len(steps) > 0 {
		return s.challenge(ctx, at.account, at.device, req, steps)
	}
	tok, err := s.openSession(ctx, at.account, at.device, req.Client, amrOf(), "")
	if err != nil {
		return nil, err
	}
	return &protocol.LoginResult{TokenResult: tok}, nil
}

// refuseUnverified answers the right password of an account without a
// verified email, where one is required: it mails a code to the pending
// address (within the per-account limit) so the owner can verify it with
// verify_email {login, code}.
func (s *Service) refuseUnverified(ctx context.Context, a store.Account) error {
	s.audit(ctx, store.AuthEvent{Type: store.EventLoginFailed, Reason: store.ReasonEmailUnverified, AccountID: a.ID})
	if a.PendingEmail == "" {
		return NewError(protocol.CodeEmailUnverified, "this server requires a verified email, and the account has none: ask an administrator")
	}
	if wait, err := s.codeLimitWait(ctx, a.ID, store.PurposeVerify); err == nil && wait == 0 {
		s.mailAddressCheck(ctx, a, a.PendingEmail)
	}
	return NewError(protocol.CodeEmailUnverified, "verify your email first: a code was mailed to it")
}

// attempt is one login attempt after admission: the account (zero when
// unknown), the account's device it comes from (zero when none), the hash
// to verify the password against (the dummy unless the password is to be
// checked), and the reason it is refused whatever the password, or "".
type attempt struct {
	account store.Account
	device  store.Device
	hash    string
	refused string
	release func()
}

// beginAttempt finds the account and the claimed device, and decides
// whether the password may be checked. release is never nil.
func (s *Service) beginAttempt(ctx context.Context, username string, claim deviceClaim) (attempt, error) {
	at := attempt{hash: s.dummies.forUnknown(username), refused: store.ReasonUnknownUser, release: func() {}}
	d, err := s.lookupDevice(ctx, claim)
	if err != nil {
		return at, err
	}
	a, err := s.store.GetAccountByUsername(ctx, strings.ToLower(username))
	if errors.Is(err, store.ErrNotFound) {
		return at, nil
	}
	if err != nil {
		return at, fmt.Errorf("get account: %w", err)
	}
	now := s.stamp()
	at.account = a
	at.device = deviceOf(d, a)
	at.hash = dummyLike(a.PasswordHash, s.cfg.Argon2)
	if at.refused, at.release = s.admit(a, at.device, now); at.refused != "" {
		return at, nil
	}
	// An attempt that finished between the reads above and the admission
	// has moved the counter: read it again, now that this is the
	// account's (or device's) only attempt on this instance.
	fresh, err := s.store.GetAccount(ctx, a.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		at.refused = store.ReasonUnknownUser
		return at, nil
	case err != nil:
		at.release()
		return attempt{release: func() {}}, fmt.Errorf("get account: %w", err)
	}
	at.account = fresh
	if at.device.ID != "" {
		d, err := s.lookupDevice(ctx, deviceClaim{id: at.device.ID, bySession: true})
		if err != nil {
			at.release()
			return attempt{release: func() {}}, err
		}
		at.device = deviceOf(d, fresh)
	}
	if at.refused = s.refusal(fresh, at.device, now); at.refused == "" {
		at.hash = fresh.PasswordHash
	}
	return at, nil
}

// recordFailure counts a wrong password (or an unreadable stored hash)
// against device d of the account or, when d is zero, against the
// account, with its audit event in the same transaction, and audits the
// lock when this failure reached LockAfter. sessionID is the session of a
// re-authentication, "" for a login.
func (s *Service) recordFailure(ctx context.Context, a store.Account, d store.Device, sessionID string, unreadable bool) error {
	reason := store.ReasonWrongPassword
	if unreadable {
		s.log.Error("stored password hash unreadable", "account", a.ID)
		reason = store.ReasonBadHash
	}
	if err := s.countFailure(ctx, a, d, sessionID, reason); err != nil {
		return err
	}
	return ErrInvalidCredentials
}

// countFailure counts a failed credential (reason says which) against
// device d of the account or, when d is zero, against the account, with
// its audit event in the same transaction, and audits the lock when this
// failure reached LockAfter. A device pruned meanwhile counts against the
// account.
func (s *Service) countFailure(ctx context.Context, a store.Account, d store.Device, sessionID, reason string) error {
	e := store.AuthEvent{Type: store.EventLoginFailed, Reason: reason, AccountID: a.ID, SessionID: sessionID}
	if d.ID != "" {
		f, err := s.store.RecordDeviceFailure(ctx, d.ID, s.event(ctx, e))
		if err == nil {
			if f.Count == s.settings().LockAfter {
				s.audit(ctx, store.AuthEvent{Type: store.EventLocked, Reason: store.ReasonDevice, AccountID: a.ID, SessionID: sessionID})
			}
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("record device failure: %w", err)
		}
	}
	f, err := s.store.RecordLoginFailure(ctx, s.event(ctx, e))
	if err != nil {
		return fmt.Errorf("record login failure: %w", err)
	}
	if f.Count == s.settings().LockAfter {
		s.audit(ctx, store.AuthEvent{Type: store.EventLocked, AccountID: a.ID})
	}
	return nil
}

// openSession finishes a login whose steps all checked out: it opens a
// session authenticated by amr, which clears the account's failure
// counter (unconditionally: another instance may have counted a failure
// since the account was read) and writes the login's audit row in one
// transaction, then gives the client a device token: for d, the device
// the login presented, or for a new device. challenge is the stored id
// of the challenge the last step answered, used up in the same
// transaction, or "" for a password-only login; store.ErrNotFound when
// it was used meanwhile.
func (s *Service) openSession(ctx context.Context, a store.Account, d store.Device, client string, amr []string, challenge string) (*protocol.TokenResult, error) {
	sid, err := randomID()
	if err != nil {
		return nil, err
	}
	deviceID := d.ID
	if deviceID == "" {
		if deviceID, err = newDeviceID(); err != nil {
			return nil, err
		}
	}
	reason := ""
	if len(amr) > 1 {
		reason = strings.Join(amr, "+")
	}
	e := s.event(ctx, store.AuthEvent{Type: store.EventLogin, Reason: reason, AccountID: a.ID, SessionID: sid})
	sess := store.Session{
		ID: sid, AccountID: a.ID, CreatedAt: e.At, ExpiresAt: e.At.Add(s.settings().SessionLifetime),
		LastUsedAt: e.At, Client: client, IP: e.IP, AMR: amr, DeviceID: deviceID,
	}
	if challenge != "" {
		err = s.store.CompleteLoginChallenge(ctx, challenge, sess, e)
	} else {
		err = s.store.CreateSession(ctx, sess, e)
	}
	if errors.Is(err, store.ErrOutcomeUnknown) {
		err = s.settle(ctx, err, func(ctx context.Context) (bool, error) {
			got, err := s.store.GetSession(ctx, sess.ID)
			return err == nil && got.AccountID == a.ID, notFound(err)
		})
	}
	if errors.Is(err, store.ErrNotFound) && challenge != "" {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	tok, err := s.issue(a, sess)
	if err != nil {
		return nil, err
	}
	tok.DeviceToken = s.issueDevice(ctx, a, deviceID)
	return tok, nil
}

// upgradeHash re-hashes a password whose stored parameters are outdated;
// failure only means the upgrade waits for the next login.
func (s *Service) upgradeHash(ctx context.Context, id, password string) {
	h, err := s.hash(ctx, password)
	if err != nil {
		return
	}
	if err := s.store.UpdatePasswordHash(ctx, id, h, s.stamp()); err != nil {
		s.log.Warn("password hash upgrade failed", "account", id, "err", err)
	}
}

// admit decides whether a login for a known account, from its device d
// (zero when none), may check its password. It returns the reason from
// refusal when not. Otherwise it marks the account's counter (the
// device's, or the account's) as having an attempt in flight on this
// instance until release is called (after the failure, if any, is
// recorded): a concurrent attempt on the same counter is refused as
// throttled, so that a burst of parallel guesses at the moment a wait
// ends gets one guess, not many, and a stranger's guess in flight does
// not refuse a device. release is never nil.
func (s *Service) admit(a store.Account, d store.Device, now time.Time) (refused string, release func()) {
	if r := s.refusal(a, d, now); r != "" {
		return r, func() {}
	}
	key, throttled := a.ID, store.ReasonThrottled
	if d.ID != "" {
		key, throttled = "device:"+d.ID, store.ReasonDeviceThrottled
	}
	if !s.attempts.begin(key) {
		return throttled, func() {}
	}
	return "", func() { s.attempts.end(key) }
}

// refusal is the reason a login for a from its device d (zero when none)
// may not check its password at now, or "". With a device, only the
// device's counter is consulted: strangers' failures, on the account's
// counter, do not refuse it.
func (s *Service) refusal(a store.Account, d store.Device, now time.Time) string {
	f, cfg := a.Failures, s.settings()
	locked, throttled := store.ReasonLocked, store.ReasonThrottled
	if d.ID != "" {
		f, locked, throttled = d.Failures, store.ReasonDeviceLocked, store.ReasonDeviceThrottled
	}
	switch {
	case f.Count >= cfg.LockAfter:
		s.metrics.lockouts.Inc()
		return locked
	case now.Before(f.LastAt.Add(cfg.throttleDelay(f.Count))):
		// Not counted in accountd_rate_limited_total: a counter that moved
		// for real accounts only would tell who has one.
		return throttled
	case a.Disabled:
		return store.ReasonDisabled
	}
	return ""
}

// inFlight is the set of accounts with a login attempt in progress on this
// instance. Safe for concurrent use; its size is bounded by the number of
// requests in progress.
type inFlight struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

func (f *inFlight) begin(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, busy := f.ids[id]; busy {
		return false
	}
	if f.ids == nil {
		f.ids = make(map[string]struct{})
	}
	f.ids[id] = struct{}{}
	return true
}

func (f *inFlight) end(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ids, id)
}
