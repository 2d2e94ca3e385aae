package account

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/accountd/accountd/store"
)

// flakyStore fails the first `fail` calls of GetSession and CreateSession
// with store.ErrUnavailable, as a broken connection does.
type flakyStore struct {
	store.Store
	fail          int
	reads, writes int
}

func (f *flakyStore) GetSession(ctx context.Context, id string) (store.Session, error) {
	f.reads++
	if f.reads <= f.fail {
		return store.Session{}, fmt.Errorf("get session: %w: connection reset", store.ErrUnavailable)
	}
	return store.Session{ID: id}, nil
}

func (f *flakyStore) CreateSession(ctx context.Context, s store.Session, _ store.AuthEvent) error {
	f.writes++
	if f.writes <= f.fail {
		return fmt.Errorf("create session: %w: connection reset", store.ErrUnavailable)
	}
	return nil
}

func testContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func TestGuardedStoreRetriesReads(t *testing.T) {
	t.Parallel()
	f := &flakyStore{fail: readAttempts - 1}
	retried := 0
	g := &guardedStore{s: f, timeout: 5 * time.Second, retried: func() { retried++ }}
	s, err := g.GetSession(testContext(t), "abc")
	if err != nil || s.ID != "abc" {
		t.Fatalf("read failing %d times on a broken connection: %v", readAttempts-1, err)
	}
	if f.reads != readAttempts || retried != readAttempts-1 {
		t.Fatalf("%d attempts, %d counted as retries; want %d and %d", f.reads, retried, readAttempts, readAttempts-1)
	}

	f = &flakyStore{fail: readAttempts}
	g = &guardedStore{s: f, timeout: 5 * time.Second}
	if _, err := g.GetSession(testContext(t), "abc"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("read failing every time: %v", err)
	}
	if f.reads != readAttempts {
		t.Fatalf("%d attempts, want %d", f.reads, readAttempts)
	}
}

func TestGuardedStoreNeverRepeatsWrites(t *testing.T) {
	t.Parallel()
	f := &flakyStore{fail: 1}
	g := &guardedStore{s: f, timeout: 5 * time.Second}
	if err := g.CreateSession(testContext(t), store.Session{}, store.AuthEvent{}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("write on a broken connection: %v", err)
	}
	if f.writes != 1 {
		t.Fatalf("write tried %d times, want once", f.writes)
	}
}

// hangingStore is a database that stops answering: every method waits
// until its context ends and returns the context's error. It records
// when each method was called and the deadline its context carried.
type hangingStore struct {
	mu    sync.Mutex
	calls map[string]hungCall
}

type hungCall struct {
	at       time.Time
	deadline time.Time // zero: the context had none
}

var _ store.Store = (*hangingStore)(nil)

