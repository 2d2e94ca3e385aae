package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
)

// A login is a flow of steps: the password, then, when the account has a
// second factor on, one more step answered with login_second_factor. The
// state between them is a challenge stored in the database: it lives
// challengeLifetime, is used once, allows challengeAttempts answers, and
// is bound to the connection it was issued on.

const (
	challengeLifetime = 5 * time.Minute
	challengeAttempts = 5
	// challengeBytes is the random part of a challenge; its base64url
	// form is what the client holds.
	challengeBytes = 32
)

var errChallengeDead = NewError(protocol.CodeChallengeExpired, "the login has expired or was already completed; log in again")

// loginStep is a kind of step that completes a login after its
// password. A passkey would be one more.
type loginStep interface {
	// method is the name second_factor_required lists the step by.
	method() string
	// amr is the RFC 8176 method reference the step adds to the token.
	amr() string
	// answer is the request's answer for this step, "" if none.
	answer(req protocol.LoginSecondFactorRequest) string
	// check verifies an answer for a and uses it up in the same
	// conditional write, so that it works once. sessionID is the
	// caller's session when the step re-authenticates one, else "".
	check(ctx context.Context, s *Service, a store.Account, sessionID, answer string) (bool, error)
}

// stepsFor returns the steps an account's login needs after the
// password: none, or the ways to answer its second factor.
func stepsFor(a store.Account) []loginStep {
	if !a.SecondFactor {
		return nil
	}
	return []loginStep{totpStep{}, recoveryCodeStep{}}
}

// amrOf is the amr of a session: "pwd" and then each further step's.
func amrOf(steps ...loginStep) []string {
	amr := []string{"pwd"}
	for _, st := range steps {
		amr = append(amr, st.amr())
	}
	return amr
}

// binding names the connection a challenge is issued on: a random id
// given to the connection at its first login ("" outside a connection).
func (c *Connection) binding() (string, error) {
	if c == nil {
		return "", nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.id == "" {
		id, err := randomID()
		if err != nil {
			return "", err
		}
		c.id = id
	}
	return c.id, nil
}

// challengeID is the stored form of a challenge: its SHA-256, so that
// the table alone does not let anyone answer one.
func challengeID(challenge string) string {
	h := sha256.Sum256([]byte(challenge))
	return hex.EncodeToString(h[:])
}

// challenge answers a login whose password checked out with the next
// step: a new challenge for a, bound to the request's connection.
func (s *Service) challenge(ctx context.Context, a store.Account, d store.Device, req protocol.LoginRequest, steps []loginStep) (*protocol.LoginResult, error) {
	b := make([]byte, challengeBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	challenge := base64.RawURLEncoding.EncodeToString(b)
	binding, err := ConnectionFrom(ctx).binding()
	if err != nil {
		return nil, err
	}
	now := s.stamp()
	c := store.LoginChallenge{
		ID: challengeID(challenge), AccountID: a.ID, Binding: binding, Client: req.Client,
		IP: clientIPFrom(ctx), CreatedAt: now, ExpiresAt: now.Add(challengeLifetime), DeviceID: d.ID,
	}
	if err := s.store.CreateLoginChallenge(ctx, c); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrInvalidCredentials // deleted meanwhile
		}
		return nil, fmt.Errorf("create login challenge: %w", err)
	}
	methods := make([]string, len(steps))
	for i, st := range steps {
		methods[i] = st.method()
	}
	return &protocol.LoginResult{SecondFactorRequired: &protocol.SecondFactorChallenge{
		Challenge: challenge, Methods: methods, ExpiresAt: c.ExpiresAt,
	}}, nil
}

