package store

import "time"

// Purposes of an EmailCode.
const (
	// PurposeVerify proves the owner reads the account's pending email.
	PurposeVerify = "verify"
	// PurposeReset lets the owner of a verified address set a new
	// password.
	PurposeReset = "reset"
)

// EmailCode is the one live code of an account for a purpose. Only a
// keyed hash of the code is stored.
type EmailCode struct {
	AccountID string
	// Purpose is PurposeVerify or PurposeReset.
	Purpose string
	// Email is the address the code was mailed to.
	Email string
	// Hash is the keyed hash of the code (32 bytes).
	Hash []byte
	// Attempts counts the codes tried against this one.
	Attempts  int
	ExpiresAt time.Time
	// Issued counts the codes mailed for the account and purpose since
	// WindowStart, for the per-account request limit.
	Issued      int
	WindowStart time.Time
}

// Kinds of QueuedMail.
const (
	// MailVerify mails a fresh verification code to Address for
	// AccountID; the code is made when the mail is sent, so none waits
	// in the queue in clear.
	MailVerify = "verify"
	// MailReset resolves Login to an account with a verified address
	// when sent and, if there is one, mails it a fresh reset code.
	MailReset = "reset"
	// MailNotice mails notice Notice to Address.
	MailNotice = "notice"
)

// QueuedMail is one mail waiting to be sent.
type QueuedMail struct {
	// ID is random (32 lowercase hex characters).
	ID   string
	Kind string
	// AccountID is the account the mail is for ("" for MailReset).
	AccountID string
	// Address is the recipient ("" for MailReset).
	Address string
	// Username is the account's name at queue time, for the message.
	Username string
	// Login is what a password reset was requested for (MailReset).
	Login string
	// Notice names the notice of a MailNotice.
	Notice string
	// Attempts counts the failed sends so far.
	Attempts  int
	CreatedAt time.Time
	// NextAt is when the mail may be sent (again); a sender claims a mail
	// by moving NextAt past its lease.
	NextAt time.Time
}
