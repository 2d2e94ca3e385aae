package setup

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/accountd/accountd/server/account"
)

// ConfigVersion is the version of the settings format inside the sealed
// file (Config.Version).
const ConfigVersion = 1

// Database drivers a Config may name.
const (
	DriverSQLite = "sqlite"
	DriverMySQL  = "mysql"
)

// Key sizes.
const (
	// MasterKeySize is the size in bytes of Config.MasterKey.
	MasterKeySize = 32
)

// Signing algorithms of configs that do not name one.
const (
	// NewSigningAlgorithm is what Run writes into a new config that
	// names no signing algorithm.
	NewSigningAlgorithm = account.DefaultSigningAlgorithm
	// LegacySigningAlgorithm is what a config without a signing
	// algorithm signs with: configs were written without one while it
	// was the only default, and their verifiers may accept nothing else,
	// so an upgrade must not switch them unasked.
	LegacySigningAlgorithm = "PS256"
)

// SigningAlgorithmOrLegacy returns the signing algorithm s names, or
// LegacySigningAlgorithm when it names none.
func (s ServerSettings) SigningAlgorithmOrLegacy() string {
	if s.SigningAlgorithm == "" {
		return LegacySigningAlgorithm
	}
	return s.SigningAlgorithm
}

// Config is everything the server needs to start: it is the plaintext of the
// sealed config file. It holds secrets; print it with Redacted (String,
// GoString and LogValue redact too).
type Config struct {
	// Version is the settings format version, ConfigVersion.
	Version int `json:"version"`
	// Listen is the host:port the server listens on, e.g. "127.0.0.1:8080"
	// or ":8080" (every interface). Port 0 picks a free port.
	Listen string `json:"listen"`
	// Database says where the accounts live.
	Database Database `json:"database"`
	// MasterKey is MasterKeySize random bytes; it encrypts the JWT signing
	// keys at rest in the database.
	MasterKey []byte `json:"master_key"`
	// PreviousMasterKey is the master key before MasterKey while a master
	// key rotation (accountd keys rotate-master) is under way: it still
	// opens rows not yet resealed. Empty otherwise.
	PreviousMasterKey []byte `json:"previous_master_key,omitempty"`
	// IdentityKey is the server's long-term Ed25519 identity key
	// (ed25519.PrivateKeySize bytes); it signs every handshake.
	IdentityKey ed25519.PrivateKey `json:"identity_key"`
	// PreviousIdentityKey is the identity key before IdentityKey while
	// the overlap of an identity rotation runs (accountd identity
	// rotate): until PreviousIdentityUntil servers announce it beside
	// IdentityKey, so that clients pinned to it move to the new key
	// (protocol/SPEC.md §2.1). Empty otherwise; OpenConfig drops it once
	// the overlap has ended.
	PreviousIdentityKey ed25519.PrivateKey `json:"previous_identity_key,omitempty"`
	// PreviousIdentityUntil is the end of that overlap, in whole
	// seconds; zero without PreviousIdentityKey.
	PreviousIdentityUntil time.Time `json:"previous_identity_until,omitzero"`
	// Server holds optional tunables; zero values mean the server's
	// defaults.
	Server ServerSettings `json:"server"`
}

// Database names the store the server uses.
type Database struct {
	// Driver is DriverSQLite or DriverMySQL.
	Driver string `json:"driver"`
	// DSN is, for MySQL/MariaDB, a go-sql-driver/mysql DSN including the
	// password and the database name
	// ("user:pass@tcp(host:3306)/accountd?parseTime=true"); for SQLite,
	// the path of the database file.
	DSN string `json:"dsn"`
}

