package account_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestPasswordPolicy: length only (15 by default, up to 1024), not the
// username, not one of the 10,000 most common passwords; no composition
// rules.
func TestPasswordPolicy(t *testing.T) {
	t.Parallel()
	def := mustService(t, testConfig(t, sqltest.NewSQLite(t), servertest.NewClock()))
	cfg8 := testConfig(t, sqltest.NewSQLite(t), servertest.NewClock())
	cfg8.MinPasswordLength = 8
	min8 := mustService(t, cfg8)
	ctx := ctxT(t)
	n := 0
	for _, tt := range []struct {
		svc      *account.Service
		username string // default: a fresh one
		password string
		want     string // "" accepted, else part of the weak_password message
	}{
		{def, "", strings.Repeat("a", 14), "at least 15 characters"},
		{def, "", "abcdefghijklmno", ""},
		{def, "", strings.Repeat("é", 15), ""}, // characters, not bytes
		{def, "", strings.Repeat("é", 7), "at least 15"},
		{def, "", "all lowercase no digits at all", ""},
		{def, "", strings.Repeat("x", 64), ""},
		{def, "", strings.Repeat("x", 1024), ""},
		{def, "", strings.Repeat("x", 1025), "at most 1024 characters"},
		{def, "quite-a-long-username", "Quite-A-Long-Username", "must not be the username"},
		{min8, "", "baseball", "10,000 most common"},
		{min8, "", "BaseBall", "10,000 most common"},
		{min8, "", "password1", "10,000 most common"},
		{min8, "", "trustno1", "10,000 most common"},
		{min8, "", "1234567", "at least 8"},
		{min8, "", "xk9-vq2z", ""},
	} {
		n++
		username := tt.username
		if username == "" {
			username = "user" + strings.Repeat("x", n%10) + string(rune('a'+n))
		}
		_, err := tt.svc.Signup(ctx, protocol.SignupRequest{Username: username, Password: tt.password})
		var se *account.Error
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q (%d chars): refused: %v", short(tt.password), len([]rune(tt.password)), err)
		case tt.want != "" && (!errors.As(err, &se) || se.Code != protocol.CodeWeakPassword || !strings.Contains(se.Message, tt.want)):
			t.Errorf("%q (%d chars): got %v, want weak_password %q", short(tt.password), len([]rune(tt.password)), err, tt.want)
		}
	}
}

func short(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// TestPasswordMinimumConfig: the minimum length a config may set is 8
// (NIST SP 800-63B) to 64.
func TestPasswordMinimumConfig(t *testing.T) {
	t.Parallel()
	st := sqltest.NewSQLite(t)
	mk := servertest.MasterKey(t)
	for _, tt := range []struct {
		min int
		ok  bool
	}{{7, false}, {8, true}, {64, true}, {65, false}, {1025, false}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		svc, err := account.New(ctx, account.Config{Store: st, MasterKey: mk, Argon2: servertest.CheapArgon2, MinPasswordLength: tt.min})
		cancel()
		if err == nil {
			svc.Close()
		}
		if (err == nil) != tt.ok {
			t.Errorf("MinPasswordLength %d: got %v, want ok=%v", tt.min, err, tt.ok)
		}
	}
}

// TestRehashOnLogin: when the Argon2 parameters change, the next
// successful login stores a hash with the new ones.
func TestRehashOnLogin(t *testing.T) {
	t.Parallel()
	st := sqltest.NewSQLite(t)
	clock := servertest.NewClock()
	cfg := testConfig(t, st, clock)
	ctx := ctxT(t)
	old := mustService(t, cfg)
	id := mustSignup(t, old, "alice")
	hash := func() string {
		t.Helper()
		a, err := st.GetAccount(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return a.PasswordHash
	}
	if h := hash(); !strings.Contains(h, "$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q", h)
	}
	cfg.Argon2 = account.Argon2Params{Time: 2, MemoryKiB: 2048, Threads: 2}
	upgraded := mustService(t, cfg)
	if _, err := upgraded.Login(ctx, protocol.LoginRequest{Username: "alice", Password: wrongPassword}); err == nil {
		t.Fatal("wrong password accepted")
	}
	if h := hash(); !strings.Contains(h, "$m=1024,t=1,p=1$") {
		t.Fatalf("a failed login changed the hash: %q", h)
	}
	mustLogin(t, upgraded, "alice")
	if h := hash(); !strings.Contains(h, "$m=2048,t=2,p=2$") {
		t.Fatalf("after login with new parameters the hash is %q", h)
	}
	mustLogin(t, upgraded, "alice")
}
