package server

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/accountd/accountd/store"
)

var tBase = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// TestRateLimitNumbers shows the default limit with a clock the test
// controls: a burst of 20, then 10 requests a second.
func TestRateLimitNumbers(t *testing.T) {
	t.Parallel()
	var c Config
	c.setDefaults()
	l := newIPLimiter(c.RateLimit, c.RateBurst, c.RateLimitIPs)

	allowed := 0
	for range 100 {
		if ok, _ := l.allow("192.0.2.1", tBase); ok {
			allowed++
		}
	}
	if allowed != 20 {
		t.Fatalf("burst at one instant: %d allowed, want 20", allowed)
	}
	ok, wait := l.allow("192.0.2.1", tBase)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("over the burst: ok=%v retry after %v, want refused, 100ms", ok, wait)
	}
	// Another IP has its own bucket.
	if ok, _ := l.allow("192.0.2.2", tBase); !ok {
		t.Fatal("a second IP was refused")
	}
	// Ten seconds of a client asking every millisecond: 10 a second.
	allowed = 0
	for ms := 1; ms <= 10000; ms++ {
		if ok, _ := l.allow("192.0.2.1", tBase.Add(time.Duration(ms)*time.Millisecond)); ok {
			allowed++
		}
	}
	if allowed != 100 {
		t.Fatalf("over 10 s: %d allowed, want 100 (10/s)", allowed)
	}
	t.Logf("default limit: burst 20 at once, then %d requests in 10 s", allowed)
}

// TestRateLimitMemoryBounded: a flood of distinct IPs never tracks more
// than the table size, and idle IPs are forgotten.
func TestRateLimitMemoryBounded(t *testing.T) {
	t.Parallel()
	const max = 1000
	l := newIPLimiter(10, 20, max)
	for i := range 50000 {
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		l.allow(ip, tBase.Add(time.Duration(i)*time.Microsecond))
		if n := l.tracked(); n > max {
			t.Fatalf("after %d IPs: %d tracked, want at most %d", i+1, n, max)
		}
	}
	if n := l.tracked(); n != max {
		t.Fatalf("tracked %d, want %d", n, max)
	}
	// A bucket refills from empty in burst/rate = 2 s: after that, an IP
	// is forgotten at the next request from anyone.
	l.allow("192.0.2.1", tBase.Add(3*time.Second))
	if n := l.tracked(); n != 1 {
		t.Fatalf("after 3 s idle: %d tracked, want 1", n)
	}
}

func TestRateKey(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not-an-ip", "not-an-ip"},
	} {
		if got := rateKey(tt.in); got != tt.want {
			t.Errorf("rateKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRateLimitValidate: the transport's limits are checked at New.
func TestRateLimitValidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.RateLimit = -1 }, "rate limit"},
		{func(c *Config) { c.RateBurst = -1 }, "rate burst"},
		{func(c *Config) { c.RateLimitIPs = -1 }, "IP table"},
	} {
		c := Config{Identity: ed25519.NewKeyFromSeed(make([]byte, 32))}
		c.Store, c.MasterKey = nopStore{}, make([]byte, 32)
		tt.edit(&c)
		c.setDefaults()
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v, want an error containing %q", err, tt.want)
		}
	}
}

// nopStore stands in for a store in config checks that never call it.
type nopStore struct{ store.Store }
