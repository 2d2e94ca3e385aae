package store

import "time"

// Authentication event types (AuthEvent.Type). The list is closed: every
// authentication decision the server makes is one of these.
const (
	// EventSignup: an account was created.
	EventSignup = "signup"
	// EventLogin: a login succeeded and opened a session.
	EventLogin = "login"
	// EventLoginFailed: a login, or the password check of an owner's
	// change (then SessionID is the caller's session), was refused;
	// Reason says why.
	EventLoginFailed = "login_failed"
	// EventRefresh: a token was refreshed.
	EventRefresh = "refresh"
	// EventLogout: a session was revoked by its owner.
	EventLogout = "logout"
	// EventTokenRejected: a token was refused by authenticate, refresh or
	// logout; Reason names the operation.
	EventTokenRejected = "token_rejected"
	// EventRateLimited: a client IP went over its request rate.
	EventRateLimited = "rate_limited"
	// EventLocked: an account reached the failed-login limit and is
	// locked until an administrator unlocks it.
	EventLocked = "locked"
	// EventUnlocked: an administrator cleared an account's failed-login
	// counter.
	EventUnlocked = "unlocked"
	// EventDisabled: an administrator disabled an account (and its
	// sessions were revoked).
	EventDisabled = "account_disabled"
	// EventEnabled: an administrator enabled an account again.
	EventEnabled = "account_enabled"
	// EventDeleted: an account was deleted with its sessions; Reason says
	// who decided (ReasonAdmin or ReasonSelf). The event keeps the
	// account id only.
	EventDeleted = "account_deleted"
	// EventPasswordChanged: the owner changed the account's password;
	// Reason is ReasonOthersEnded when the other sessions were revoked
	// with it.
	EventPasswordChanged = "password_changed"
	// EventEmailChanged: the owner changed the account's email.
	EventEmailChanged = "email_changed"
	// EventEmailVerified: the owner typed the code mailed to the
	// account's pending address, which became its email.
	EventEmailVerified = "email_verified"
	// EventPasswordReset: the owner set a new password with a code
	// mailed to the verified address; every session ended.
	EventPasswordReset = "password_reset"
	// EventCodeRejected: a wrong, expired, used-up or foreign code was
	// typed; Reason is the code's purpose.
	EventCodeRejected = "code_rejected"
	// EventSessionsRevoked: sessions were ended other than by logout;
	// Reason says how (ReasonOneSession, ReasonAllSessions,
	// ReasonOthersEnded, ReasonAdmin). SessionID is the session revoked
	// (one) or the caller's (all).
	EventSessionsRevoked = "sessions_revoked"
	// EventKeyRotated: an administrator wrote the next signing key;
	// Reason is the new key's id.
	EventKeyRotated = "key_rotated"
	// EventServiceKeyAdded: an administrator added a service key; Reason
	// is its name.
	EventServiceKeyAdded = "service_key_added"
	// EventServiceKeyRevoked: an administrator revoked a service key;
	// Reason is its name.
	EventServiceKeyRevoked = "service_key_revoked"
	// EventServiceAuthFailed: a connection presented a service key that
	// does not exist or does not match.
	EventServiceAuthFailed = "service_auth_failed"
	// EventSecondFactorEnabled: the owner confirmed a TOTP factor.
	EventSecondFactorEnabled = "second_factor_enabled"
	// EventSecondFactorDisabled: the account's TOTP factor was removed;
	// Reason says who decided (ReasonSelf or ReasonAdmin).
	EventSecondFactorDisabled = "second_factor_disabled"
	// EventRecoveryCodeUsed: a recovery code was spent (at a login, or
	// in place of a code to change the factor).
	EventRecoveryCodeUsed = "recovery_code_used"
	// EventRecoveryCodesRegenerated: the owner replaced the account's
	// recovery codes.
	EventRecoveryCodesRegenerated = "recovery_codes_regenerated"
	// EventConfigChanged: an administrator changed a setting of the
	// sealed config; Reason is the setting's key.
	EventConfigChanged = "config_changed"
)

// ReasonAdmin marks a decision an administrator made (with EventDeleted
// and the other admin events).
const ReasonAdmin = "admin"

