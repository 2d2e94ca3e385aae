package account

import (
	"testing"
	"time"
)

// TestThrottleSchedule shows the default delays: five free failures, then
// 1 s doubling up to 15 min; lock at 100.
func TestThrottleSchedule(t *testing.T) {
	t.Parallel()
	var c Config
	c.SetDefaults()
	want := map[int]time.Duration{
		0: 0, 4: 0, 5: time.Second, 6: 2 * time.Second, 7: 4 * time.Second,
		14: 512 * time.Second, 15: 15 * time.Minute, 99: 15 * time.Minute, 1000: 15 * time.Minute,
	}
	for n, d := range want {
		if got := c.throttleDelay(n); got != d {
			t.Errorf("throttleDelay(%d) = %v, want %v", n, got, d)
		}
	}
	var total time.Duration
	for n := range c.LockAfter {
		total += c.throttleDelay(n)
	}
	if c.LockAfter != 100 {
		t.Fatalf("LockAfter = %d, want 100", c.LockAfter)
	}
	t.Logf("an attacker needs at least %v to make 100 guesses at one account", total)
	if total < 20*time.Hour {
		t.Errorf("100 guesses take %v, want at least 20 h", total)
	}
}