// ServerSettings are the optional tunables of the server. The zero value
// of every field means the server's default.
type ServerSettings struct {
	// TokenLifetime is how long an access token is valid. Default 1 h.
	TokenLifetime Duration `json:"token_lifetime,omitempty"`
	// SessionLifetime is the absolute lifetime of a session, refreshes
	// included. Default 24 h.
	SessionLifetime Duration `json:"session_lifetime,omitempty"`
	// Issuer is the JWT "iss" claim. Default: the server's choice.
	Issuer string `json:"issuer,omitempty"`
	// Audience is the JWT "aud" claim; empty means no "aud" claim.
	Audience string `json:"audience,omitempty"`
	// ServiceName is the name users know the service by: the sender name
	// of its mail and the issuer shown by authenticator apps. Default
	// "accountd".
	ServiceName string `json:"service_name,omitempty"`
	// SMTPHost is the SMTP server mail goes through; empty turns mail
	// (verification, password reset, notices) off.
	SMTPHost string `json:"smtp_host,omitempty"`
	// SMTPPort defaults to 587 (465 with SMTPTLS "tls").
	SMTPPort int `json:"smtp_port,omitempty"`
	// SMTPUsername and SMTPPassword authenticate to the SMTP server.
	SMTPUsername string `json:"smtp_username,omitempty"`
	SMTPPassword string `json:"smtp_password,omitempty"`
	// SMTPFrom is the sender address, optionally with a display name.
	SMTPFrom string `json:"smtp_from,omitempty"`
	// SMTPTLS is starttls (default), tls or none.
	SMTPTLS string `json:"smtp_tls,omitempty"`
	// MailTemplates is a folder of templates that replace the built-in
	// ones of the same name.
	MailTemplates string `json:"mail_templates,omitempty"`
	// RequireVerifiedEmail refuses login until the account's email is
	// verified.
	RequireVerifiedEmail bool `json:"require_verified_email,omitempty"`
	// AllowedOrigins are the browser origins (or origin host patterns)
	// allowed to open a WebSocket; empty means same-origin only.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// SigningAlgorithm is the JWT algorithm of new signing keys: "ES256",
	// "PS256", "RS256" or "EdDSA". Run writes NewSigningAlgorithm into a
	// new config; empty, in a config written before it did, means
	// LegacySigningAlgorithm. A change takes effect at the next key
	// rotation.
	SigningAlgorithm string `json:"signing_algorithm,omitempty"`
	// MinPasswordLength is the minimum length, in characters, of an account
	// password: 8 to 64. Default 15.
	MinPasswordLength int `json:"min_password_length,omitempty"`
	// Argon2 are the account password hashing parameters; nil means the
	// server's defaults (t=2, m=64 MiB, p=4).
	Argon2 *Argon2Params `json:"argon2,omitempty"`
	// RateLimit is the requests per second allowed per client IP.
	// Default 10.
	RateLimit float64 `json:"rate_limit,omitempty"`
	// RateBurst is the requests a client IP may make at once. Default 20.
	RateBurst int `json:"rate_burst,omitempty"`
	// ServiceRateLimit is the requests per second allowed per service
	// key (application backends). Default 5000.
	ServiceRateLimit int `json:"service_rate_limit,omitempty"`
	// ServiceRateBurst is the requests a service key may make at once.
	// Default 5000.
	ServiceRateBurst int `json:"service_rate_burst,omitempty"`
	// LockAfter is the consecutive failed logins that lock an account,
	// 1 to 100. Default 100.
	LockAfter int `json:"lock_after,omitempty"`
	// AuditRetention is how long the audit log keeps an event, at least
	// 1 h. Default 90 days.
	AuditRetention Duration `json:"audit_retention,omitempty"`
	// ThrottleAfter is the consecutive failed logins after which each
	// further attempt on the account waits. Default 5.
	ThrottleAfter int `json:"throttle_after,omitempty"`
	// ThrottleMaxDelay caps that wait. Default 15 min.
	ThrottleMaxDelay Duration `json:"throttle_max_delay,omitempty"`
	// TrustedProxies are the networks (CIDR, or single addresses) of the
	// reverse proxies and load balancers whose forwarding headers are
	// believed; empty means none.
	TrustedProxies []string `json:"trusted_proxies,omitempty"`
	// ClientIPHeader is the header the trusted proxies set,
	// "X-Forwarded-For" (default) or "Forwarded".
	ClientIPHeader string `json:"client_ip_header,omitempty"`
	// ProxyProtocol accepts a PROXY protocol header from trusted proxies.
	ProxyProtocol bool `json:"proxy_protocol,omitempty"`
	// DisableConsole turns off the account console at /account/.
	DisableConsole bool `json:"disable_account_console,omitempty"`
}

// Argon2Params are Argon2id cost parameters for account password hashes.
type Argon2Params struct {
	// Time is the number of passes, at least 1.
	Time uint32 `json:"time"`
	// MemoryKiB is the memory cost in KiB, at least 8 per thread.
	MemoryKiB uint32 `json:"memory_kib"`
	// Threads is the parallelism, at least 1.
	Threads uint8 `json:"threads"`
}

// Duration is a time.Duration that is written in JSON as a Go duration
// string ("1h30m").
type Duration time.Duration

