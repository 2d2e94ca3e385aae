package account

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/accountd/accountd/server/internal/argon2id"
	"github.com/accountd/accountd/server/internal/keyring"
	"github.com/accountd/accountd/store"
)

// Argon2Params are the Argon2id cost parameters for new password hashes.
type Argon2Params = argon2id.Params

// DefaultArgon2 are the production parameters: t=2, m=64 MiB, p=4.
var DefaultArgon2 = argon2id.Default

// Bounds and defaults of the settings, in one place: the sealed config's
// settings are checked against these too.
const (
	// DefaultMinPasswordLength is the default policy minimum.
	DefaultMinPasswordLength = 15
	// MinPasswordLengthFloor is the lowest minimum a config may set
	// (NIST SP 800-63B rev 4).
	MinPasswordLengthFloor = 8
	// MaxMinPasswordLength is the highest minimum a config may set, so
	// that every password manager's default can still sign up.
	MaxMinPasswordLength = 64
	// MaxPasswordLength is the upper bound on any password, in characters.
	MaxPasswordLength = 1024

	// DefaultThrottleAfter is how many failures an account may have
	// before each further attempt waits.
	DefaultThrottleAfter = 5
	// DefaultThrottleMaxDelay caps the wait between attempts.
	DefaultThrottleMaxDelay = 15 * time.Minute
	// MaxLockAfter is the most consecutive failures NIST SP 800-63B
	// allows before an account is locked; it is also the default.
	MaxLockAfter = 100
	// throttleBaseDelay is the first delay, doubled with each failure.
	throttleBaseDelay = time.Second

	// DefaultAuditRetention is how long audit events are kept.
	DefaultAuditRetention = 90 * 24 * time.Hour
	// MinAuditRetention is the shortest retention a config may set.
	MinAuditRetention = time.Hour
	defaultAuditPrune = time.Hour
	// defaultSessionPrune is how often ended sessions are deleted.
	defaultSessionPrune = time.Hour

	// clockLeeway is how far apart instances' and verifiers' clocks may
	// be: tokens are valid from that long before their issue, and retired
	// keys are kept that much longer.
	clockLeeway = time.Minute
)

// SigningAlgorithms are the JWS algorithms a config may choose: ES256,
// PS256, RS256 and EdDSA.
var SigningAlgorithms = keyring.Algorithms

// DefaultRevocationPoll is Config.RevocationPoll's default.
const DefaultRevocationPoll = 25 * time.Millisecond

// DefaultSigningAlgorithm is Config.SigningAlgorithm's default: ECDSA
// P-256 signs in tens of microseconds where RSA-3072 takes milliseconds,
// and every JOSE library verifies it.
const DefaultSigningAlgorithm = "ES256"

