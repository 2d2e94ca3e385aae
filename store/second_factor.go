package store

import "time"

// SecondFactor is an account's TOTP factor: pending from enrolment until
// its first code is confirmed, then on.
type SecondFactor struct {
	AccountID string
	// SealedSecret is the TOTP secret sealed under the master key; the
	// store never sees it in clear.
	SealedSecret []byte
	// Enabled is false while the enrolment awaits its first code.
	Enabled bool
	// LastStep is the TOTP time step of the last code accepted: a code
	// for it or an earlier step is refused, so that a code works once.
	LastStep int64
	// RecoveryCodesLeft is how many unused recovery codes the account
	// has (set by GetSecondFactor; ignored on writes).
	RecoveryCodesLeft int
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// RecoveryCodeHashLength is the length of a stored recovery code hash
// (SHA-256).
const RecoveryCodeHashLength = 32

// LoginChallenge is the state between a login's password step and its
// second factor. Only a hash of the challenge the client holds is stored.
type LoginChallenge struct {
	// ID is the SHA-256 (hex) of the challenge handed to the client.
	ID        string
	AccountID string
	// Binding names the connection the challenge was issued on; only a
	// request on that connection may answer it.
	Binding string
	// Client and IP are what the session will record.
	Client string
	IP     string
	// DeviceID is the device whose valid token the login presented, ""
	// if none: the second factor's failures count against it.
	DeviceID string
	// Attempts counts the answers checked (ClaimChallengeAttempt).
	Attempts  int
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is set once the challenge opened a session; zero before.
	UsedAt time.Time
}

// Used reports whether the challenge has opened its session.
func (c LoginChallenge) Used() bool { return !c.UsedAt.IsZero() }