// String returns the duration in Go syntax, e.g. "1h0m0s".
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON encodes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON decodes a Go duration string such as "15m" or "24h".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"1h30m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Validate reports the first problem that would stop the server from
// starting with c, or nil.
func (c *Config) Validate() error {
	if c.Version != ConfigVersion {
		return fmt.Errorf("setup: config version %d, want %d", c.Version, ConfigVersion)
	}
	if err := ValidateListen(c.Listen); err != nil {
		return err
	}
	if err := c.Database.Validate(); err != nil {
		return err
	}
	if len(c.MasterKey) != MasterKeySize {
		return fmt.Errorf("setup: master key is %d bytes, want %d", len(c.MasterKey), MasterKeySize)
	}
	if n := len(c.PreviousMasterKey); n != 0 && n != MasterKeySize {
		return fmt.Errorf("setup: previous master key is %d bytes, want %d", n, MasterKeySize)
	}
	if err := checkIdentityKey("identity key", c.IdentityKey); err != nil {
		return err
	}
	if err := c.checkPreviousIdentity(); err != nil {
		return err
	}
	return c.Server.Validate()
}

// checkIdentityKey checks the size of k and that its public half is the one
// its seed derives, so a damaged key cannot sign handshakes that no client
// accepts. what names the key in the error.
func checkIdentityKey(what string, k ed25519.PrivateKey) error {
	if len(k) != ed25519.PrivateKeySize {
		return fmt.Errorf("setup: %s is %d bytes, want %d", what, len(k), ed25519.PrivateKeySize)
	}
	derived := ed25519.NewKeyFromSeed(k.Seed())
	if subtle.ConstantTimeCompare(derived, k) != 1 {
		return fmt.Errorf("setup: %s is inconsistent (public half does not match the seed)", what)
	}
	return nil
}

// checkPreviousIdentity checks the previous identity key like the current
// one, and that it comes with the end of its overlap.
func (c *Config) checkPreviousIdentity() error {
	if len(c.PreviousIdentityKey) == 0 {
		if !c.PreviousIdentityUntil.IsZero() {
			return errors.New("setup: the end of an identity overlap without a previous identity key")
		}
		return nil
	}
	if err := checkIdentityKey("previous identity key", c.PreviousIdentityKey); err != nil {
		return err
	}
	if u := c.PreviousIdentityUntil.Unix(); c.PreviousIdentityUntil.IsZero() || u < 1 || u > 1<<53-1 {
		return errors.New("setup: previous identity key without a valid end of its overlap")
	}
	if subtle.ConstantTimeCompare(c.PreviousIdentityKey, c.IdentityKey) == 1 {
		return errors.New("setup: previous identity key is the identity key")
	}
	return nil
}

// ErrIdentityOverlap is returned by RotateIdentity while the overlap of an
// earlier rotation runs.
var ErrIdentityOverlap = errors.New("setup: the previous identity key is still announced")

// RotateIdentity gives c a new identity key from crypto/rand. With a
// positive overlap the current key becomes the previous one until now +
// overlap (whole seconds); with 0 the current key is dropped and no
// previous key is announced, for a key that may have been compromised. A
// previous key whose overlap has ended is dropped first; one whose
// overlap still runs is ErrIdentityOverlap, unless force, which drops it:
// clients still pinned to it then see a changed key.
func (c *Config) RotateIdentity(now time.Time, overlap time.Duration, force bool) error {
	if overlap < 0 {
		return fmt.Errorf("setup: identity overlap %v is negative", overlap)
	}
	c.ExpirePreviousIdentity(now)
	if len(c.PreviousIdentityKey) != 0 && !force {
		return fmt.Errorf("%w until %s", ErrIdentityOverlap, c.PreviousIdentityUntil.UTC().Format(time.RFC3339))
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("setup: new identity key: %w", err)
	}
	until := time.Unix(now.Add(overlap).Unix(), 0).UTC()
	if overlap == 0 || !until.After(now) {
		c.PreviousIdentityKey, c.PreviousIdentityUntil = nil, time.Time{}
	} else {
		c.PreviousIdentityKey, c.PreviousIdentityUntil = c.IdentityKey, until
	}
	c.IdentityKey = key
	return c.checkPreviousIdentity()
}

// ExpirePreviousIdentity drops the previous identity key once its overlap
// has ended at now, and reports whether it did: servers stop announcing
// it then by themselves.
func (c *Config) ExpirePreviousIdentity(now time.Time) bool {
	if len(c.PreviousIdentityKey) == 0 || now.Before(c.PreviousIdentityUntil) {
		return false
	}
	clear(c.PreviousIdentityKey)
	c.PreviousIdentityKey, c.PreviousIdentityUntil = nil, time.Time{}
	return true
}

