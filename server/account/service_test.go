package account_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

const (
	goodPassword  = "correct horse battery staple"
	wrongPassword = "a wrong password, surely"
	// testIP is the client address the tests' requests carry (TEST-NET-1).
	testIP = "192.0.2.1"
	// noAccountID is a well-formed account id that no account has.
	noAccountID = "0123456789abcdef0123456789abcdef"
)

// ctxT returns a context for one test's calls: it carries testIP and
// ends with the test, at most 30 s after it began.
func ctxT(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return account.WithClientIP(ctx, testIP)
}

// backends are the stores every rule that touches shared state is tested
// on: SQLite always, MariaDB when sqltest can reach it.
var backends = []struct {
	name string
	open func(testing.TB) store.Store
}{
	{"sqlite", func(tb testing.TB) store.Store { return sqltest.NewSQLite(tb) }},
	{"mysql", func(tb testing.TB) store.Store { return sqltest.NewMySQL(tb) }},
}

// eachStore runs test, in parallel subtests, on a fresh store of each
// backend.
func eachStore(t *testing.T, test func(t *testing.T, st store.Store)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, b.open(t))
		})
	}
}

// testConfig is the Config of one instance over st: cheap Argon2, the
// given clock and a fresh master key. Instances of one deployment share
// the store, the clock and the master key.
func testConfig(tb testing.TB, st store.Store, clock *servertest.Clock) account.Config {
	tb.Helper()
	return account.Config{Store: st, MasterKey: servertest.MasterKey(tb), Argon2: servertest.CheapArgon2, Now: clock.Now}
}

// mustService starts a Service and closes it when the test ends (before
// its store, which was opened first).
func mustService(tb testing.TB, cfg account.Config) *account.Service {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := account.New(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(svc.Close)
	return svc
}

// mustSignup creates an account with goodPassword and returns its id.
func mustSignup(tb testing.TB, svc *account.Service, username string) string {
	tb.Helper()
	r, err := svc.Signup(ctxT(tb), protocol.SignupRequest{Username: username, Password: goodPassword})
	if err != nil {
		tb.Fatalf("signup %s: %v", username, err)
	}
	return r.Account.ID
}

// mustLogin logs in with goodPassword.
func mustLogin(tb testing.TB, svc *account.Service, username string) *protocol.TokenResult {
	tb.Helper()
	tok, err := svc.Login(ctxT(tb), protocol.LoginRequest{Username: username, Password: goodPassword})
	if err != nil {
		tb.Fatalf("login %s: %v", username, err)
	}
	return tok.TokenResult
}

// isCode reports whether err is an *account.Error with code.
func isCode(err error, code string) bool {
	var e *account.Error
	return errors.As(err, &e) && e.Code == code
}

// listEvents and countEvents read the audit log (servertest.Events).
var (
	listEvents  = servertest.Events
	countEvents = servertest.CountEvents
)

// tokenKid returns the "kid" header of a JWT.
func tokenKid(tb testing.TB, token string) string {
	tb.Helper()
	head, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		tb.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(head, &h); err != nil {
		tb.Fatal(err)
	}
	return h.Kid
}

// waitFor polls cond every 10 ms until it holds, for at most 30 s: what
// it waits for is a background goroutine's next step, not a duration.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after 30s waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// counterValue returns the value of a counter from reg: the one with the
// label pair label ("name=value"), or the only one when label is "".
func counterValue(tb testing.TB, reg *prometheus.Registry, name, label string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == "" && len(mf.GetMetric()) == 1
			for _, l := range m.GetLabel() {
				match = match || l.GetName()+"="+l.GetValue() == label
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	tb.Fatalf("no counter %s %s", name, label)
	return 0
}
