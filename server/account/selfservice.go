package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
)

// The owner's changes to their own account. Each needs a live token, the
// current password, checked like a login (same throttling, same
// counter), and a code when the account has a second factor on
// (reauthenticateFull), and is written with its audit event in one
// transaction.

// errWrongPassword answers every failed re-authentication alike.
var errWrongPassword = NewError(protocol.CodeInvalidCredentials, "wrong password")

// reauthenticate checks the password of a, the account behind sess, the
// way Login does: a throttled or locked counter is refused whatever the
// password, and a wrong password counts against it. The counter is the
// one of the device the session logged in from when
// that device is still the account's, else the account's. Each refusal
// is audited as a failed login naming the session.
func (s *Service) reauthenticate(ctx context.Context, a store.Account, sess store.Session, password string) error {
	return s.reauthenticateThen(ctx, a, sess, password, nil)
}

// reauthenticateThen is reauthenticate that, once the password is right,
// runs then while the attempt still holds its counter: a second check
// (a code) is made one at a time per counter, as the password is. then
// gets the account and the device as they were read after admission.
func (s *Service) reauthenticateThen(ctx context.Context, a store.Account, sess store.Session, password string, then func(store.Account, store.Device) error) error {
	if password == "" || len(password) > 4*MaxPasswordLength {
		s.audit(ctx, store.AuthEvent{Type: store.EventLoginFailed, Reason: store.ReasonWrongPassword, AccountID: a.ID, SessionID: sess.ID})
		return errWrongPassword
	}
	at, err := s.beginAttempt(ctx, a.Username, deviceClaim{id: sess.DeviceID, bySession: true})
	if err != nil {
		return err
	}
	defer at.release()
	if at.refused == "" && at.account.ID != a.ID {
		at.refused, at.hash = store.ReasonUnknownUser, dummyLike(a.PasswordHash, s.cfg.Argon2)
	}
	ok, _, unreadable, err := s.verifyPassword(ctx, password, at.hash)
	if err != nil {
		return err
	}
	if at.refused != "" {
		s.audit(ctx, store.AuthEvent{Type: store.EventLoginFailed, Reason: at.refused, AccountID: a.ID, SessionID: sess.ID})
		return errWrongPassword
	}
	if !ok {
		if err := s.recordFailure(ctx, at.account, at.device, sess.ID, unreadable); err != ErrInvalidCredentials {
			return err
		}
		return errWrongPassword
	}
	if then != nil {
		return then(at.account, at.device)
	}
	return nil
}

// reauthenticateFull is the re-authentication every change of a
// credential or of the account needs (ASVS 7.5.1): the password, and,
// when the account has a second factor on, a current TOTP code or an
// unused recovery code, which it uses up. A wrong code counts against
// the account like a wrong password, and either gets the same error. A
// missing code is refused before anything is checked or counted: the
// token's holder knows the factor is on. Without a factor, code is not
// looked at.
func (s *Service) reauthenticateFull(ctx context.Context, a store.Account, sess store.Session, password, code string) error {
	if !a.SecondFactor {
		return s.reauthenticate(ctx, a, sess, password)
	}
	if code == "" {
		return errCodeRequired
	}
	err := s.reauthenticateThen(ctx, a, sess, password, func(fresh store.Account, d store.Device) error {
		var step loginStep = totpStep{}
		if !isTOTPCode(code) {
			step = recoveryCodeStep{}
		}
		ok, err := step.check(ctx, s, fresh, sess.ID, code)
		if err != nil {
			return err
		}
		if !ok {
			if err := s.countFailure(ctx, fresh, d, sess.ID, store.ReasonWrongCode); err != nil {
				return err
			}
			return errWrongPasswordOrCode
		}
		return nil
	})
	if err == errWrongPassword {
		err = errWrongPasswordOrCode
	}
	return err
}