func (h *hangingStore) hang(ctx context.Context, method string) error {
	c := hungCall{at: time.Now()}
	c.deadline, _ = ctx.Deadline()
	h.mu.Lock()
	h.calls[method] = c
	h.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

func (h *hangingStore) call(method string) (hungCall, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, called := h.calls[method]
	return c, called
}

func (h *hangingStore) CreateAccount(ctx context.Context, _ store.Account, _ store.AuthEvent) error {
	return h.hang(ctx, "CreateAccount")
}
func (h *hangingStore) GetAccount(ctx context.Context, _ string) (store.Account, error) {
	return store.Account{}, h.hang(ctx, "GetAccount")
}
func (h *hangingStore) GetAccountByUsername(ctx context.Context, _ string) (store.Account, error) {
	return store.Account{}, h.hang(ctx, "GetAccountByUsername")
}
func (h *hangingStore) ListAccounts(ctx context.Context) ([]store.Account, error) {
	return nil, h.hang(ctx, "ListAccounts")
}
func (h *hangingStore) CountHashParams(ctx context.Context) (map[string]int64, error) {
	return nil, h.hang(ctx, "CountHashParams")
}
func (h *hangingStore) UpdatePasswordHash(ctx context.Context, _, _ string, _ time.Time) error {
	return h.hang(ctx, "UpdatePasswordHash")
}
func (h *hangingStore) SetAccountDisabled(ctx context.Context, _ string, _ bool, _ store.AuthEvent) (int, error) {
	return 0, h.hang(ctx, "SetAccountDisabled")
}
func (h *hangingStore) DeleteAccount(ctx context.Context, _ string, _ store.AuthEvent) (int, error) {
	return 0, h.hang(ctx, "DeleteAccount")
}
func (h *hangingStore) RecordLoginFailure(ctx context.Context, _ store.AuthEvent) (store.LoginFailures, error) {
	return store.LoginFailures{}, h.hang(ctx, "RecordLoginFailure")
}
func (h *hangingStore) ResetLoginFailures(ctx context.Context, _ string, _ store.AuthEvent) (int, error) {
	return 0, h.hang(ctx, "ResetLoginFailures")
}
func (h *hangingStore) GetDevice(ctx context.Context, _ string) (store.Device, error) {
	return store.Device{}, h.hang(ctx, "GetDevice")
}
func (h *hangingStore) PutDevice(ctx context.Context, _ store.Device, _ int) error {
	return h.hang(ctx, "PutDevice")
}
func (h *hangingStore) RecordDeviceFailure(ctx context.Context, _ string, _ store.AuthEvent) (store.LoginFailures, error) {
	return store.LoginFailures{}, h.hang(ctx, "RecordDeviceFailure")
}
func (h *hangingStore) CreateSession(ctx context.Context, _ store.Session, _ store.AuthEvent) error {
	return h.hang(ctx, "CreateSession")
}
func (h *hangingStore) GetSession(ctx context.Context, _ string) (store.Session, error) {
	return store.Session{}, h.hang(ctx, "GetSession")
}
func (h *hangingStore) GetSessionAccount(ctx context.Context, _ string) (store.Session, store.Account, error) {
	return store.Session{}, store.Account{}, h.hang(ctx, "GetSessionAccount")
}
func (h *hangingStore) RevokeSession(ctx context.Context, _, _ string, _ store.AuthEvent) error {
	return h.hang(ctx, "RevokeSession")
}
func (h *hangingStore) RevokeAccountSessions(ctx context.Context, _, _ string, _ store.AuthEvent) (int, error) {
	return 0, h.hang(ctx, "RevokeAccountSessions")
}
func (h *hangingStore) ChangePassword(ctx context.Context, _, _ string, _ bool, _ string, _ store.AuthEvent) (int, error) {
	return 0, h.hang(ctx, "ChangePassword")
}
func (h *hangingStore) SetPendingEmail(ctx context.Context, _, _ string, _ store.AuthEvent) error {
	return h.hang(ctx, "SetPendingEmail")
}
func (h *hangingStore) ListSessions(ctx context.Context, _ string, _ time.Time) ([]store.Session, error) {
	return nil, h.hang(ctx, "ListSessions")
}
func (h *hangingStore) TouchSession(ctx context.Context, _ string, _ time.Time) error {
	return h.hang(ctx, "TouchSession")
}
func (h *hangingStore) PruneSessions(ctx context.Context, _ time.Time) (int64, error) {
	return 0, h.hang(ctx, "PruneSessions")
}
func (h *hangingStore) ListRevocations(ctx context.Context, _ int64, _ int) ([]store.Revocation, error) {
	return nil, h.hang(ctx, "ListRevocations")
}
func (h *hangingStore) PruneRevocations(ctx context.Context, _ time.Time) (int64, error) {
	return 0, h.hang(ctx, "PruneRevocations")
}
func (h *hangingStore) CreateSigningKey(ctx context.Context, _ store.SigningKey) error {
	return h.hang(ctx, "CreateSigningKey")
}
func (h *hangingStore) SetSigningKeyMAC(ctx context.Context, _ string, _ []byte) error {
	return h.hang(ctx, "SetSigningKeyMAC")
}
func (h *hangingStore) ResealSigningKey(ctx context.Context, _ string, _, _, _ []byte) error {
	return h.hang(ctx, "ResealSigningKey")
}
func (h *hangingStore) ListSealedSecrets(ctx context.Context, _ string, _ int) ([]store.SecondFactor, error) {
	return nil, h.hang(ctx, "ListSealedSecrets")
}
func (h *hangingStore) ResealSecondFactor(ctx context.Context, _ string, _, _ []byte) error {
	return h.hang(ctx, "ResealSecondFactor")
}
func (h *hangingStore) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return nil, h.hang(ctx, "ListSigningKeys")
}
func (h *hangingStore) RotateSigningKey(ctx context.Context, _ store.SigningKey, _, _ time.Time) error {
	return h.hang(ctx, "RotateSigningKey")
}
func (h *hangingStore) AddAuthEvent(ctx context.Context, _ store.AuthEvent) error {
	return h.hang(ctx, "AddAuthEvent")
}
func (h *hangingStore) ListAuthEvents(ctx context.Context, _ store.AuthEventFilter) ([]store.AuthEvent, error) {
	return nil, h.hang(ctx, "ListAuthEvents")
}
func (h *hangingStore) PruneAuthEvents(ctx context.Context, _ time.Time) (int64, error) {
	return 0, h.hang(ctx, "PruneAuthEvents")
}
func (h *hangingStore) CreateServiceKey(ctx context.Context, _ store.ServiceKey, _ store.AuthEvent) error {
	return h.hang(ctx, "CreateServiceKey")
}
func (h *hangingStore) GetServiceKey(ctx context.Context, _ string) (store.ServiceKey, error) {
	return store.ServiceKey{}, h.hang(ctx, "GetServiceKey")
}
func (h *hangingStore) ListServiceKeys(ctx context.Context) ([]store.ServiceKey, error) {
	return nil, h.hang(ctx, "ListServiceKeys")
}
func (h *hangingStore) DeleteServiceKey(ctx context.Context, _ string, _ store.AuthEvent) error {
	return h.hang(ctx, "DeleteServiceKey")
}
func (h *hangingStore) BeginSecondFactor(ctx context.Context, _ store.SecondFactor, _ store.AuthEvent) error {
	return h.hang(ctx, "BeginSecondFactor")
}
func (h *hangingStore) GetSecondFactor(ctx context.Context, _ string) (store.SecondFactor, error) {
	return store.SecondFactor{}, h.hang(ctx, "GetSecondFactor")
}
func (h *hangingStore) EnableSecondFactor(ctx context.Context, _ string, _ []byte, _ int64, _ [][]byte, _ store.AuthEvent) error {
	return h.hang(ctx, "EnableSecondFactor")
}
func (h *hangingStore) DisableSecondFactor(ctx context.Context, _ string, _ bool, _ string, _ store.AuthEvent) (int, error) {
	return 0, h.hang(ctx, "DisableSecondFactor")
}
func (h *hangingStore) UseTOTPStep(ctx context.Context, _ string, _ int64) (bool, error) {
	return false, h.hang(ctx, "UseTOTPStep")
}
func (h *hangingStore) UseRecoveryCode(ctx context.Context, _ string, _ []byte, _ store.AuthEvent) (bool, error) {
	return false, h.hang(ctx, "UseRecoveryCode")
}
func (h *hangingStore) ReplaceRecoveryCodes(ctx context.Context, _ string, _ [][]byte, _ store.AuthEvent) error {
	return h.hang(ctx, "ReplaceRecoveryCodes")
}
func (h *hangingStore) CreateLoginChallenge(ctx context.Context, _ store.LoginChallenge) error {
	return h.hang(ctx, "CreateLoginChallenge")
}
func (h *hangingStore) GetLoginChallenge(ctx context.Context, _ string) (store.LoginChallenge, error) {
	return store.LoginChallenge{}, h.hang(ctx, "GetLoginChallenge")
}
func (h *hangingStore) ClaimChallengeAttempt(ctx context.Context, _ string, _ time.Time, _ int) (bool, error) {
	return false, h.hang(ctx, "ClaimChallengeAttempt")
}
func (h *hangingStore) CompleteLoginChallenge(ctx context.Context, _ string, _ store.Session, _ store.AuthEvent) error {
	return h.hang(ctx, "CompleteLoginChallenge")
}
func (h *hangingStore) GetAccountByEmail(ctx context.Context, _ string) (store.Account, error) {
	return store.Account{}, h.hang(ctx, "GetAccountByEmail")
}
func (h *hangingStore) PutEmailCode(ctx context.Context, _ store.EmailCode, _ []byte) error {
	return h.hang(ctx, "PutEmailCode")
}
func (h *hangingStore) GetEmailCode(ctx context.Context, _, _ string) (store.EmailCode, error) {
	return store.EmailCode{}, h.hang(ctx, "GetEmailCode")
}
func (h *hangingStore) CountEmailCodeAttempt(ctx context.Context, _, _ string) (store.EmailCode, error) {
	return store.EmailCode{}, h.hang(ctx, "CountEmailCodeAttempt")
}
func (h *hangingStore) VerifyEmail(ctx context.Context, _, _ string, _ []byte, _ store.AuthEvent) error {
	return h.hang(ctx, "VerifyEmail")
}
func (h *hangingStore) ResetPassword(ctx context.Context, _ string, _ []byte, _ string, _ store.AuthEvent) (int, error) {
	return 0, h.hang(ctx, "ResetPassword")
}
func (h *hangingStore) EnqueueMail(ctx context.Context, _ store.QueuedMail) error {
	return h.hang(ctx, "EnqueueMail")
}
func (h *hangingStore) ClaimMail(ctx context.Context, _, _ time.Time, _ int) ([]store.QueuedMail, error) {
	return nil, h.hang(ctx, "ClaimMail")
}
func (h *hangingStore) RetryMail(ctx context.Context, _ string, _ int, _ time.Time) error {
	return h.hang(ctx, "RetryMail")
}
func (h *hangingStore) DeleteMail(ctx context.Context, _ string) error {
	return h.hang(ctx, "DeleteMail")
}
func (h *hangingStore) Ping(ctx context.Context) error { return h.hang(ctx, "Ping") }
func (h *hangingStore) Close() error                   { return nil }