// Config configures a Service. Zero fields take the default documented on
// each.
type Config struct {
	// Store holds every shared fact. Required.
	Store store.Store
	// MasterKey (32 bytes) encrypts signing keys and TOTP secrets at
	// rest. Required.
	MasterKey []byte
	// PreviousMasterKey (32 bytes), set while a master key rotation is
	// under way, still opens what was sealed before it; nothing new is
	// sealed under it. Empty otherwise.
	PreviousMasterKey []byte

	// Argon2 are the cost parameters for new hashes. Default DefaultArgon2.
	Argon2 Argon2Params
	// HashConcurrency is how many Argon2 hashes may run at once.
	// Default: as many as the cores hold, each hash taking as many cores
	// as it has lanes (Argon2.Threads, up to runtime.NumCPU()); at
	// least 1.
	HashConcurrency int
	// WorkConcurrency is how many cores CPU-bound operations may keep
	// busy at once: Argon2 hashes (as many as their lanes) and, in a
	// server, handshake decryptions (one each). They share these slots
	// (Work), so a flood of one kind cannot add its cores to the other's,
	// and a client that used them little goes first whatever the kind.
	// Default the larger of runtime.NumCPU() and what HashConcurrency
	// hashes take: no more work than there are cores, so that a hash
	// started runs at full speed and a legitimate client waits for one
	// hash ahead of it at most, not for hashes slowed by a flood of
	// decryptions beside them.
	WorkConcurrency int
	// HashWait is how long a request waits for a hashing slot beyond
	// the wait its place in the queue should take at the hashes'
	// measured rate (counted up to HashWait) before it is answered busy:
	// at most twice HashWait. Default 5 s.
	HashWait time.Duration
	// HashesPerClient is how many hashes one client IP (IPv6: its /64)
	// may have running at once, and how many waiting besides; more are
	// answered busy at once. Waiting hashes go in order of how little
	// their client hashed lately, so a flood from many IPs cannot keep an
	// occasional client waiting. Default 1.
	HashesPerClient int
	// MinPasswordLength is the policy minimum, MinPasswordLengthFloor to
	// MaxMinPasswordLength. Default 15.
	MinPasswordLength int

	// SigningAlgorithm is the JWS algorithm of the signing keys this
	// instance writes, one of SigningAlgorithms. Default "ES256". A
	// change takes effect at the next key rotation: until then the
	// current key signs, whatever its algorithm.
	SigningAlgorithm string
	// Issuer is the "iss" claim. Default "accountd".
	Issuer string
	// Audience, when set, is the "aud" claim and is required on verify.
	Audience string
	// ServiceName is the name users know the service by (mail, the
	// issuer shown by authenticator apps). Default DefaultServiceName.
	ServiceName string
	// TokenLifetime is how long a token is valid. Default 1 h.
	TokenLifetime time.Duration
	// SessionLifetime is a session's absolute lifetime. Default 24 h.
	SessionLifetime time.Duration

	// StoreTimeout bounds each database call; idempotent reads that fail
	// on a broken connection are tried again within it. Default 10 s,
	// longer than the ~6 s a Galera cluster stalls its commits when a
	// node dies (until its suspect timeout evicts the node).
	StoreTimeout time.Duration
	// RevocationPoll is how often the revocation log is read: every
	// instance learns of a revocation made at another one within about
	// this time (plus the read's own). Default 25 ms.
	RevocationPoll time.Duration
	// KeyRotationInterval is how long a signing key signs before the next
	// one is written. Default 30 days.
	KeyRotationInterval time.Duration
	// KeyPublishLead is how long a new signing key is published in the
	// JWKS before it signs. It must exceed JWKSMaxAge by a quarter of
	// itself (at most 30 s), the time every instance takes to see the new
	// key. Default 10 min.
	KeyPublishLead time.Duration
	// JWKSMaxAge is how long verifiers may cache the JWKS (its
	// Cache-Control max-age). Default 5 min.
	JWKSMaxAge time.Duration

	// ThrottleAfter is how many consecutive failed logins an account may
	// have before each further attempt must wait: 1 s after the
	// ThrottleAfter-th failure, doubling with each failure up to
	// ThrottleMaxDelay. Default 5.
	ThrottleAfter int
	// ThrottleMaxDelay caps the wait between attempts. Default 15 min.
	ThrottleMaxDelay time.Duration
	// LockAfter is how many consecutive failed logins lock an account
	// until an administrator unlocks it: 1 to 100 (NIST SP 800-63B
	// allows no more than 100). Default 100.
	LockAfter int

	// AuditRetention is how long auth_events rows are kept. Default 90
	// days, at least 1 h.
	AuditRetention time.Duration
	// AuditPruneInterval is how often the pruner deletes older rows.
	// Default 1 h.
	AuditPruneInterval time.Duration
	// SessionPruneInterval is how often the session pruner deletes the
	// sessions past their absolute lifetime. Default 1 h.
	SessionPruneInterval time.Duration
	// AuditAggregateInterval is the interval over which refusals tied to
	// no account (an unknown user's failed login, a token with a bad
	// signature, a rate-limited request) are aggregated: per client IP
	// (IPv6: /64), type and reason, the first is written at once and the
	// rest as one row with their count at the interval's end. Default
	// 1 min.
	AuditAggregateInterval time.Duration

	// Mail is how the Service sends mail; mail, and with it verification,
	// password reset and notices, is off while Mail.Host is "".
	Mail MailConfig
	// RequireVerifiedEmail refuses login (email_unverified) to accounts
	// without a verified email, and mails them a code. It needs Mail.
	RequireVerifiedEmail bool
	// MailRequestsPerIP is how many mail-sending requests (signup with
	// an email, change_email, resend_verification,
	// request_password_reset) one client IP (IPv6: its /64) may make per
	// hour on this instance. Default 20.
	MailRequestsPerIP int
	// MailPollInterval is how often the mail sender looks for mail due
	// (queued by other instances, or waiting for a retry). Default 5 s.
	MailPollInterval time.Duration

	// Metrics receives the Service's metrics. Default: a registry of its
	// own (see Service.Metrics).
	Metrics prometheus.Registerer
	// Logger receives structured logs. Default discards.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// hashWeight is how many cores one hash keeps busy: one per lane, up to
// the machine's.
func (c *Config) hashWeight() int { return max(1, min(int(c.Argon2.Threads), runtime.NumCPU())) }

// SetDefaults fills the zero fields with their defaults.
func (c *Config) SetDefaults() {
	if c.Argon2 == (Argon2Params{}) {
		c.Argon2 = DefaultArgon2
	}
	if c.HashConcurrency <= 0 {
		c.HashConcurrency = max(1, runtime.NumCPU()/c.hashWeight())
	}
	if c.WorkConcurrency <= 0 {
		c.WorkConcurrency = max(runtime.NumCPU(), c.HashConcurrency*c.hashWeight())
	}
	if c.HashesPerClient <= 0 {
		c.HashesPerClient = 1
	}
	if c.HashWait <= 0 {
		c.HashWait = 5 * time.Second
	}
	if c.MinPasswordLength == 0 {
		c.MinPasswordLength = DefaultMinPasswordLength
	}
	if c.SigningAlgorithm == "" {
		c.SigningAlgorithm = DefaultSigningAlgorithm
	}
	if c.Issuer == "" {
		c.Issuer = "accountd"
	}
	if c.ServiceName == "" {
		c.ServiceName = DefaultServiceName
	}
	if c.TokenLifetime <= 0 {
		c.TokenLifetime = time.Hour
	}
	if c.SessionLifetime <= 0 {
		c.SessionLifetime = 24 * time.Hour
	}
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = 10 * time.Second
	}
	if c.RevocationPoll <= 0 {
		c.RevocationPoll = DefaultRevocationPoll
	}
	if c.KeyRotationInterval <= 0 {
		c.KeyRotationInterval = 30 * 24 * time.Hour
	}
	if c.JWKSMaxAge <= 0 {
		c.JWKSMaxAge = 5 * time.Minute
	}
	if c.KeyPublishLead <= 0 {
		c.KeyPublishLead = 10 * time.Minute
	}
	if c.ThrottleAfter == 0 {
		c.ThrottleAfter = DefaultThrottleAfter
	}
	if c.ThrottleMaxDelay == 0 {
		c.ThrottleMaxDelay = DefaultThrottleMaxDelay
	}
	if c.LockAfter == 0 {
		c.LockAfter = MaxLockAfter
	}
	if c.AuditRetention == 0 {
		c.AuditRetention = DefaultAuditRetention
	}
	if c.AuditPruneInterval == 0 {
		c.AuditPruneInterval = defaultAuditPrune
	}
	if c.SessionPruneInterval == 0 {
		c.SessionPruneInterval = defaultSessionPrune
	}
	if c.AuditAggregateInterval <= 0 {
		c.AuditAggregateInterval = time.Minute
	}
	if c.MailRequestsPerIP <= 0 {
		c.MailRequestsPerIP = 20
	}
	if c.MailPollInterval <= 0 {
		c.MailPollInterval = 5 * time.Second
	}
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports a missing dependency or the first setting out of its
// bounds. Call it after SetDefaults.
func (c *Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("account: config: store is required")
	case len(c.MasterKey) != 32:
		return errors.New("account: config: master key must be 32 bytes")
	case len(c.PreviousMasterKey) != 0 && len(c.PreviousMasterKey) != 32:
		return errors.New("account: config: previous master key must be 32 bytes")
	}
	return c.checkSettings()
}

