// Package store defines accountd's records (accounts, sessions, signing
// keys, audit events), the Store interface every backend implements, and the sentinel
// errors backends return.
//
// The package depends on the standard library only. store/sqlstore is the
// SQL implementation (MariaDB/MySQL and embedded SQLite); store/storetest is
// the conformance suite every backend must pass.
//
// Times are stored and returned in UTC with microsecond precision; a zero
// time.Time means "not set". Implementations are safe for concurrent use.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors returned by Store implementations. Compare with errors.Is.
var (
	// ErrNotFound is returned when the requested record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists is returned when a record with the same unique key
	// (id, username, email, key id) already exists. Backends wrap it in a
	// *ConflictError that names the field.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrUnavailable is returned when the database cannot be reached.
	ErrUnavailable = errors.New("store: database unavailable")
	// ErrOutcomeUnknown is returned by a write whose commit was sent but
	// not confirmed (the connection broke, or the deadline passed, while
	// the database had it): it may have been applied or not. Reading back
	// by the record's id tells which. The error also matches what caused
	// it (ErrUnavailable or context.DeadlineExceeded), so check
	// ErrOutcomeUnknown first.
	ErrOutcomeUnknown = errors.New("store: outcome of the write unknown")
	// ErrStale is returned by a conditional write whose condition no
	// longer held: another writer changed the record since the caller
	// read it. Nothing was written; read again and decide anew.
	ErrStale = errors.New("store: changed since read")
)

// ConflictError reports which unique field a create collided on. It
// unwraps to ErrAlreadyExists.
type ConflictError struct {
	// Field is "id", "username" or "email" (accounts), or "id" for other
	// records.
	Field string
}

func (e *ConflictError) Error() string { return "store: already exists: " + e.Field }

// Unwrap makes errors.Is(err, ErrAlreadyExists) true.
func (e *ConflictError) Unwrap() error { return ErrAlreadyExists }

