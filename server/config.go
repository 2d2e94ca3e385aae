package server

import (
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/accountd/accountd/store"
)

// Config configures a Service and a Server. Zero fields take the default
// documented on each.
type Config struct {
	// Store holds every shared fact. Required.
	Store store.Store
	// MasterKey (32 bytes) encrypts signing keys at rest. Required.
	MasterKey []byte
	// Identity signs every hello. Required.
	Identity ed25519.PrivateKey
	// TransportKey is the per-start RSA key; nil generates a fresh
	// RSA-3072 key in New.
	TransportKey *rsa.PrivateKey

	// Argon2 are the cost parameters for new hashes. Default DefaultArgon2.
	Argon2 Argon2Params
	// HashConcurrency is how many Argon2 hashes may run at once.
	// Default runtime.NumCPU().
	HashConcurrency int
	// HashWait is how long a request waits for a hashing slot before it
	// is answered busy. Default 5 s.
	HashWait time.Duration
	// MinPasswordLength is the policy minimum. Default 15, never below 8.
	MinPasswordLength int

	// SigningAlgorithm is "PS256" (default) or "RS256".
	SigningAlgorithm string
	// Issuer is the "iss" claim. Default "accountd".
	Issuer string
	// Audience, when set, is the "aud" claim and is required on verify.
	Audience string
	// TokenLifetime is how long a token is valid. Default 1 h.
	TokenLifetime time.Duration
	// SessionLifetime is a session's absolute lifetime. Default 24 h.
	SessionLifetime time.Duration

	// HandshakeTimeout bounds the handshake. Default 10 s.
	HandshakeTimeout time.Duration
	// PingInterval is how often idle connections are pinged; one that
	// does not answer within the interval is closed. Default 30 s.
	PingInterval time.Duration
	// RequestTimeout bounds each operation. Default 15 s.
	RequestTimeout time.Duration
	// StoreTimeout bounds each database call; idempotent reads that fail
	// on a broken connection are tried again within it. Default 5 s.
	StoreTimeout time.Duration
	// KeyRotationInterval is how long a signing key signs before the next
	// one is written. Default 30 days.
	KeyRotationInterval time.Duration
	// KeyPublishLead is how long a new signing key is published in the
	// JWKS before it signs. It must exceed JWKSMaxAge by a quarter of
	// itself (at most 30 s), the time every instance takes to see the new
	// key. Default 10 min.
	KeyPublishLead time.Duration
	// JWKSMaxAge is the Cache-Control max-age of the JWKS. Default 5 min.
	JWKSMaxAge time.Duration
	// AllowedOrigins lists host patterns (path.Match syntax) of browser
	// origins allowed to open /ws. Default none: cross-origin browser
	// upgrades are refused; non-browser clients send no Origin.
	AllowedOrigins []string

	// Limits holds the abuse limits and the audit log settings; see
	// limits_config.go.
	Limits

	// Logger receives structured logs. Default discards.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Argon2 == (Argon2Params{}) {
		c.Argon2 = DefaultArgon2
	}
	if c.HashConcurrency <= 0 {
		c.HashConcurrency = runtime.NumCPU()
	}
	if c.HashWait <= 0 {
		c.HashWait = 5 * time.Second
	}
	if c.MinPasswordLength == 0 {
		c.MinPasswordLength = DefaultMinPasswordLength
	}
	if c.SigningAlgorithm == "" {
		c.SigningAlgorithm = "PS256"
	}
	if c.Issuer == "" {
		c.Issuer = "accountd"
	}
	if c.TokenLifetime <= 0 {
		c.TokenLifetime = time.Hour
	}
	if c.SessionLifetime <= 0 {
		c.SessionLifetime = 24 * time.Hour
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 15 * time.Second
	}
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = 5 * time.Second
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
	c.Limits.setDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("server: config: store is required")
	case len(c.MasterKey) != 32:
		return errors.New("server: config: master key must be 32 bytes")
	case len(c.Identity) != ed25519.PrivateKeySize:
		return errors.New("server: config: identity key is required")
	case c.MinPasswordLength < MinPasswordLengthFloor || c.MinPasswordLength > MaxPasswordLength:
		return fmt.Errorf("server: config: minimum password length must be between %d and %d", MinPasswordLengthFloor, MaxPasswordLength)
	case c.SigningAlgorithm != "PS256" && c.SigningAlgorithm != "RS256":
		return fmt.Errorf("server: config: signing algorithm %q (want PS256 or RS256)", c.SigningAlgorithm)
	case c.Argon2.Time == 0 || c.Argon2.MemoryKiB < 8*uint32(c.Argon2.Threads) || c.Argon2.Threads == 0:
		return errors.New("server: config: invalid Argon2 parameters")
	case c.KeyPublishLead-c.rotationPolicy().reloadEvery() < c.JWKSMaxAge:
		return fmt.Errorf("server: config: key publish lead %v is too short: it must exceed the JWKS max-age %v by a quarter of itself (at most 30s)",
			c.KeyPublishLead, c.JWKSMaxAge)
	case c.KeyRotationInterval < c.KeyPublishLead:
		return fmt.Errorf("server: config: key rotation interval %v is shorter than the publish lead %v", c.KeyRotationInterval, c.KeyPublishLead)
	}
	return c.Limits.validate()
}

// rotationPolicy is the signing-key rotation the config asks for.
func (c *Config) rotationPolicy() rotationPolicy {
	return rotationPolicy{Interval: c.KeyRotationInterval, Lead: c.KeyPublishLead, Keep: c.TokenLifetime + clockLeeway}
}
