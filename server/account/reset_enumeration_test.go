package account_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// recordingStore records the store methods called with a context that
// carries a recordKey, in order: the request's own work, apart from the
// mail sender's.
type recordingStore struct {
	store.Store
	mu    sync.Mutex
	calls []string
}

type recordKey struct{}

func (r *recordingStore) note(ctx context.Context, method string) {
	if ctx.Value(recordKey{}) == nil {
		return
	}
	r.mu.Lock()
	r.calls = append(r.calls, method)
	r.mu.Unlock()
}

func (r *recordingStore) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

func (r *recordingStore) GetAccount(ctx context.Context, id string) (store.Account, error) {
	r.note(ctx, "GetAccount")
	return r.Store.GetAccount(ctx, id)
}
func (r *recordingStore) GetAccountByUsername(ctx context.Context, u string) (store.Account, error) {
	r.note(ctx, "GetAccountByUsername")
	return r.Store.GetAccountByUsername(ctx, u)
}
func (r *recordingStore) GetAccountByEmail(ctx context.Context, e string) (store.Account, error) {
	r.note(ctx, "GetAccountByEmail")
	return r.Store.GetAccountByEmail(ctx, e)
}
func (r *recordingStore) GetEmailCode(ctx context.Context, id, purpose string) (store.EmailCode, error) {
	r.note(ctx, "GetEmailCode")
	return r.Store.GetEmailCode(ctx, id, purpose)
}
func (r *recordingStore) PutEmailCode(ctx context.Context, c store.EmailCode, replaces []byte) error {
	r.note(ctx, "PutEmailCode")
	return r.Store.PutEmailCode(ctx, c, replaces)
}
func (r *recordingStore) EnqueueMail(ctx context.Context, m store.QueuedMail) error {
	r.note(ctx, "EnqueueMail "+m.Kind)
	return r.Store.EnqueueMail(ctx, m)
}
func (r *recordingStore) AddAuthEvent(ctx context.Context, e store.AuthEvent) error {
	r.note(ctx, "AddAuthEvent")
	return r.Store.AddAuthEvent(ctx, e)
}

// TestRequestPasswordResetSameWork: request_password_reset does the same
// work, and gives the same answer, for an account with a verified email
// (by username and by address), an account without one, a disabled
// account, and a username or address nobody has. What it does is the
// sequence of store calls the request makes (the lookup happens later,
// in the mail sender, where the requester cannot time it) and the
// number of password hashes (none). The medians of the calls' times are
// logged; the assertion is on the work, which a loaded machine cannot
// change.
func TestRequestPasswordResetSameWork(t *testing.T) {
	t.Parallel()
	rec := &recordingStore{Store: sqltest.NewSQLite(t)}
	ms := servertest.StartMailServer(t, servertest.MailServerOptions{})
	clock := servertest.NewClock()
	cfg := testConfig(t, rec, clock)
	cfg.Mail = account.MailConfig{Host: ms.Host, Port: ms.Port, From: "a@example.com", TLS: account.SMTPNoTLS}
	cfg.MailPollInterval = time.Hour // the sender runs when kicked
	cfg.MailRequestsPerIP = 1 << 20
	svc := mustService(t, cfg)
	ctx := ctxT(t)
	for _, u := range []string{"alice", "bob", "dora"} {
		if _, err := svc.Signup(ctx, protocol.SignupRequest{Username: u, Password: goodPassword, Email: u + "@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	// Alice and dora verify their address; dora is then disabled.
	for _, u := range []string{"alice", "dora"} {
		m := ms.WaitFor(t, ctx, u+"@example.com", 1)[0]
		if _, err := svc.VerifyEmail(ctx, protocol.VerifyEmailRequest{Login: u, Code: m.Code()}); err != nil {
			t.Fatal(err)
		}
	}
	dora, err := rec.GetAccountByUsername(ctx, "dora")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DisableAccount(ctx, dora.ID); err != nil {
		t.Fatal(err)
	}
	logins := []string{"alice", "alice@example.com", "bob", "bob@example.com", "dora", "nobody", "nobody@example.com"}
	rctx := context.WithValue(ctx, recordKey{}, true)
	const rounds = 30
	times := make([][]time.Duration, len(logins))
	var want []string
	for round := range rounds {
		for i, login := range logins {
			start := time.Now()
			res, err := svc.RequestPasswordReset(rctx, protocol.RequestPasswordResetRequest{Login: login})
			times[i] = append(times[i], time.Since(start))
			if err != nil || *res != (protocol.MailQueuedResult{}) {
				t.Fatalf("request_password_reset %q = %+v, %v", login, res, err)
			}
			calls := rec.take()
			if want == nil {
				want = calls
				if !slices.Contains(want, "EnqueueMail reset") {
					t.Fatalf("the request queued no reset: %v", want)
				}
			}
			if diff := cmp.Diff(want, calls); diff != "" && round == 0 {
				t.Errorf("request for %q made other store calls than for %q (-%s +%s):\n%s", login, logins[0], logins[0], login, diff)
			}
		}
	}
	for i, s := range times {
		slices.Sort(s)
		t.Logf("%-20s median %v over %d requests", logins[i], s[len(s)/2].Round(time.Microsecond), len(s))
	}
	// The sender then mails alice only: at most the per-account limit
	// of codes, and nothing to the others. A signup queued after every
	// request (the clock moved on) marks the end of the queue.
	clock.Advance(time.Millisecond)
	if _, err := svc.Signup(ctx, protocol.SignupRequest{Username: "zed", Password: goodPassword, Email: "zed@example.com"}); err != nil {
		t.Fatal(err)
	}
	ms.WaitFor(t, ctx, "zed@example.com", 1)
	resets := map[string]int{}
	for _, m := range ms.Mails() {
		if strings.Contains(m.Header.Get("Subject"), "password reset") {
			resets[strings.Join(m.To, ",")]++
		}
	}
	if diff := cmp.Diff(map[string]int{"alice@example.com": 5}, resets); diff != "" {
		t.Errorf("reset mails per address (-want +got):\n%s", diff)
	}
}
