package server

import (
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"math"
	"time"

	"github.com/accountd/accountd/server/account"
)

// Config configures a Server: the account rules' settings and the
// transport's. Zero fields take the default documented on each.
type Config struct {
	// Config configures the account rules.
	account.Config

	// Identity signs every handshake. Required.
	Identity ed25519.PrivateKey
	// TransportKey is the per-start RSA key; nil generates a fresh
	// RSA-3072 key in New.
	TransportKey *rsa.PrivateKey

	// HandshakeTimeout bounds the handshake. Default 10 s.
	HandshakeTimeout time.Duration
	// PingInterval is how often idle connections are pinged; one that
	// does not answer within the interval is closed. Default 30 s.
	PingInterval time.Duration
	// RequestTimeout bounds each operation. Default 15 s.
	RequestTimeout time.Duration
	// DisableConsole turns off the account console at /account/ (served
	// by default: a static page on the JavaScript SDK).
	DisableConsole bool
	// AllowedOrigins lists host patterns (path.Match syntax) of browser
	// origins allowed to open /ws. Default none: cross-origin browser
	// upgrades are refused; non-browser clients send no Origin.
	AllowedOrigins []string

	// RateLimit is how many requests per second one client IP may make,
	// counting every operation and every HTTP request (a WebSocket
	// upgrade is one). IPv6 clients are counted per /64. Default 10.
	RateLimit float64
	// RateBurst is how many requests a client IP may make at once before
	// RateLimit applies. Default 20.
	RateBurst int
	// RateLimitIPs bounds how many client IPs are tracked at once; past
	// it the least recently seen IP is forgotten. Default 65536 (a few
	// MiB).
	RateLimitIPs int
}

// Defaults of the transport's limits.
const (
	DefaultRateLimit    = 10
	DefaultRateBurst    = 20
	DefaultRateLimitIPs = 1 << 16
)

func (c *Config) setDefaults() {
	c.Config.SetDefaults()
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 15 * time.Second
	}
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.RateBurst == 0 {
		c.RateBurst = DefaultRateBurst
	}
	if c.RateLimitIPs == 0 {
		c.RateLimitIPs = DefaultRateLimitIPs
	}
}

func (c *Config) validate() error {
	switch {
	case len(c.Identity) != ed25519.PrivateKeySize:
		return errors.New("server: config: identity key is required")
	case c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0):
		return errors.New("server: config: rate limit must be a positive number of requests per second")
	case c.RateBurst < 1:
		return errors.New("server: config: rate burst must be at least 1")
	case c.RateLimitIPs < 1:
		return errors.New("server: config: rate-limited IP table size must be at least 1")
	}
	return c.Config.Validate()
}