// ValidateSettings reports the first setting out of its bounds, with the
// zero fields taken as their defaults; the store and the master key are
// not checked. It is what a settings editor checks a change against.
func (c Config) ValidateSettings() error {
	c.SetDefaults()
	return c.checkSettings()
}

// checkSettings is Validate without the dependencies.
func (c *Config) checkSettings() error {
	switch {
	case c.MinPasswordLength < MinPasswordLengthFloor || c.MinPasswordLength > MaxMinPasswordLength:
		return fmt.Errorf("account: config: minimum password length must be between %d and %d", MinPasswordLengthFloor, MaxMinPasswordLength)
	case !slices.Contains(SigningAlgorithms, c.SigningAlgorithm):
		return fmt.Errorf("account: config: signing algorithm %q (want one of %v)", c.SigningAlgorithm, SigningAlgorithms)
	case c.KeyPublishLead-c.keyPolicy().ReloadEvery() < c.JWKSMaxAge:
		return fmt.Errorf("account: config: key publish lead %v is too short: it must exceed the JWKS max-age %v by a quarter of itself (at most 30s)",
			c.KeyPublishLead, c.JWKSMaxAge)
	case c.KeyRotationInterval < c.KeyPublishLead:
		return fmt.Errorf("account: config: key rotation interval %v is shorter than the publish lead %v", c.KeyRotationInterval, c.KeyPublishLead)
	case c.ThrottleAfter < 1 || c.ThrottleAfter > MaxLockAfter:
		return fmt.Errorf("account: config: throttle-after must be between 1 and %d failures", MaxLockAfter)
	case c.ThrottleMaxDelay < throttleBaseDelay:
		return fmt.Errorf("account: config: maximum throttle delay must be at least %v", throttleBaseDelay)
	case c.LockAfter < 1 || c.LockAfter > MaxLockAfter:
		return fmt.Errorf("account: config: lock-after must be between 1 and %d failures (NIST SP 800-63B)", MaxLockAfter)
	case c.AuditRetention < MinAuditRetention:
		return fmt.Errorf("account: config: audit retention must be at least %v", MinAuditRetention)
	case c.AuditPruneInterval < time.Millisecond:
		return errors.New("account: config: audit prune interval must be at least 1ms")
	case c.SessionPruneInterval < time.Millisecond:
		return errors.New("account: config: session prune interval must be at least 1ms")
	}
	if err := c.Argon2.Validate(); err != nil {
		return fmt.Errorf("account: config: %w", err)
	}
	if err := ValidateServiceName(c.ServiceName); err != nil {
		return fmt.Errorf("account: config: %w", err)
	}
	if err := c.Mail.check(); err != nil {
		return fmt.Errorf("account: config: %w", err)
	}
	if c.RequireVerifiedEmail && !c.Mail.Enabled() {
		return errors.New("account: config: requiring a verified email needs mail (an SMTP host)")
	}
	return nil
}