// LoginSecondFactor completes a login that answered
// second_factor_required. The challenge must be live, unused, below its
// attempts and from this connection; the account must not be locked,
// throttled or disabled; then the answer is checked and, if wrong,
// counted exactly like a wrong password (against the login's device when
// it presented a valid device token). Each
// answer checked is first claimed on the challenge in one conditional
// update, so that parallel answers are never checked more than
// challengeAttempts times.
func (s *Service) LoginSecondFactor(ctx context.Context, req protocol.LoginSecondFactorRequest) (*protocol.TokenResult, error) {
	if len(req.Challenge) > 2*challengeBytes {
		return nil, s.deadChallenge(ctx, "")
	}
	c, err := s.store.GetLoginChallenge(ctx, challengeID(req.Challenge))
	if errors.Is(err, store.ErrNotFound) {
		return nil, s.deadChallenge(ctx, "")
	}
	if err != nil {
		return nil, fmt.Errorf("get login challenge: %w", err)
	}
	binding, err := ConnectionFrom(ctx).binding()
	if err != nil {
		return nil, err
	}
	now := s.now()
	if subtle.ConstantTimeCompare([]byte(binding), []byte(c.Binding)) != 1 ||
		c.Used() || !now.Before(c.ExpiresAt) || c.Attempts >= challengeAttempts {
		return nil, s.deadChallenge(ctx, c.AccountID)
	}
	a, err := s.store.GetAccount(ctx, c.AccountID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, s.deadChallenge(ctx, "")
	}
	if err != nil {
		return nil, fmt.Errorf("get account: %w", err)
	}
	var step loginStep
	for _, st := range stepsFor(a) {
		if st.answer(req) != "" {
			step = st
		}
	}
	if step == nil {
		// The factor went off meanwhile: log in again.
		return nil, s.deadChallenge(ctx, a.ID)
	}
	// The device was proved at the password step.
	d, err := s.lookupDevice(ctx, deviceClaim{id: c.DeviceID, bySession: true})
	if err != nil {
		return nil, err
	}
	d = deviceOf(d, a)
	// One answer at a time per counter on this instance, as for
	// passwords: a burst of answers on several challenges, sent the
	// moment a throttle wait ends, gets one code checked, not many.
	r, release := s.admit(a, d, now)
	defer release()
	if r == "" {
		// An answer that finished before the admission moved the
		// counter: read it again.
		if a, d, err = s.rereadCounters(ctx, a, c.DeviceID); err != nil {
			return nil, err
		}
		r = s.refusal(a, d, now)
	}
	if r != "" {
		s.audit(ctx, store.AuthEvent{Type: store.EventLoginFailed, Reason: r, AccountID: a.ID})
		return nil, errWrongCode
	}
	claimed, err := s.store.ClaimChallengeAttempt(ctx, c.ID, s.stamp(), challengeAttempts)
	if err != nil {
		return nil, fmt.Errorf("claim challenge attempt: %w", err)
	}
	if !claimed {
		return nil, s.deadChallenge(ctx, a.ID)
	}
	ok, err := step.check(ctx, s, a, "", step.answer(req))
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := s.countFailure(ctx, a, d, "", store.ReasonWrongCode); err != nil {
			return nil, err
		}
		return nil, errWrongCode
	}
	tok, err := s.openSession(ctx, a, d, c.Client, amrOf(step), c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, s.deadChallenge(ctx, a.ID) // completed in parallel
	}
	return tok, err
}

// rereadCounters reads the account and its device deviceID again, for
// their failure counters as they are now.
func (s *Service) rereadCounters(ctx context.Context, a store.Account, deviceID string) (store.Account, store.Device, error) {
	fresh, err := s.store.GetAccount(ctx, a.ID)
	if err != nil {
		return a, store.Device{}, fmt.Errorf("get account: %w", err)
	}
	d, err := s.lookupDevice(ctx, deviceClaim{id: deviceID, bySession: true})
	if err != nil {
		return fresh, store.Device{}, err
	}
	return fresh, deviceOf(d, fresh), nil
}

// deadChallenge audits an answer to a challenge that cannot be answered
// and returns its error.
func (s *Service) deadChallenge(ctx context.Context, accountID string) error {
	s.audit(ctx, store.AuthEvent{Type: store.EventLoginFailed, Reason: store.ReasonChallengeDead, AccountID: accountID})
	return errChallengeDead
}
