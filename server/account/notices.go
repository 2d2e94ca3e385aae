package account

import (
	"context"

	"github.com/accountd/accountd/store"
)

// Notice names a message mailed to an account's owner after a change to
// the account's credentials, factors or address (NIST SP 800-63B rev 4
// asks for one after every such change). Each has a template
// notice_NAME.
type Notice string

// The notices the rules send.
const (
	NoticePasswordChanged          Notice = "password_changed"
	NoticePasswordReset            Notice = "password_reset"
	NoticeEmailChanged             Notice = "email_changed"
	NoticeAccountDeleted           Notice = "account_deleted"
	NoticeSignupWithYourAddress    Notice = "signup_with_your_address"
	NoticeSecondFactorEnabled      Notice = "second_factor_enabled"
	NoticeSecondFactorDisabled     Notice = "second_factor_disabled"
	NoticeRecoveryCodeUsed         Notice = "recovery_code_used"
	NoticeRecoveryCodesRegenerated Notice = "recovery_codes_regenerated"
)

// Notices lists every Notice; New refuses templates that miss one.
var Notices = []Notice{
	NoticePasswordChanged, NoticePasswordReset, NoticeEmailChanged, NoticeAccountDeleted,
	NoticeSignupWithYourAddress, NoticeSecondFactorEnabled, NoticeSecondFactorDisabled,
	NoticeRecoveryCodeUsed, NoticeRecoveryCodesRegenerated,
}

// notify queues notice n for the owner of account a, at its verified
// address. It does nothing when mail is not configured or a has no
// verified address; a failure to queue is logged, never returned, since
// the change it reports has already been made.
func (s *Service) notify(ctx context.Context, a store.Account, n Notice) {
	if !s.mailOn() || a.Email == "" {
		return
	}
	s.queue(ctx, store.QueuedMail{Kind: store.MailNotice, AccountID: a.ID, Address: a.Email, Username: a.Username, Notice: string(n)})
}
