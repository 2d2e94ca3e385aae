package server

import (
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"runtime"
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
	// PreviousIdentity is the identity key before Identity while a
	// rotation's overlap runs (accountd identity rotate), nil otherwise.
	// Until PreviousIdentityUntil, version 3 handshakes announce it beside
	// Identity and it signs them too, and version 2 handshakes present it
	// instead of Identity; from then on the server no longer uses it
	// (SPEC.md §2.1).
	PreviousIdentity ed25519.PrivateKey
	// PreviousIdentityUntil is the end of the overlap. Required with
	// PreviousIdentity.
	PreviousIdentityUntil time.Time
	// TransportKey is the per-start RSA key; nil generates a fresh
	// RSA-3072 key in New.
	TransportKey *rsa.PrivateKey

	// HandshakeTimeout bounds the handshake. Default 10 s.
	HandshakeTimeout time.Duration
	// HandshakeConcurrency is how many handshake RSA decryptions run at
	// once, on the WorkConcurrency slots they share with the password
	// hashes; the others wait, queued fairly across client IPs (each IP
	// holds at most one running and one waiting). Default
	// runtime.NumCPU().
	HandshakeConcurrency int
	// HandshakesPerClient is how many handshake decryptions one client
	// IP may have running at once, and how many waiting besides; more are
	// closed busy at once. Default 1.
	HandshakesPerClient int
	// HandshakeWait is how long a handshake waits for its decryption to
	// start beyond the wait its place in the queue should take at the
	// decryptions' measured rate (counted up to HandshakeWait) before the
	// connection is closed busy (close code 4002). Default 2 s.
	HandshakeWait time.Duration
	// PingInterval is how often idle connections are pinged; one that
	// does not answer within the interval is closed. Default 30 s.
	PingInterval time.Duration
	// IdleTimeout closes a handshaken connection that has sent no
	// request for this long (close code 4003; clients reconnect when they
	// next need to). Default 10 min.
	IdleTimeout time.Duration
	// MaxConns caps the TCP connections open at once on the Listener;
	// past it, new ones are closed as soon as they are accepted. Default:
	// the process's file-descriptor limit less 256 kept for the database
	// and files (at least 64), or 10000 where the limit is unknown.
	MaxConns int
	// MaxConnsPerIP caps the TCP connections one client IP (IPv6: one
	// /64) may have open at once on the Listener. Default 64.
	MaxConnsPerIP int
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
	// TrustedProxies are the networks of the reverse proxies and load
	// balancers in front of the server. For a connection from one of
	// them the client IP is taken from ClientIPHeader (the rightmost
	// address that is not itself a trusted proxy) and, with
	// ProxyProtocol, from a PROXY protocol header; every other peer's
	// headers are ignored. Default none: the client IP is the peer's.
	TrustedProxies []netip.Prefix
	// ClientIPHeader is the header trusted proxies set: HeaderXForwardedFor
	// (default) or HeaderForwarded. Only one is read, because a proxy
	// that sets one passes the other through from the client unchanged.
	ClientIPHeader string
	// ProxyProtocol accepts a PROXY protocol (v1 or v2) header from
	// trusted proxies, for TCP load balancers; it is applied by the
	// listener ProxyListener returns. A header from any other peer ends
	// its connection.
	ProxyProtocol bool

	// HashRate is how many requests per second one client IP may make
	// that verify or hash a password (login, signup), on top of
	// RateLimit: each costs a core for as long as a hash takes, so an IP
	// gets about a hash's share of the machine, not a tenth of a second
	// per request. IPv6 clients are counted per /64. Default 0.2 (12 a
	// minute).
	HashRate float64
	// HashBurst is how many such requests a client IP may make at once
	// before HashRate applies. Default 10.
	HashBurst int
	// ServiceRateLimit is how many requests per second one service key
	// may make, over every connection that presented it (service_auth);
	// such a connection does not count against its IP's RateLimit.
	// Default 5000.
	ServiceRateLimit float64
	// ServiceRateBurst is how many requests a service key may make at
	// once before ServiceRateLimit applies. Default 5000.
	ServiceRateBurst int

	// RateLimitIPs bounds how many client IPs are tracked at once; past
	// it the least recently seen IP is forgotten. Default 65536 (a few
	// MiB).
	RateLimitIPs int
}

// Client IP headers (Config.ClientIPHeader).
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderForwarded     = "Forwarded"
)