// ValidateListen checks that addr is host:port with a numeric port from 0
// to 65535. The host may be empty (every interface).
func ValidateListen(addr string) error {
	if addr == "" {
		return errors.New("setup: listen address is empty (want host:port, e.g. 127.0.0.1:8080)")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("setup: listen address %q is not host:port: %w", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("setup: listen address %q: port must be a number from 0 to 65535", addr)
	}
	return nil
}

// Validate checks the driver and the DSN. A MySQL DSN must parse and name
// a database.
func (d Database) Validate() error {
	switch d.Driver {
	case DriverSQLite:
		if d.DSN == "" {
			return errors.New("setup: sqlite database path is empty")
		}
	case DriverMySQL:
		if d.DSN == "" {
			return errors.New("setup: mysql DSN is empty")
		}
		c, err := mysql.ParseDSN(d.DSN)
		if err != nil {
			// The driver's message can quote the DSN, password included.
			return errors.New("setup: mysql DSN does not parse (want user:password@tcp(host:3306)/dbname)")
		}
		if c.DBName == "" {
			return errors.New("setup: mysql DSN names no database (want user:password@tcp(host:3306)/dbname)")
		}
	case "":
		return errors.New(`setup: database driver is empty (want "sqlite" or "mysql")`)
	default:
		return fmt.Errorf(`setup: unknown database driver %q (want "sqlite" or "mysql")`, d.Driver)
	}
	return nil
}

// WithAddr returns d with the MariaDB/MySQL server address replaced by
// addr (host:port), the user, password and database name kept: one
// instance of several can use its nearest node of a cluster. It is an
// error for the embedded SQLite store.
func (d Database) WithAddr(addr string) (Database, error) {
	if d.Driver != DriverMySQL {
		return d, fmt.Errorf("setup: a database address is for mysql; this config uses %s", d.Driver)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return d, fmt.Errorf("setup: database address %q is not host:port", addr)
	}
	c, err := mysql.ParseDSN(d.DSN)
	if err != nil {
		return d, errors.New("setup: mysql DSN does not parse (want user:password@tcp(host:3306)/dbname)")
	}
	c.Net, c.Addr = "tcp", addr
	d.DSN = c.FormatDSN()
	return d, nil
}

// RedactedDSN returns the DSN with the password replaced by "REDACTED".
// A MySQL DSN that does not parse is replaced whole.
func (d Database) RedactedDSN() string {
	if d.Driver != DriverMySQL {
		return d.DSN
	}
	c, err := mysql.ParseDSN(d.DSN)
	if err != nil {
		return "REDACTED (unparsable DSN)"
	}
	if c.Passwd != "" {
		c.Passwd = "REDACTED"
	}
	return c.FormatDSN()
}

// String returns the driver and the redacted DSN.
func (d Database) String() string { return d.Driver + " " + d.RedactedDSN() }

// Validate checks the optional tunables: durations positive when set,
// parameters within sane bounds.
func (s ServerSettings) Validate() error {
	if s.TokenLifetime < 0 {
		return fmt.Errorf("setup: token lifetime %v is negative", s.TokenLifetime)
	}
	if s.SessionLifetime < 0 {
		return fmt.Errorf("setup: session lifetime %v is negative", s.SessionLifetime)
	}
	for _, o := range s.AllowedOrigins {
		if o == "" || strings.ContainsAny(o, " \t\r\n") {
			return fmt.Errorf("setup: allowed origin %q is empty or contains spaces", o)
		}
	}
	if s.SigningAlgorithm != "" && !slices.Contains(account.SigningAlgorithms, s.SigningAlgorithm) {
		return fmt.Errorf("setup: signing algorithm %q not supported (want one of %v)", s.SigningAlgorithm, account.SigningAlgorithms)
	}
	if s.MinPasswordLength != 0 && (s.MinPasswordLength < account.MinPasswordLengthFloor || s.MinPasswordLength > account.MaxMinPasswordLength) {
		return fmt.Errorf("setup: minimum password length %d is outside %d to %d", s.MinPasswordLength, account.MinPasswordLengthFloor, account.MaxMinPasswordLength)
	}
	if s.RateLimit < 0 || s.RateLimit > 1e6 || s.RateLimit != s.RateLimit {
		return fmt.Errorf("setup: rate limit %v is outside 0 to 1000000 requests a second", s.RateLimit)
	}
	if s.RateBurst < 0 || s.RateBurst > 1e6 {
		return fmt.Errorf("setup: rate burst %d is outside 0 to 1000000", s.RateBurst)
	}
	if s.ServiceRateLimit < 0 || s.ServiceRateLimit > 1e6 || s.ServiceRateBurst < 0 || s.ServiceRateBurst > 1e6 {
		return fmt.Errorf("setup: service rate limit %d or burst %d is outside 0 to 1000000", s.ServiceRateLimit, s.ServiceRateBurst)
	}
	if s.LockAfter < 0 || s.LockAfter > account.MaxLockAfter {
		return fmt.Errorf("setup: lock-after %d is outside 1 to %d failures", s.LockAfter, account.MaxLockAfter)
	}
	if s.AuditRetention != 0 && time.Duration(s.AuditRetention) < account.MinAuditRetention {
		return fmt.Errorf("setup: audit retention %v is under %v", s.AuditRetention, account.MinAuditRetention)
	}
	if s.ThrottleAfter < 0 || s.ThrottleAfter > account.MaxLockAfter {
		return fmt.Errorf("setup: throttle-after %d is outside 1 to %d failures", s.ThrottleAfter, account.MaxLockAfter)
	}
	if s.ThrottleMaxDelay < 0 {
		return fmt.Errorf("setup: throttle max delay %v is negative", s.ThrottleMaxDelay)
	}
	if _, err := ParseTrustedProxies(s.TrustedProxies); err != nil {
		return err
	}
	if a := s.Argon2; a != nil {
		p := account.Argon2Params{Time: a.Time, MemoryKiB: a.MemoryKiB, Threads: a.Threads}
		if err := p.Validate(); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	return nil
}

// IdentityFingerprint returns the fingerprint clients show for the
// identity key: "SHA256:" and the unpadded standard base64 of the SHA-256
// of the public key. It is "" when the key is malformed.
func (c *Config) IdentityFingerprint() string { return keyFingerprint(c.IdentityKey) }

// PreviousIdentityFingerprint is IdentityFingerprint for the previous
// identity key; "" when there is none.
func (c *Config) PreviousIdentityFingerprint() string { return keyFingerprint(c.PreviousIdentityKey) }

func keyFingerprint(k ed25519.PrivateKey) string {
	if len(k) != ed25519.PrivateKeySize {
		return ""
	}
	return Fingerprint(k.Public().(ed25519.PublicKey))
}

// Fingerprint returns "SHA256:" and the unpadded standard base64 of the
// SHA-256 of pub, the format of SSH fingerprints.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// redactedConfig is Config as Redacted prints it.
type redactedConfig struct {
	Version     int      `json:"version"`
	Listen      string   `json:"listen"`
	Database    Database `json:"database"`
	MasterKey   string   `json:"master_key"`
	Previous    string   `json:"previous_master_key,omitempty"`
	IdentityKey string   `json:"identity_key"`
	Fingerprint string   `json:"identity_key_fingerprint"`
	// The previous identity key, during a rotation's overlap.
	PreviousIdentity    string         `json:"previous_identity_key,omitempty"`
	PreviousFingerprint string         `json:"previous_identity_key_fingerprint,omitempty"`
	PreviousUntil       time.Time      `json:"previous_identity_until,omitzero"`
	Server              ServerSettings `json:"server"`
}

// Redacted returns c as indented JSON fit to print: the database password,
// the SMTP password, the master key and the identity private keys (the
// current and, during a rotation's overlap, the previous one) are
// replaced by "REDACTED", and the identity keys' fingerprints are shown
// instead.
func (c *Config) Redacted() string {
	server := c.Server
	if server.SMTPPassword != "" {
		server.SMTPPassword = "REDACTED"
	}
	var previous string
	if len(c.PreviousMasterKey) != 0 {
		previous = "REDACTED (a master key rotation is under way)"
	}
	r := redactedConfig{
		Version:     c.Version,
		Listen:      c.Listen,
		Database:    Database{Driver: c.Database.Driver, DSN: c.Database.RedactedDSN()},
		MasterKey:   "REDACTED",
		Previous:    previous,
		IdentityKey: "REDACTED",
		Fingerprint: c.IdentityFingerprint(),
		Server:      server,
	}
	if len(c.PreviousIdentityKey) != 0 {
		r.PreviousIdentity = "REDACTED"
		r.PreviousFingerprint = c.PreviousIdentityFingerprint()
		r.PreviousUntil = c.PreviousIdentityUntil.UTC()
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		// Only a Duration or a string could be in r; neither fails.
		return "setup: cannot print config: " + err.Error()
	}
	return string(b)
}

// String returns Redacted, so that printing a Config never shows a secret.
func (c Config) String() string { return c.Redacted() }

// GoString returns Redacted, for %#v.
func (c Config) GoString() string { return c.Redacted() }

// LogValue makes slog log the redacted config.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.Redacted()) }