// TestGuardedStoreBoundsEveryMethod calls every method of store.Store,
// listed by reflection so that a new one is covered without a change
// here, on a guarded store whose database never answers: each must hand
// the database a context that ends within StoreTimeout, and return with
// the deadline's error.
func TestGuardedStoreBoundsEveryMethod(t *testing.T) {
	t.Parallel()
	const (
		timeout = 50 * time.Millisecond
		// callerTimeout is far past timeout + margin: a method that
		// waits for the caller's deadline fails the bound.
		callerTimeout = 30 * time.Second
		// margin is how long past its deadline a call may take to
		// return on a loaded machine: scheduling only, no work.
		margin = 5 * time.Second
	)
	// Methods bounded by the caller's deadline alone, and why.
	callerBound := map[string]string{
		"PruneAuthEvents":  "deleting a day of a busy log takes longer than one request's database call may",
		"PruneSessions":    "deleting a day of ended sessions takes longer than one request's database call may",
		"PruneRevocations": "deleting a day of revocations takes longer than one request's database call may",
	}
	// Methods that take no context, and why that is safe.
	noContext := map[string]string{
		"Close": "the guard closes nothing: the store belongs to the caller of New",
	}
	h := &hangingStore{calls: map[string]hungCall{}}
	g := reflect.ValueOf(&guardedStore{s: h, timeout: timeout})
	ctxType := reflect.TypeFor[context.Context]()
	iface := reflect.TypeFor[store.Store]()
	if iface.NumMethod() < 20 {
		t.Fatalf("store.Store lists %d methods: reflection is not seeing the interface", iface.NumMethod())
	}
	for i := range iface.NumMethod() {
		m := iface.Method(i)
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			if m.Type.NumIn() == 0 || m.Type.In(0) != ctxType {
				if noContext[m.Name] == "" {
					t.Fatalf("%s takes no context: the guard cannot bound it", m.Name)
				}
				g.MethodByName(m.Name).Call(nil)
				if _, called := h.call(m.Name); called {
					t.Fatalf("%s reached the database", m.Name)
				}
				return
			}
			caller, bound, want := callerTimeout, timeout, "StoreTimeout"
			if why := callerBound[m.Name]; why != "" {
				// The caller's bound, exercised with a short deadline.
				caller, bound, want = 200*time.Millisecond, 200*time.Millisecond, "the caller's deadline: "+why
			}
			ctx, cancel := context.WithTimeout(context.Background(), caller)
			defer cancel()
			args := []reflect.Value{reflect.ValueOf(ctx)}
			for j := 1; j < m.Type.NumIn(); j++ {
				args = append(args, reflect.Zero(m.Type.In(j)))
			}
			start := time.Now()
			out := g.MethodByName(m.Name).Call(args)
			took := time.Since(start)

			c, called := h.call(m.Name)
			if !called {
				t.Fatalf("%s did not reach the database", m.Name)
			}
			if c.deadline.IsZero() || c.deadline.After(c.at.Add(bound)) {
				t.Errorf("%s gave the database a context ending %v after it reached it (no deadline if negative), want at most %v, %s",
					m.Name, c.deadline.Sub(c.at), bound, want)
			}
			if took > bound+margin {
				t.Errorf("%s on a database that never answers returned after %v, want within %v + %v", m.Name, took, bound, margin)
			}
			err, _ := out[len(out)-1].Interface().(error)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s on a database that never answers: %v, want the deadline's error", m.Name, err)
			}
		})
	}
}