// Defaults of the transport's limits.
const (
	DefaultRateLimit    = 10
	DefaultRateBurst    = 20
	DefaultRateLimitIPs = 1 << 16
	DefaultHashRate     = 0.2
	DefaultHashBurst    = 10

	DefaultIdleTimeout   = 10 * time.Minute
	DefaultMaxConnsPerIP = 64
	// reservedFDs are the file descriptors MaxConns leaves for the
	// database pool, the log and files.
	reservedFDs = 256

	DefaultServiceRateLimit = 5000
	DefaultServiceRateBurst = 5000
)

// defaultMaxConns is MaxConns' default, from the file-descriptor limit.
func defaultMaxConns() int {
	n, err := fdLimit()
	if err != nil || n > 1<<30 {
		return 10000
	}
	return max(64, int(n)-reservedFDs)
}

func (c *Config) setDefaults() {
	c.Config.SetDefaults()
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.HandshakeConcurrency <= 0 {
		c.HandshakeConcurrency = runtime.NumCPU()
	}
	if c.HandshakesPerClient <= 0 {
		c.HandshakesPerClient = 1
	}
	if c.HandshakeWait <= 0 {
		c.HandshakeWait = 2 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxConns <= 0 {
		c.MaxConns = defaultMaxConns()
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = DefaultMaxConnsPerIP
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
	if c.HashRate == 0 {
		c.HashRate = DefaultHashRate
	}
	if c.HashBurst == 0 {
		c.HashBurst = DefaultHashBurst
	}
	if c.RateLimitIPs == 0 {
		c.RateLimitIPs = DefaultRateLimitIPs
	}
	if c.ServiceRateLimit == 0 {
		c.ServiceRateLimit = DefaultServiceRateLimit
	}
	if c.ServiceRateBurst == 0 {
		c.ServiceRateBurst = DefaultServiceRateBurst
	}
	if c.ClientIPHeader == "" {
		c.ClientIPHeader = HeaderXForwardedFor
	}
}

// ValidateSettings reports the first setting out of its bounds, with the
// zero fields taken as their defaults; the store, the master key and the
// identity key are not checked. It is what a settings editor checks a
// change against.
func (c Config) ValidateSettings() error {
	c.setDefaults()
	if err := c.checkSettings(); err != nil {
		return err
	}
	return c.Config.ValidateSettings()
}

func (c *Config) validate() error {
	if err := c.checkIdentity(); err != nil {
		return err
	}
	if err := c.checkSettings(); err != nil {
		return err
	}
	return c.Config.Validate()
}

// checkIdentity checks the identity key and the previous one.
func (c *Config) checkIdentity() error {
	if len(c.Identity) != ed25519.PrivateKeySize {
		return errors.New("server: config: identity key is required")
	}
	if c.PreviousIdentity == nil {
		return nil
	}
	switch {
	case len(c.PreviousIdentity) != ed25519.PrivateKeySize:
		return errors.New("server: config: previous identity key is not an Ed25519 private key")
	case c.PreviousIdentityUntil.Unix() < 1:
		return errors.New("server: config: previous identity key without the end of its overlap")
	case c.PreviousIdentity.Equal(c.Identity):
		return errors.New("server: config: previous identity key is the identity key")
	}
	return nil
}

// checkSettings is validate without the keys and the rules' settings.
func (c *Config) checkSettings() error {
	switch {
	case c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0):
		return errors.New("server: config: rate limit must be a positive number of requests per second")
	case c.RateBurst < 1:
		return errors.New("server: config: rate burst must be at least 1")
	case c.HashRate < 0 || math.IsNaN(c.HashRate) || math.IsInf(c.HashRate, 0):
		return errors.New("server: config: hash rate must be a positive number of requests per second")
	case c.HashBurst < 1:
		return errors.New("server: config: hash burst must be at least 1")
	case c.ServiceRateLimit < 0 || math.IsNaN(c.ServiceRateLimit) || math.IsInf(c.ServiceRateLimit, 0):
		return errors.New("server: config: service rate limit must be a positive number of requests per second")
	case c.ServiceRateBurst < 1:
		return errors.New("server: config: service rate burst must be at least 1")
	case c.RateLimitIPs < 1:
		return errors.New("server: config: rate-limited IP table size must be at least 1")
	case c.ClientIPHeader != HeaderXForwardedFor && c.ClientIPHeader != HeaderForwarded:
		return fmt.Errorf("server: config: client IP header %q (want %s or %s)", c.ClientIPHeader, HeaderXForwardedFor, HeaderForwarded)
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return errors.New("server: config: a trusted proxy network is invalid")
		}
	}
	return nil
}

// WithDefaults returns c with its zero fields set to their defaults, as
// New would run it.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}