// Account is one user account.
type Account struct {
	// ID is an opaque random identifier (32 lowercase hex characters),
	// never a sequence number. It is the JWT "sub" claim.
	ID string
	// Username is unique and stored in lowercase; 3–32 characters of
	// [a-z0-9._-].
	Username string
	// Email is optional ("" means none); unique when present, stored in
	// lowercase.
	Email string
	// PendingEmail is an address waiting beside Email until its owner
	// types the code mailed to it ("" means none); not unique, stored in
	// lowercase. Email holds only verified addresses.
	PendingEmail string
	// PasswordHash is an Argon2id PHC string.
	PasswordHash string
	// SignupKey is the SHA-256 of the idempotency key the signup
	// carried (nil when none): a retried signup with the same key is
	// told about this account instead of that its username is taken.
	SignupKey []byte
	// Disabled accounts cannot log in and their tokens are refused.
	Disabled bool
	// Failures is the failed-login counter; CreateAccount ignores it (a
	// new account has none).
	Failures LoginFailures
	// SecondFactor is whether a second factor is on (read only: the
	// second-factor methods set it with the factor).
	SecondFactor bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Session is the revocable server-side state behind every token.
type Session struct {
	// ID is an opaque random identifier (32 lowercase hex characters); it
	// is the JWT "sid" claim.
	ID        string
	AccountID string
	CreatedAt time.Time
	// ExpiresAt is the absolute end of the session: no token is issued or
	// accepted for it after this time, refresh or not.
	ExpiresAt time.Time
	// RevokedAt is the zero time while the session is live.
	RevokedAt time.Time
	// LastUsedAt is when a token of the session was last accepted, to
	// the minute (TouchSession); CreateSession stores it as given.
	LastUsedAt time.Time
	// Client is the short description the client gave at login (at most
	// MaxSessionClient bytes of printable ASCII); may be empty.
	Client string
	// IP is the client's address at login; may be empty.
	IP string
	// AMR lists how the login was authenticated (RFC 8176 method
	// references: "pwd", "otp"); nil is read back as ["pwd"].
	AMR []string
	// DeviceID is the device the login came from (a Device id), or ""
	// when unknown; the device row may have been pruned since.
	DeviceID string
}

// Revocation is one entry of the revocation log: a session that was
// revoked, or deleted with its account, while live. Instances and
// subscribed backends follow the log to refuse the session's tokens
// without asking the database each time.
type Revocation struct {
	// ID grows with every entry: a follower asks for the entries past
	// the last one it saw. IDs are handed out when the revoking
	// transaction writes its entry, not when it commits, so an entry
	// may become visible after one with a larger ID (see
	// Store.ListRevocations).
	ID        int64
	SessionID string
	// ExpiresAt is the session's absolute end: no token of it is valid
	// afterwards, and the entry may be pruned.
	ExpiresAt time.Time
	RevokedAt time.Time
}

// MaxSessionClient bounds Session.Client, in bytes.
const MaxSessionClient = 64

// Live reports whether the session is neither revoked nor past its
// absolute end at t.
func (s Session) Live(t time.Time) bool { return !s.Revoked() && t.Before(s.ExpiresAt) }

// Revoked reports whether the session has been revoked.
func (s Session) Revoked() bool { return !s.RevokedAt.IsZero() }

// ServiceKey is an application backend's key: the backend presents it
// (service_auth) to get its own request limits and, with ScopeAdmin, the
// admin operations. Only a hash of its secret is stored.
type ServiceKey struct {
	// ID is the key's public, random id (32 hex digits); the key the
	// backend holds names it.
	ID string
	// Name is the operator's name for the backend, unique; it is what
	// the audit log records for the backend's admin decisions.
	Name string
	// SecretHash is the SHA-256 of the key's 32-byte random secret; the
	// secret has too much entropy for a slow hash to add anything.
	SecretHash []byte
	// Scopes are what the key may do beyond the end-user operations.
	Scopes    []string
	CreatedAt time.Time
}

// ScopeAdmin lets a service key call the admin operations.
const ScopeAdmin = "admin"

// Scopes are every scope a service key may hold.
var Scopes = []string{ScopeAdmin}

// SigningKey is one JWT signing key. Its private half is stored sealed
// (encrypted under the master key from the sealed config), never in clear.
type SigningKey struct {
	// ID is the JWT "kid" header value.
	ID string
	// Algorithm is the JWS algorithm, e.g. "PS256".
	Algorithm string
	// PublicKey is the PKIX (SPKI) DER encoding of the public key.
	PublicKey []byte
	// SealedPrivateKey is the encrypted PKCS#8 private key.
	SealedPrivateKey []byte
	CreatedAt        time.Time
	// ActiveAt is when the key may start signing (it is published in the
	// JWKS from CreatedAt on).
	ActiveAt time.Time
	// RetireAt is when the key stops signing; zero means not scheduled.
	RetireAt time.Time
	// ExpiresAt is when the key is no longer published (every token it
	// signed has expired); zero means not scheduled.
	ExpiresAt time.Time
	// Generation numbers rotations: each new key takes the next one, and
	// no two keys share one, so that of several instances rotating at the
	// same moment only one writes a key. Zero means none (keys created
	// with CreateSigningKey before generations existed).
	Generation int64
	// MAC authenticates the key's fields under the master key (see
	// server/internal/keyring); nil for keys written before MACs existed.
	MAC []byte
}

// Store is the persistence interface accountd's rules use. Every method
// takes a context with the caller's deadline. Methods return ErrUnavailable
// (wrapped) when the database cannot be reached.
//
// Every method that revokes a live session, or deletes one (with its
// account), appends it to the revocation log (ListRevocations) in the
// same transaction, with the session's ExpiresAt: the log is how other
// instances and subscribed backends learn of it. A new method that ends
// sessions must do the same.
type Store interface {
	// CreateAccount inserts a new account and, in the same transaction,
	// appends e to the audit log when e.Type is set. It returns a
	// *ConflictError (ErrAlreadyExists) when the id, username or email is
	// taken, and writes nothing then.
	CreateAccount(ctx context.Context, a Account, e AuthEvent) error
	// GetAccount returns the account with the given id, or ErrNotFound.
	GetAccount(ctx context.Context, id string) (Account, error)
	// GetAccountByUsername returns the account with the given (lowercase)
	// username, or ErrNotFound.
	GetAccountByUsername(ctx context.Context, username string) (Account, error)
	// GetAccountByEmail returns the account whose (verified, lowercase)
	// Email is email, or ErrNotFound; pending addresses do not match.
	GetAccountByEmail(ctx context.Context, email string) (Account, error)
	// ListAccounts returns every account ordered by username.
	ListAccounts(ctx context.Context) ([]Account, error)
	// CountHashParams counts the accounts by the parameter field of their
	// Argon2id password hash (the field after "$argon2id$v=19$" in the PHC
	// string, e.g. "m=65536,t=2,p=4"). Hashes of another form are not
	// counted.
	CountHashParams(ctx context.Context) (map[string]int64, error)
	// UpdatePasswordHash replaces an account's hash; ErrNotFound if the
	// account does not exist.
	UpdatePasswordHash(ctx context.Context, id, hash string, at time.Time) error
	// ChangePassword is a password change decided at e.At: in one
	// transaction it replaces the account's hash, clears the failed-login
	// counter of the device session keep came from (or, when it came from
	// none, the account's: strangers' guesses are not cleared by a change
	// from a known device), revokes every live session of the account but keep when
	// endOthers is set, and appends e to the audit log. It returns how
	// many sessions it revoked; ErrNotFound (and no change) if the
	// account does not exist.
	ChangePassword(ctx context.Context, id, hash string, endOthers bool, keep string, e AuthEvent) (int, error)
	// SetPendingEmail sets an account's pending email ("" for none) at
	// e.At, leaving its email as it is (a verification that commits
	// first is kept), and, in the same transaction, appends e to the
	// audit log. It returns ErrNotFound if the account does not exist.
	// Nothing changes on an error.
	SetPendingEmail(ctx context.Context, id, pendingEmail string, e AuthEvent) error
	// SetAccountDisabled disables or enables an account at e.At and, in
	// the same transaction, appends e to the audit log; disabling also
	// revokes every live session of the account. It returns how many
	// sessions it revoked; ErrNotFound (and no change) if the account
	// does not exist.
	SetAccountDisabled(ctx context.Context, id string, disabled bool, e AuthEvent) (int, error)
	// DeleteAccount removes an account and its sessions and, in the same
	// transaction, appends e to the audit log. It returns how many of the
	// sessions were live at e.At; ErrNotFound (and no change) if the
	// account does not exist.
	DeleteAccount(ctx context.Context, id string, e AuthEvent) (int, error)
	// RecordLoginFailure records a failed login of account e.AccountID at
	// e.At: in one transaction it adds one to the account's failed-login
	// counter, sets its last failure to e.At and appends e to the audit
	// log. Concurrent calls each count. It returns the counter after the
	// update; ErrNotFound if the account does not exist (nothing is
	// written then).
	RecordLoginFailure(ctx context.Context, e AuthEvent) (LoginFailures, error)
	// ResetLoginFailures clears an account's failed-login counter and
	// those of its devices (an administrator's unlock) and returns the count it cleared; when
	// e.Type is set, e is appended to the audit log in the same
	// transaction. ErrNotFound (and no change) if the account does not
	// exist.
	ResetLoginFailures(ctx context.Context, accountID string, e AuthEvent) (int, error)

	// GetDevice returns the device with an id, or ErrNotFound.
	GetDevice(ctx context.Context, id string) (Device, error)
	// PutDevice records a full login from device d: it stores d, or,
	// when a device with d.ID exists for d.AccountID, replaces its
	// secret hash and last login and clears its failed-login counter.
	// Then it deletes the account's devices beyond the keep most
	// recently used. ErrNotFound if the account does not exist, or if
	// d.ID belongs to another account (nothing is written then).
	PutDevice(ctx context.Context, d Device, keep int) error
	// RecordDeviceFailure records a failed login of account e.AccountID
	// from device id at e.At, as RecordLoginFailure does for the
	// account, but on the device's counter only; e is appended in the
	// same transaction. It returns the device's counter after the
	// update; ErrNotFound if the device does not exist or belongs to
	// another account (nothing is written then).
	RecordDeviceFailure(ctx context.Context, id string, e AuthEvent) (LoginFailures, error)

	// CreateSession opens a session after a successful login: in one
	// transaction it clears the account's failed-login counter (unless
	// s.DeviceID names one of the account's devices: a login from a
	// known device says nothing about strangers' guesses), inserts
	// s, and appends e to the audit log when e.Type is set.
	// ErrAlreadyExists if the id is taken, ErrNotFound if the account
	// does not exist; nothing is written then.
	CreateSession(ctx context.Context, s Session, e AuthEvent) error
	// GetSession returns the session with the given id, or ErrNotFound.
	GetSession(ctx context.Context, id string) (Session, error)
	// GetSessionAccount returns a session and its account in one read
	// (the check behind every authenticate), or ErrNotFound.
	GetSessionAccount(ctx context.Context, sessionID string) (Session, Account, error)
	// ListSessions returns the account's sessions live at t (neither
	// revoked nor past ExpiresAt), oldest first; none (not an error)
	// for an unknown account.
	ListSessions(ctx context.Context, accountID string, t time.Time) ([]Session, error)
	// TouchSession sets a session's LastUsedAt to at, unless it is
	// already at or after at (so concurrent instances never move it
	// back). Touching a session that does not exist does nothing.
	TouchSession(ctx context.Context, id string, at time.Time) error
	// RevokeSession revokes session id of account accountID at e.At
	// and, in the same transaction, appends e to the audit log when
	// e.Type is set. It is idempotent: revoking a revoked session keeps
	// the first time (and still appends e). ErrNotFound, and nothing
	// written, when the account has no session with that id.
	RevokeSession(ctx context.Context, accountID, id string, e AuthEvent) error
	// RevokeAccountSessions revokes every session of an account live at
	// e.At except keep ("" keeps none) and, in the same transaction,
	// appends e to the audit log. It returns how many it revoked;
	// ErrNotFound (and nothing written) if the account does not exist.
	RevokeAccountSessions(ctx context.Context, accountID, keep string, e AuthEvent) (int, error)
	// PruneSessions deletes the sessions whose ExpiresAt is before a
	// time and returns how many it deleted.
	PruneSessions(ctx context.Context, before time.Time) (int64, error)

	// ListRevocations returns at most limit entries of the revocation
	// log with an ID above after, by ID. An entry may commit after one
	// with a larger ID was already returned (IDs are handed out before
	// commit, and on a Galera cluster each node hands out its own): a
	// follower that must miss nothing asks again from an ID it saw long
	// enough ago that every transaction open then has ended.
	ListRevocations(ctx context.Context, after int64, limit int) ([]Revocation, error)
	// PruneRevocations deletes the log entries whose ExpiresAt is
	// before a time and returns how many it deleted. IDs are never
	// handed out again after a prune.
	PruneRevocations(ctx context.Context, before time.Time) (int64, error)

	// CreateSigningKey inserts a signing key; ErrAlreadyExists if the id is
	// taken.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	// ListSigningKeys returns every signing key ordered by CreatedAt.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// RotateSigningKey inserts k and, in the same transaction, sets
	// RetireAt to retireAt and ExpiresAt to expiresAt on every other key
	// whose RetireAt is not set. It returns a *ConflictError
	// (ErrAlreadyExists) with Field "generation" when a key with
	// k.Generation exists, and changes nothing then.
	RotateSigningKey(ctx context.Context, k SigningKey, retireAt, expiresAt time.Time) error
	// SetSigningKeyMAC sets the MAC of a key that has none; ErrNotFound
	// if no key with that id lacks one.
	SetSigningKeyMAC(ctx context.Context, id string, mac []byte) error
	// ResealSigningKey replaces the sealed private half and the MAC of
	// the key id, provided its sealed private half is still old (a
	// master key rotation); ErrNotFound, and nothing written, otherwise.
	ResealSigningKey(ctx context.Context, id string, old, sealed, mac []byte) error

	// AddAuthEvent appends an event to the audit log (its ID is ignored).
	AddAuthEvent(ctx context.Context, e AuthEvent) error
	// ListAuthEvents returns the events the filter selects, newest first
	// (by At, then ID).
	ListAuthEvents(ctx context.Context, f AuthEventFilter) ([]AuthEvent, error)
	// PruneAuthEvents deletes the events before a time and returns how
	// many it deleted.
	PruneAuthEvents(ctx context.Context, before time.Time) (int64, error)

	// CreateServiceKey adds an application backend's key, with its audit
	// event in the same transaction. A name already in use is a
	// *ConflictError for "name".
	CreateServiceKey(ctx context.Context, k ServiceKey, e AuthEvent) error
	// GetServiceKey returns the key with an id, or ErrNotFound.
	GetServiceKey(ctx context.Context, id string) (ServiceKey, error)
	// ListServiceKeys returns every service key ordered by name.
	ListServiceKeys(ctx context.Context) ([]ServiceKey, error)
	// DeleteServiceKey removes the key with a name (it stops working at
	// once), with its audit event in the same transaction; ErrNotFound
	// when there is none.
	DeleteServiceKey(ctx context.Context, name string, e AuthEvent) error

	// BeginSecondFactor stores f as the account's pending TOTP factor
	// (replacing a pending one), with e in the same transaction when
	// e.Type is set. ErrAlreadyExists if the account's factor is on;
	// ErrNotFound if the account does not exist.
	BeginSecondFactor(ctx context.Context, f SecondFactor, e AuthEvent) error
	// GetSecondFactor returns an account's factor, pending or on, or
	// ErrNotFound.
	GetSecondFactor(ctx context.Context, accountID string) (SecondFactor, error)
	// ListSealedSecrets returns up to limit factors, pending or on, of
	// the accounts whose id sorts after after, ordered by account id;
	// only AccountID, SealedSecret and Enabled are set.
	ListSealedSecrets(ctx context.Context, after string, limit int) ([]SecondFactor, error)
	// ResealSecondFactor replaces an account's sealed secret by sealed,
	// provided it is still old (a master key rotation); ErrNotFound, and
	// nothing written, otherwise.
	ResealSecondFactor(ctx context.Context, accountID string, old, sealed []byte) error
	// EnableSecondFactor turns on the pending factor of an account whose
	// sealed secret is sealed, with step as its last used step, replaces
	// its recovery codes by codeHashes and appends e, in one
	// transaction. ErrNotFound (and nothing written) when the account
	// has no such pending factor.
	EnableSecondFactor(ctx context.Context, accountID string, sealed []byte, step int64, codeHashes [][]byte, e AuthEvent) error
	// DisableSecondFactor removes an account's factor (pending or on)
	// and its recovery codes, revokes every live session but keep when
	// endSessions is set, and appends e, in one transaction. It returns
	// how many sessions it revoked; ErrNotFound (and nothing written)
	// when the account has no factor.
	DisableSecondFactor(ctx context.Context, accountID string, endSessions bool, keep string, e AuthEvent) (int, error)
	// UseTOTPStep records that a code for step was accepted: it moves
	// the factor's LastStep to step only when the factor is on and
	// LastStep is below step, in one conditional update, and reports
	// whether it did (false: the step, or a later one, was used).
	UseTOTPStep(ctx context.Context, accountID string, step int64) (bool, error)
	// UseRecoveryCode marks the unused recovery code with hash codeHash
	// used at e.At and appends e, in one transaction, and reports
	// whether there was such a code (false writes nothing).
	UseRecoveryCode(ctx context.Context, accountID string, codeHash []byte, e AuthEvent) (bool, error)
	// ReplaceRecoveryCodes replaces an account's recovery codes by
	// codeHashes and appends e, in one transaction; ErrNotFound when the
	// account's factor is not on.
	ReplaceRecoveryCodes(ctx context.Context, accountID string, codeHashes [][]byte, e AuthEvent) error

	// CreateLoginChallenge stores a challenge (deleting the ones expired
	// before c.CreatedAt). ErrAlreadyExists if the id is taken;
	// ErrNotFound if the account does not exist.
	CreateLoginChallenge(ctx context.Context, c LoginChallenge) error
	// GetLoginChallenge returns the challenge with an id, or ErrNotFound.
	GetLoginChallenge(ctx context.Context, id string) (LoginChallenge, error)
	// ClaimChallengeAttempt counts one answer to a challenge, in one
	// conditional update, only while it is unused, unexpired at now and
	// below maxAttempts; it reports whether it counted (false: the
	// challenge is dead or gone, and the answer must not be checked).
	ClaimChallengeAttempt(ctx context.Context, id string, now time.Time, maxAttempts int) (bool, error)
	// CompleteLoginChallenge marks an unused challenge used and opens
	// its session as CreateSession does, in one transaction. ErrNotFound
	// (and nothing written) when the challenge is used or gone.
	CompleteLoginChallenge(ctx context.Context, id string, s Session, e AuthEvent) error
	// PutEmailCode stores c as the account's one code for c.Purpose in
	// place of the code whose hash is replaces (nil: in place of none),
	// in one transaction. When the account's code for the purpose is
	// another by then (a concurrent call replaced it, or it was used),
	// nothing is written and it returns ErrStale, so that c.Issued,
	// counted from the code the caller read, is never lost to a
	// concurrent issue. ErrNotFound if the account does not exist.
	PutEmailCode(ctx context.Context, c EmailCode, replaces []byte) error
	// GetEmailCode returns the account's code for a purpose, or
	// ErrNotFound.
	GetEmailCode(ctx context.Context, accountID, purpose string) (EmailCode, error)
	// CountEmailCodeAttempt adds one to the attempts of the account's
	// code for a purpose, atomically (concurrent calls each count), and
	// returns the code after the update; ErrNotFound if there is none.
	CountEmailCodeAttempt(ctx context.Context, accountID, purpose string) (EmailCode, error)
	// VerifyEmail uses the account's verify code whose hash is hash: in
	// one transaction it deletes the code, makes email (the account's
	// pending email) its Email, and appends e. ErrNotFound, and nothing
	// changed, when no such code exists or email is no longer pending; a
	// *ConflictError for "email" when another account has verified it.
	VerifyEmail(ctx context.Context, accountID, email string, hash []byte, e AuthEvent) error
	// ResetPassword uses the account's reset code whose hash is
	// codeHash: in one transaction it deletes the code, sets the
	// password hash, clears the failed-login counter unless the account
	// has a second factor on (whose wrong codes the counter limits too,
	// so a reset must not buy more guesses), revokes every live session
	// and appends e. It returns how many sessions it revoked;
	// ErrNotFound, and nothing changed, when no such code exists.
	ResetPassword(ctx context.Context, accountID string, codeHash []byte, passwordHash string, e AuthEvent) (int, error)

	// EnqueueMail adds m to the mail queue.
	EnqueueMail(ctx context.Context, m QueuedMail) error
	// ClaimMail returns up to limit mails whose NextAt is at or before
	// now, oldest first, each moved to NextAt = until so that no other
	// sender takes it meanwhile.
	ClaimMail(ctx context.Context, now, until time.Time, limit int) ([]QueuedMail, error)
	// RetryMail records a failed send of mail id: its attempts and its
	// next try. ErrNotFound if it is no longer queued.
	RetryMail(ctx context.Context, id string, attempts int, next time.Time) error
	// DeleteMail removes mail id from the queue (sent, or given up).
	// Deleting a mail that is gone does nothing.
	DeleteMail(ctx context.Context, id string) error

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
