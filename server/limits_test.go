package server

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var tBase = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// TestRateLimitNumbers shows the default limit with a clock the test
// controls: a burst of 20, then 10 requests a second.
func TestRateLimitNumbers(t *testing.T) {
	var lim Limits
	lim.setDefaults()
	l := newIPLimiter(lim.RateLimit, lim.RateBurst, lim.RateLimitIPs)

	allowed := 0
	for range 100 {
		if ok, _, _ := l.allow("192.0.2.1", tBase); ok {
			allowed++
		}
	}
	if allowed != 20 {
		t.Fatalf("burst at one instant: %d allowed, want 20", allowed)
	}
	ok, wait, _ := l.allow("192.0.2.1", tBase)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("over the burst: ok=%v retry after %v, want refused, 100ms", ok, wait)
	}
	// Another IP has its own bucket.
	if ok, _, _ := l.allow("192.0.2.2", tBase); !ok {
		t.Fatal("a second IP was refused")
	}
	// Ten seconds of a client asking every millisecond: 10 a second.
	allowed = 0
	for ms := 1; ms <= 10000; ms++ {
		if ok, _, _ := l.allow("192.0.2.1", tBase.Add(time.Duration(ms)*time.Millisecond)); ok {
			allowed++
		}
	}
	if allowed != 100 {
		t.Fatalf("over 10 s: %d allowed, want 100 (10/s)", allowed)
	}
	t.Logf("default limit: burst 20 at once, then %d requests in 10 s", allowed)
}

func TestRateLimitFirstRefusal(t *testing.T) {
	l := newIPLimiter(1, 1, 10)
	if ok, _, _ := l.allow("192.0.2.1", tBase); !ok {
		t.Fatal("first request refused")
	}
	var firsts int
	for range 5 {
		if _, _, first := l.allow("192.0.2.1", tBase); first {
			firsts++
		}
	}
	if firsts != 1 {
		t.Fatalf("%d refusals marked first, want 1 per run", firsts)
	}
	if ok, _, _ := l.allow("192.0.2.1", tBase.Add(time.Second)); !ok {
		t.Fatal("refused after refilling")
	}
	if _, _, first := l.allow("192.0.2.1", tBase.Add(time.Second)); !first {
		t.Fatal("a new run of refusals was not marked first")
	}
}

// TestRateLimitMemoryBounded: a flood of distinct IPs never tracks more
// than the table size, and idle IPs are forgotten.
func TestRateLimitMemoryBounded(t *testing.T) {
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

// TestThrottleSchedule shows the default delays: five free failures, then
// 1 s doubling up to 15 min; lock at 100.
func TestThrottleSchedule(t *testing.T) {
	var lim Limits
	lim.setDefaults()
	want := map[int]time.Duration{
		0: 0, 4: 0, 5: time.Second, 6: 2 * time.Second, 7: 4 * time.Second,
		14: 512 * time.Second, 15: 15 * time.Minute, 99: 15 * time.Minute, 1000: 15 * time.Minute,
	}
	for n, d := range want {
		if got := lim.throttleDelay(n); got != d {
			t.Errorf("throttleDelay(%d) = %v, want %v", n, got, d)
		}
	}
	var total time.Duration
	for n := range lim.LockAfter {
		total += lim.throttleDelay(n)
	}
	if lim.LockAfter != 100 {
		t.Fatalf("LockAfter = %d, want 100", lim.LockAfter)
	}
	t.Logf("an attacker needs at least %v to make 100 guesses at one account", total)
	if total < 20*time.Hour {
		t.Errorf("100 guesses take %v, want at least 20 h", total)
	}
}

func TestLimitsValidate(t *testing.T) {
	for _, tt := range []struct {
		edit func(*Limits)
		want string
	}{
		{func(l *Limits) { l.LockAfter = 101 }, "lock-after must be between 1 and 100"},
		{func(l *Limits) { l.RateLimit = -1 }, "rate limit"},
		{func(l *Limits) { l.RateBurst = -1 }, "rate burst"},
		{func(l *Limits) { l.ThrottleAfter = 101 }, "throttle-after"},
		{func(l *Limits) { l.ThrottleMaxDelay = time.Millisecond }, "maximum throttle delay"},
		{func(l *Limits) { l.AuditRetention = time.Minute }, "audit retention"},
	} {
		var l Limits
		tt.edit(&l)
		l.setDefaults()
		err := l.validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v, want an error containing %q", err, tt.want)
		}
	}
	var l Limits
	l.setDefaults()
	if err := l.validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestCommonPasswords(t *testing.T) {
	if n := strings.Count(strings.TrimSpace(commonPasswordList), "\n") + 1; n != 10000 {
		t.Fatalf("the list has %d passwords, want 10,000", n)
	}
	// Some differ only in case; the check ignores case.
	if n := len(commonPasswords()); n < 9900 {
		t.Fatalf("%d distinct common passwords loaded, want over 9,900", n)
	}
	for _, p := range []string{"password", "Password", "123456", "baseball", "trustno1", "1qaz2wsx"} {
		if !isCommonPassword(p) {
			t.Errorf("%q not found", p)
		}
	}
	if isCommonPassword("correct horse battery staple") {
		t.Error("a passphrase counted as common")
	}
}
