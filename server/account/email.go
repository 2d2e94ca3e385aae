package account

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
)

// errMailOff answers the operations that need mail on a server without it.
var errMailOff = NewError(protocol.CodeBadRequest, "this server sends no mail, so email verification and password reset are off")

// errNothingPending answers verification requests of an account with no
// address awaiting verification.
var errNothingPending = NewError(protocol.CodeBadRequest, "no email address awaits verification")

// normalizeLogin checks a login: a username, or an email address when it
// holds an '@'. The check depends on the text only, never on whether an
// account has it.
func normalizeLogin(login string) (string, error) {
	login = strings.TrimSpace(login)
	if strings.Contains(login, "@") {
		e, err := normalizeEmail(login)
		if err != nil {
			return "", err
		}
		return e, nil
	}
	return normalizeUsername(login)
}

// accountByLogin finds the account with a username or, for an address,
// the account that verified it; store.ErrNotFound when none.
func (s *Service) accountByLogin(ctx context.Context, login string) (store.Account, error) {
	if strings.Contains(login, "@") {
		return s.store.GetAccountByEmail(ctx, login)
	}
	return s.store.GetAccountByUsername(ctx, login)
}

// mailAddressCheck mails a code to email, just given to account a, or,
// when another account has verified that address, a notice to its owner
// instead: the answer to a is the same either way.
func (s *Service) mailAddressCheck(ctx context.Context, a store.Account, email string) {
	if !s.mailOn() {
		return
	}
	owner, err := s.store.GetAccountByEmail(ctx, email)
	switch {
	case err == nil && owner.ID != a.ID:
		s.notify(ctx, owner, NoticeSignupWithYourAddress)
	case err == nil || errors.Is(err, store.ErrNotFound):
		s.queue(ctx, store.QueuedMail{Kind: store.MailVerify, AccountID: a.ID, Address: email, Username: a.Username})
	default:
		s.log.Error("mail queue: look up address owner", "account", a.ID, "err", err)
	}
}

// VerifyEmail checks the code mailed to the account's pending address
// and makes that address its email. The account is the token's or, where
// login waits for a verified email, the login's.
func (s *Service) VerifyEmail(ctx context.Context, req protocol.VerifyEmailRequest) (*protocol.AccountResult, error) {
	if !s.mailOn() {
		return nil, errMailOff
	}
	var a store.Account
	switch {
	case (req.Token == "") == (req.Login == ""):
		return nil, NewError(protocol.CodeBadRequest, "give either token or login")
	case req.Token != "":
		var err error
		if a, _, err = s.verify(ctx, req.Token, protocol.OpVerifyEmail); err != nil {
			return nil, err
		}
		if a.PendingEmail == "" {
			return nil, errNothingPending
		}
	default:
		login, err := normalizeUsername(req.Login)
		if err != nil {
			return nil, err
		}
		a, err = s.store.GetAccountByUsername(ctx, login)
		if errors.Is(err, store.ErrNotFound) || (err == nil && a.PendingEmail == "") {
			return nil, s.refuseCode(ctx, a.ID, store.PurposeVerify)
		}
		if err != nil {
			return nil, fmt.Errorf("get account: %w", err)
		}
	}
	h, err := s.checkCode(ctx, a, store.PurposeVerify, a.PendingEmail, req.Code)
	if err != nil {
		return nil, err
	}
	e := s.event(ctx, store.AuthEvent{Type: store.EventEmailVerified, AccountID: a.ID})
	err = s.store.VerifyEmail(ctx, a.ID, a.PendingEmail, h, e)
	var ce *store.ConflictError
	switch {
	case errors.As(err, &ce):
		return nil, NewError(protocol.CodeEmailTaken, "another account verified that address first")
	case errors.Is(err, store.ErrNotFound):
		return nil, errInvalidCode // used by a concurrent request
	case err != nil:
		return nil, fmt.Errorf("verify email: %w", err)
	}
	a.Email, a.PendingEmail = a.PendingEmail, ""
	return &protocol.AccountResult{Account: publicAccount(a)}, nil
}

// ResendVerification mails a fresh code to the token's account's pending
// address (the earlier code stops working).
func (s *Service) ResendVerification(ctx context.Context, req protocol.ResendVerificationRequest) (*protocol.MailQueuedResult, error) {
	if !s.mailOn() {
		return nil, errMailOff
	}
	a, _, err := s.verify(ctx, req.Token, protocol.OpResendVerification)
	if err != nil {
		return nil, err
	}
	if a.PendingEmail == "" {
		return nil, errNothingPending
	}
	if err := s.admitMail(ctx); err != nil {
		return nil, err
	}
	wait, err := s.codeLimitWait(ctx, a.ID, store.PurposeVerify)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		return nil, ErrRateLimited(wait)
	}
	s.mailAddressCheck(ctx, a, a.PendingEmail)
	return &protocol.MailQueuedResult{}, nil
}

// RequestPasswordReset queues a reset code for the account with a
// username or a verified email. Whether there is one is decided by the
// mail sender, later: the request does the same work (one queued row)
// and gets the same answer for every login.
func (s *Service) RequestPasswordReset(ctx context.Context, req protocol.RequestPasswordResetRequest) (*protocol.MailQueuedResult, error) {
	login, err := normalizeLogin(req.Login)
	if err != nil {
		return nil, err
	}
	if !s.mailOn() {
		return nil, errMailOff
	}
	if err := s.admitMail(ctx); err != nil {
		return nil, err
	}
	if err := s.enqueue(ctx, store.QueuedMail{Kind: store.MailReset, Login: login}); err != nil {
		return nil, fmt.Errorf("queue reset: %w", err)
	}
	return &protocol.MailQueuedResult{}, nil
}

// ResetPassword sets a new password with a code mailed by
// request_password_reset, ends every session of the account and mails a
// notice. The new password must pass the full policy. A second factor
// stays on: the mailbox stands in for the password, not for the factor.
func (s *Service) ResetPassword(ctx context.Context, req protocol.ResetPasswordRequest) (*protocol.SessionsEndedResult, error) {
	login, err := normalizeLogin(req.Login)
	if err != nil {
		return nil, err
	}
	if !s.mailOn() {
		return nil, errMailOff
	}
	a, err := s.accountByLogin(ctx, login)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.Email == "") {
		return nil, s.refuseCode(ctx, a.ID, store.PurposeReset)
	}
	if err != nil {
		return nil, fmt.Errorf("get account: %w", err)
	}
	codeHash, err := s.checkCode(ctx, a, store.PurposeReset, a.Email, req.Code)
	if err != nil {
		return nil, err
	}
	if err := checkPassword(req.NewPassword, a.Username, s.settings().MinPasswordLength); err != nil {
		return nil, err
	}
	hash, err := s.hash(ctx, req.NewPassword)
	if err != nil {
		return nil, err
	}
	e := s.event(ctx, store.AuthEvent{Type: store.EventPasswordReset, AccountID: a.ID})
	n, err := s.store.ResetPassword(ctx, a.ID, codeHash, hash, e)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errInvalidCode
	}
	if err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	s.notify(ctx, a, NoticePasswordReset)
	return &protocol.SessionsEndedResult{SessionsEnded: n}, nil
}
