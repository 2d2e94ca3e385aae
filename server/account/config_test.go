package account_test

import (
	"strings"
	"testing"
	"time"

	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestConfigValidate: every rule setting out of its bounds is refused
// with an error that names it; the defaults pass.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	st := sqltest.NewSQLite(t)
	mk := servertest.MasterKey(t)
	for _, tt := range []struct {
		edit func(*account.Config)
		want string
	}{
		{func(c *account.Config) { c.Store = nil }, "store is required"},
		{func(c *account.Config) { c.MasterKey = c.MasterKey[:31] }, "master key must be 32 bytes"},
		{func(c *account.Config) { c.LockAfter = 101 }, "lock-after must be between 1 and 100"},
		{func(c *account.Config) { c.LockAfter = -1 }, "lock-after must be between 1 and 100"},
		{func(c *account.Config) { c.ThrottleAfter = 101 }, "throttle-after"},
		{func(c *account.Config) { c.ThrottleAfter = -1 }, "throttle-after"},
		{func(c *account.Config) { c.ThrottleMaxDelay = time.Millisecond }, "maximum throttle delay"},
		{func(c *account.Config) { c.AuditRetention = time.Minute }, "audit retention"},
		{func(c *account.Config) { c.AuditPruneInterval = time.Microsecond }, "audit prune interval"},
		{func(c *account.Config) { c.MinPasswordLength = 7 }, "minimum password length"},
		{func(c *account.Config) { c.MinPasswordLength = 65 }, "minimum password length"},
		{func(c *account.Config) { c.SigningAlgorithm = "HS256" }, "signing algorithm"},
		{func(c *account.Config) { c.KeyPublishLead = time.Minute }, "publish lead"},
		{func(c *account.Config) { c.KeyRotationInterval = 5 * time.Minute }, "rotation interval"},
		{func(c *account.Config) { c.Argon2 = account.Argon2Params{Time: 1, MemoryKiB: 4, Threads: 1} }, "argon2id: memory"},
	} {
		c := account.Config{Store: st, MasterKey: mk}
		tt.edit(&c)
		c.SetDefaults()
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "account: config: ") {
			t.Errorf("got %v, want an error \"account: config: ...%s...\"", err, tt.want)
		}
	}
	c := account.Config{Store: st, MasterKey: mk}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