// ChangePassword replaces the password of the token's account. The new
// one must pass the full policy; the calling session stays valid and
// gets a fresh token, and every other session ends unless
// EndOtherSessions is false.
func (s *Service) ChangePassword(ctx context.Context, req protocol.ChangePasswordRequest) (*protocol.ChangePasswordResult, error) {
	a, sess, err := s.verify(ctx, req.Token, protocol.OpChangePassword)
	if err != nil {
		return nil, err
	}
	if err := checkPassword(req.NewPassword, a.Username, s.settings().MinPasswordLength); err != nil {
		return nil, err
	}
	if req.NewPassword == req.CurrentPassword {
		return nil, NewError(protocol.CodeWeakPassword, "the new password must differ from the current one")
	}
	if err := s.reauthenticateFull(ctx, a, sess, req.CurrentPassword, req.Code); err != nil {
		return nil, err
	}
	hash, err := s.hash(ctx, req.NewPassword)
	if err != nil {
		return nil, err
	}
	endOthers := req.EndOtherSessions == nil || *req.EndOtherSessions
	reason := ""
	if endOthers {
		reason = store.ReasonOthersEnded
	}
	e := s.event(ctx, store.AuthEvent{Type: store.EventPasswordChanged, Reason: reason, AccountID: a.ID, SessionID: sess.ID})
	n, err := s.store.ChangePassword(ctx, a.ID, hash, endOthers, sess.ID, e)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken // the account was deleted meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("change password: %w", err)
	}
	s.notify(ctx, a, NoticePasswordChanged)
	tok, err := s.issue(a, sess)
	if err != nil {
		return nil, err
	}
	return &protocol.ChangePasswordResult{TokenResult: *tok, SessionsEnded: n}, nil
}

// ChangeEmail gives the token's account a new address, under signup's
// rules for one: it waits as the pending address, while a code is mailed
// to it, and the current email stays until the code is typed
// (verify_email). The current address is mailed a notice.
func (s *Service) ChangeEmail(ctx context.Context, req protocol.ChangeEmailRequest) (*protocol.AccountResult, error) {
	a, sess, err := s.verify(ctx, req.Token, protocol.OpChangeEmail)
	if err != nil {
		return nil, err
	}
	email, err := normalizeEmail(req.NewEmail)
	if err != nil {
		return nil, err
	}
	if email == "" {
		return nil, NewError(protocol.CodeBadRequest, "new_email is required")
	}
	if email == a.Email {
		return nil, NewError(protocol.CodeBadRequest, "that is already the account's email")
	}
	if err := s.reauthenticateFull(ctx, a, sess, req.Password, req.Code); err != nil {
		return nil, err
	}
	if s.mailOn() {
		if err := s.admitMail(ctx); err != nil {
			return nil, err
		}
	}
	e := s.event(ctx, store.AuthEvent{Type: store.EventEmailChanged, AccountID: a.ID, SessionID: sess.ID})
	err = s.store.SetPendingEmail(ctx, a.ID, email, e)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrInvalidToken
	case err != nil:
		return nil, fmt.Errorf("change email: %w", err)
	}
	s.notify(ctx, a, NoticeEmailChanged) // to the current address
	a.PendingEmail = email
	s.mailAddressCheck(ctx, a, email)
	return &protocol.AccountResult{Account: publicAccount(a)}, nil
}

// DeleteOwnAccount deletes the token's account and all its sessions. The
// username and email are free again at once; the audit log keeps the
// account id only, and the account's tokens stay refused (their sessions
// are gone, and a new account gets a new id).
func (s *Service) DeleteOwnAccount(ctx context.Context, req protocol.DeleteAccountRequest) (*protocol.SessionsEndedResult, error) {
	a, sess, err := s.verify(ctx, req.Token, protocol.OpDeleteAccount)
	if err != nil {
		return nil, err
	}
	if err := s.reauthenticateFull(ctx, a, sess, req.Password, req.Code); err != nil {
		return nil, err
	}
	e := s.event(ctx, store.AuthEvent{Type: store.EventDeleted, Reason: store.ReasonSelf, AccountID: a.ID, SessionID: sess.ID})
	n, err := s.store.DeleteAccount(ctx, a.ID, e)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("delete account: %w", err)
	}
	s.notify(ctx, a, NoticeAccountDeleted)
	return &protocol.SessionsEndedResult{SessionsEnded: n}, nil
}
