package account

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/internal/keyring"
	"github.com/accountd/accountd/store"
)

// The TOTP factor (RFC 6238) with the parameters every authenticator app
// understands: HMAC-SHA-1, 6 digits, 30 s steps.
const (
	totpPeriod = 30
	totpDigits = 6
	// totpSecretSize is 160 bits, the HMAC-SHA-1 block RFC 4226 asks for.
	totpSecretSize = 20
	// totpSkew is how many steps either side of now a code may be for,
	// for clocks that drift.
	totpSkew = 1
	// enrolmentLifetime bounds the time between totp_begin and
	// totp_confirm.
	enrolmentLifetime = 15 * time.Minute
)

var (
	// errWrongCode answers every refused second-factor code alike:
	// wrong, malformed, already used or refused unchecked (throttled).
	errWrongCode = NewError(protocol.CodeInvalidCredentials, "wrong code")
	// errWrongPasswordOrCode answers a factor change whose password or
	// code is wrong, without saying which.
	errWrongPasswordOrCode = NewError(protocol.CodeInvalidCredentials, "wrong password or code")
	errFactorOn            = NewError(protocol.CodeBadRequest, "two-factor authentication is already on; turn it off first")
	errFactorOff           = NewError(protocol.CodeBadRequest, "two-factor authentication is off")
	errNoEnrolment         = NewError(protocol.CodeBadRequest, "no two-factor enrolment in progress; begin again with totp_begin")
	errCodeRequired        = NewError(protocol.CodeBadRequest, "code is required: two-factor authentication is on")
)

func totpOpts() totp.ValidateOpts {
	return totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
}

// secretPurpose binds a sealed TOTP secret to its account's row.
func secretPurpose(accountID string) string { return "totp secret " + accountID }

// TOTPBegin starts an enrolment: after the password, a fresh secret is
// stored sealed as the account's pending factor and returned, with its
// otpauth:// URI. Nothing is in force until TOTPConfirm.
func (s *Service) TOTPBegin(ctx context.Context, req protocol.TOTPBeginRequest) (*protocol.TOTPBeginResult, error) {
	a, sess, err := s.verify(ctx, req.Token, protocol.OpTOTPBegin)
	if err != nil {
		return nil, err
	}
	if a.SecondFactor {
		return nil, errFactorOn
	}
	if err := s.reauthenticate(ctx, a, sess, req.Password); err != nil {
		return nil, err
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: s.settings().ServiceName, AccountName: a.Username, Period: totpPeriod,
		SecretSize: totpSecretSize, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: rand.Reader,
	})
	if err != nil {
		return nil, fmt.Errorf("generate totp secret: %w", err)
	}
	sealed, err := keyring.Seal(s.cfg.MasterKey, secretPurpose(a.ID), []byte(key.Secret()))
	if err != nil {
		return nil, fmt.Errorf("seal totp secret: %w", err)
	}
	err = s.store.BeginSecondFactor(ctx, store.SecondFactor{AccountID: a.ID, SealedSecret: sealed, CreatedAt: s.stamp()}, store.AuthEvent{})
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return nil, errFactorOn
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrInvalidToken
	case err != nil:
		return nil, fmt.Errorf("begin second factor: %w", err)
	}
	return &protocol.TOTPBeginResult{Secret: key.Secret(), URI: key.URL()}, nil
}

// TOTPConfirm turns the pending factor on once a code from it checks
// out, and returns the account's recovery codes, this once.
func (s *Service) TOTPConfirm(ctx context.Context, req protocol.TOTPConfirmRequest) (*protocol.RecoveryCodesResult, error) {
	a, sess, err := s.verify(ctx, req.Token, protocol.OpTOTPConfirm)
	if err != nil {
		return nil, err
	}
	f, err := s.store.GetSecondFactor(ctx, a.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errNoEnrolment
	case err != nil:
		return nil, fmt.Errorf("get second factor: %w", err)
	case f.Enabled:
		return nil, errFactorOn
	case !s.now().Before(f.CreatedAt.Add(enrolmentLifetime)):
		return nil, errNoEnrolment
	}
	secret, err := s.openSecret(a.ID, f.SealedSecret)
	if err != nil {
		return nil, fmt.Errorf("open totp secret: %w", err)
	}
	defer clear(secret)
	step, ok := matchTOTP(string(secret), req.Code, s.now())
	if !ok {
		// The code is for a secret the caller was just given: a wrong
		// one is a typo, audited but not counted.
		s.audit(ctx, store.AuthEvent{Type: store.EventLoginFailed, Reason: store.ReasonWrongCode, AccountID: a.ID, SessionID: sess.ID})
		return nil, errWrongCode
	}
	codes, hashes, err := newRecoveryCodes(a.ID)
	if err != nil {
		return nil, err
	}
	e := s.event(ctx, store.AuthEvent{Type: store.EventSecondFactorEnabled, AccountID: a.ID, SessionID: sess.ID})
	err = s.store.EnableSecondFactor(ctx, a.ID, f.SealedSecret, step, hashes, e)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errNoEnrolment // begun again, or confirmed, meanwhile
	case err != nil:
		return nil, fmt.Errorf("enable second factor: %w", err)
	}
	s.notify(ctx, a, NoticeSecondFactorEnabled)
	return &protocol.RecoveryCodesResult{RecoveryCodes: codes}, nil
}