// ReasonServicePrefix, followed by a service key's name, marks a decision
// a backend made over the protocol with an admin-scoped key (with the
// admin events, in place of ReasonAdmin).
const ReasonServicePrefix = "service:"

// ReasonSelf marks a decision the account's owner made (EventDeleted).
const ReasonSelf = "self"

// Reasons with EventSessionsRevoked and EventPasswordChanged.
const (
	// ReasonOneSession: the owner ended one session (revoke_session).
	ReasonOneSession = "one"
	// ReasonAllSessions: the owner ended every session, the caller's
	// included (logout_all).
	ReasonAllSessions = "all"
	// ReasonOthersEnded: every session but the caller's was ended
	// (logout_all keeping the current one, or a password change).
	ReasonOthersEnded = "others"
)

// Reasons a login failed (AuthEvent.Reason with EventLoginFailed). They are
// recorded for the operator only; the client always gets the same error.
const (
	ReasonUnknownUser   = "unknown_user"
	ReasonWrongPassword = "wrong_password"
	ReasonDisabled      = "disabled"
	// ReasonThrottled: the account had failed recently and must wait
	// before the next try; the password was not checked.
	ReasonThrottled = "throttled"
	// ReasonLocked: the account reached the failure limit; only an
	// administrator unlock (or a password reset) clears it.
	ReasonLocked = "locked"
	// ReasonBadHash: the stored hash could not be read.
	ReasonBadHash = "bad_hash"
	// ReasonWrongCode: a second-factor code or recovery code was wrong,
	// malformed or already used; it counts like a wrong password.
	ReasonWrongCode = "wrong_code"
	// ReasonChallengeDead: a second-factor answer named a challenge that
	// is unknown, expired, used, out of attempts or issued on another
	// connection; the code was not checked.
	ReasonChallengeDead = "challenge_dead"
	// ReasonEmailUnverified: the password was right, but the server
	// requires a verified email and the account has none.
	ReasonEmailUnverified = "email_unverified"
	// ReasonDeviceThrottled: the login presented a valid device token
	// whose device had failed recently and must wait; the password was
	// not checked.
	ReasonDeviceThrottled = "device_throttled"
	// ReasonDeviceLocked: the login presented a valid device token whose
	// device reached the failure limit; only an administrator unlock
	// clears it. The account itself is not locked.
	ReasonDeviceLocked = "device_locked"
)

// ReasonDevice marks an EventLocked of one device's token, not of the
// account.
const ReasonDevice = "device"

// AuthEvent is one row of the audit log. It never holds a password or a
// token: a token is identified by its session id only.
type AuthEvent struct {
	// ID is assigned by the store on insert (increasing); ignored by
	// AddAuthEvent.
	ID int64
	// At is when the decision was made, UTC.
	At time.Time
	// Type is one of the Event constants.
	Type string
	// Reason details Type (see the Reason constants); may be empty.
	Reason string
	// IP is the client address; may be empty for admin actions.
	IP string
	// AccountID is set when the account is known.
	AccountID string
	// SessionID is set when a session is involved.
	SessionID string
	// Count, when above zero, is how many like refusals the event stands
	// for: refusals tied to no account are aggregated per client IP and
	// interval, and At is then the last of them. Zero is one decision.
	Count int64
}

// AuthEventFilter selects events for ListAuthEvents. Zero fields select
// everything.
type AuthEventFilter struct {
	// AccountID keeps only this account's events.
	AccountID string
	// Since keeps only events at or after this time.
	Since time.Time
	// Limit caps how many events are returned (the newest ones); 0 means
	// DefaultAuthEventLimit.
	Limit int
}

// DefaultAuthEventLimit is the number of events ListAuthEvents returns
// when the filter sets no limit.
const DefaultAuthEventLimit = 1000

// LoginFailures is an account's failed-login counter: consecutive failures
// since the last successful login or unlock.
type LoginFailures struct {
	// Count is the number of consecutive failures.
	Count int
	// LastAt is the time of the last failure; zero when Count is 0.
	LastAt time.Time
}