// DefaultServiceName is Config.ServiceName's default.
const DefaultServiceName = "accountd"

// MaxServiceNameLength bounds Config.ServiceName, in bytes.
const MaxServiceNameLength = 64

// ValidateServiceName checks a service name: at most
// MaxServiceNameLength bytes of printable text ("" is the default). It
// goes into mail headers and otpauth:// URIs, so no control or format
// character may pass.
func ValidateServiceName(name string) error {
	if len(name) > MaxServiceNameLength {
		return fmt.Errorf("service name is longer than %d bytes", MaxServiceNameLength)
	}
	if !utf8.ValidString(name) {
		return errors.New("service name is not valid UTF-8")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("service name holds the unprintable character %U", r)
		}
	}
	return nil
}

// keyPolicy is the signing-key rotation the config asks for.
func (c *Config) keyPolicy() keyring.Policy {
	return keyring.Policy{Interval: c.KeyRotationInterval, Lead: c.KeyPublishLead, Keep: c.TokenLifetime + clockLeeway}
}

// throttleDelay is how long after its last failure an account with n
// consecutive failures must wait before its password is checked again.
func (c *Config) throttleDelay(n int) time.Duration {
	if n < c.ThrottleAfter {
		return 0
	}
	shift := n - c.ThrottleAfter
	if shift >= 30 {
		return c.ThrottleMaxDelay
	}
	return min(throttleBaseDelay<<shift, c.ThrottleMaxDelay)
}