// TOTPDisable turns the factor off, after the password and a current
// code (or a recovery code). The caller's sessions stay.
func (s *Service) TOTPDisable(ctx context.Context, req protocol.SecondFactorRequest) (*protocol.SecondFactorStatus, error) {
	a, sess, err := s.reauthenticateFactor(ctx, req, protocol.OpTOTPDisable)
	if err != nil {
		return nil, err
	}
	e := s.event(ctx, store.AuthEvent{Type: store.EventSecondFactorDisabled, Reason: store.ReasonSelf, AccountID: a.ID, SessionID: sess.ID})
	_, err = s.store.DisableSecondFactor(ctx, a.ID, false, "", e)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errFactorOff
	case err != nil:
		return nil, fmt.Errorf("disable second factor: %w", err)
	}
	s.notify(ctx, a, NoticeSecondFactorDisabled)
	return &protocol.SecondFactorStatus{Enabled: false}, nil
}

// RecoveryCodesRegenerate replaces the account's recovery codes, after
// the password and a current code, and returns the new ones this once.
func (s *Service) RecoveryCodesRegenerate(ctx context.Context, req protocol.SecondFactorRequest) (*protocol.RecoveryCodesResult, error) {
	a, sess, err := s.reauthenticateFactor(ctx, req, protocol.OpRecoveryCodesRegenerate)
	if err != nil {
		return nil, err
	}
	codes, hashes, err := newRecoveryCodes(a.ID)
	if err != nil {
		return nil, err
	}
	e := s.event(ctx, store.AuthEvent{Type: store.EventRecoveryCodesRegenerated, AccountID: a.ID, SessionID: sess.ID})
	err = s.store.ReplaceRecoveryCodes(ctx, a.ID, hashes, e)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errFactorOff
	case err != nil:
		return nil, fmt.Errorf("replace recovery codes: %w", err)
	}
	s.notify(ctx, a, NoticeRecoveryCodesRegenerated)
	return &protocol.RecoveryCodesResult{RecoveryCodes: codes}, nil
}

// reauthenticateFactor is the full re-authentication a change of the
// factor needs: a live token, an account with the factor on, and
// reauthenticateFull.
func (s *Service) reauthenticateFactor(ctx context.Context, req protocol.SecondFactorRequest, op string) (store.Account, store.Session, error) {
	a, sess, err := s.verify(ctx, req.Token, op)
	if err != nil {
		return a, sess, err
	}
	if !a.SecondFactor {
		return a, sess, errFactorOff
	}
	return a, sess, s.reauthenticateFull(ctx, a, sess, req.Password, req.Code)
}

// ResetSecondFactor is the administrator's way back in for an owner who
// lost the factor and its recovery codes: it turns the factor off and
// ends every session of the account, in one transaction, and returns
// how many sessions ended.
func (s *Service) ResetSecondFactor(ctx context.Context, id string) (int, error) {
	n, err := s.store.DisableSecondFactor(ctx, id, true, "", s.adminEvent(ctx, store.EventSecondFactorDisabled, id))
	if err != nil {
		return 0, fmt.Errorf("reset second factor: %w", err)
	}
	if a, err := s.store.GetAccount(ctx, id); err == nil {
		s.notify(ctx, a, NoticeSecondFactorDisabled)
	}
	return n, nil
}

// isTOTPCode reports whether code has the form of a TOTP code: 6 ASCII
// digits.
func isTOTPCode(code string) bool {
	if len(code) != totpDigits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// matchTOTP returns the time step within totpSkew of now whose code is
// code (the latest, if several). Every candidate is computed and
// compared in constant time, so the time taken says nothing about which
// matched.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	if !isTOTPCode(code) {
		return 0, false
	}
	current := now.Unix() / totpPeriod
	step, found := int64(0), 0
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix((current+d)*totpPeriod, 0), totpOpts())
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			step, found = current+d, 1
		}
	}
	return step, found == 1
}

// totpStep is the TOTP factor as a login step.
type totpStep struct{}

func (totpStep) method() string { return protocol.MethodTOTP }
func (totpStep) amr() string    { return "otp" }
func (totpStep) answer(req protocol.LoginSecondFactorRequest) string {
	return req.Code
}

// check accepts a code for a step after the last one used, and marks
// that step used in the same conditional update, so a code (or an
// earlier one) works once even when sent twice at the same moment.
func (totpStep) check(ctx context.Context, s *Service, a store.Account, _ string, code string) (bool, error) {
	if !isTOTPCode(code) {
		return false, nil
	}
	f, err := s.store.GetSecondFactor(ctx, a.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get second factor: %w", err)
	}
	if !f.Enabled {
		return false, nil
	}
	secret, err := s.openSecret(a.ID, f.SealedSecret)
	if err != nil {
		return false, fmt.Errorf("open totp secret: %w", err)
	}
	defer clear(secret)
	step, ok := matchTOTP(string(secret), code, s.now())
	if !ok || step <= f.LastStep {
		return false, nil
	}
	used, err := s.store.UseTOTPStep(ctx, a.ID, step)
	if err != nil {
		return false, fmt.Errorf("use totp step: %w", err)
	}
	return used, nil
}
