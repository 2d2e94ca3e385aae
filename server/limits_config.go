package server

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Limits are the abuse limits and the audit log settings. Zero fields take
// the default documented on each; the README's security section lists
// them all.
type Limits struct {
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
	// days.
	AuditRetention time.Duration
	// AuditPruneInterval is how often the pruner deletes older rows.
	// Default 1 h.
	AuditPruneInterval time.Duration
}

// Defaults and bounds of Limits.
const (
	DefaultRateLimit        = 10
	DefaultRateBurst        = 20
	DefaultRateLimitIPs     = 1 << 16
	DefaultThrottleAfter    = 5
	DefaultThrottleMaxDelay = 15 * time.Minute
	// MaxLockAfter is the most consecutive failures NIST SP 800-63B
	// allows before an account is locked; it is also the default.
	MaxLockAfter          = 100
	DefaultAuditRetention = 90 * 24 * time.Hour
	defaultAuditPrune     = time.Hour
	// throttleBaseDelay is the first delay, doubled with each failure.
	throttleBaseDelay = time.Second
)

func (l *Limits) setDefaults() {
	if l.RateLimit == 0 {
		l.RateLimit = DefaultRateLimit
	}
	if l.RateBurst == 0 {
		l.RateBurst = DefaultRateBurst
	}
	if l.RateLimitIPs == 0 {
		l.RateLimitIPs = DefaultRateLimitIPs
	}
	if l.ThrottleAfter == 0 {
		l.ThrottleAfter = DefaultThrottleAfter
	}
	if l.ThrottleMaxDelay == 0 {
		l.ThrottleMaxDelay = DefaultThrottleMaxDelay
	}
	if l.LockAfter == 0 {
		l.LockAfter = MaxLockAfter
	}
	if l.AuditRetention == 0 {
		l.AuditRetention = DefaultAuditRetention
	}
	if l.AuditPruneInterval == 0 {
		l.AuditPruneInterval = defaultAuditPrune
	}
}

func (l *Limits) validate() error {
	switch {
	case l.RateLimit < 0 || math.IsNaN(l.RateLimit) || math.IsInf(l.RateLimit, 0):
		return errors.New("server: config: rate limit must be a positive number of requests per second")
	case l.RateBurst < 1:
		return errors.New("server: config: rate burst must be at least 1")
	case l.RateLimitIPs < 1:
		return errors.New("server: config: rate-limited IP table size must be at least 1")
	case l.ThrottleAfter < 1 || l.ThrottleAfter > MaxLockAfter:
		return fmt.Errorf("server: config: throttle-after must be between 1 and %d failures", MaxLockAfter)
	case l.ThrottleMaxDelay < throttleBaseDelay:
		return fmt.Errorf("server: config: maximum throttle delay must be at least %v", throttleBaseDelay)
	case l.LockAfter < 1 || l.LockAfter > MaxLockAfter:
		return fmt.Errorf("server: config: lock-after must be between 1 and %d failures (NIST SP 800-63B)", MaxLockAfter)
	case l.AuditRetention < time.Hour:
		return errors.New("server: config: audit retention must be at least 1h")
	case l.AuditPruneInterval < time.Millisecond:
		return errors.New("server: config: audit prune interval must be at least 1ms")
	}
	return nil
}

// throttleDelay is how long after its last failure an account with n
// consecutive failures must wait before its password is checked again.
func (l *Limits) throttleDelay(n int) time.Duration {
	if n < l.ThrottleAfter {
		return 0
	}
	shift := n - l.ThrottleAfter
	if shift >= 30 {
		return l.ThrottleMaxDelay
	}
	return min(throttleBaseDelay<<shift, l.ThrottleMaxDelay)
}
