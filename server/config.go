package server

import (
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"math"
	"net/netip"
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

	DefaultServiceRateLimit = 5000
	DefaultServiceRateBurst = 5000
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
	if len(c.Identity) != ed25519.PrivateKeySize {
		return errors.New("server: config: identity key is required")
	}
	if err := c.checkSettings(); err != nil {
		return err
	}
	return c.Config.Validate()
}

// checkSettings is validate without the keys and the rules' settings.
func (c *Config) checkSettings() error {
	switch {
	case c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0):
		return errors.New("server: config: rate limit must be a positive number of requests per second")
	case c.RateBurst < 1:
		return errors.New("server: config: rate burst must be at least 1")
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
