// Package storetest is the conformance suite every store.Store
// implementation must pass. A backend's test runs it in a few lines:
//
//	func TestSQLite(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			return sqltest.NewSQLite(t)
//		})
//	}
//
// Each subtest gets an empty store of its own and runs in parallel with the
// others, so newStore must be safe for concurrent use.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/accountd/accountd/store"
)

// testTimeout bounds each subtest's calls to the store.
const testTimeout = 30 * time.Second

// Run runs the conformance suite against the stores newStore returns. newStore
// is called once per subtest and must return an empty, ready store that it
// closes itself (with t.Cleanup) when the subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"CreateGetAccount", testCreateGetAccount},
		{"GetAccountByUsername", testGetAccountByUsername},
		{"DuplicateAccount", testDuplicateAccount},
		{"AccountsWithoutEmail", testAccountsWithoutEmail},
		{"NotFound", testNotFound},
		{"ListAccountsOrder", testListAccountsOrder},
		{"UpdatePasswordHash", testUpdatePasswordHash},
		{"CountHashParams", testCountHashParams},
		{"DisableEnable", testDisableEnable},
		{"DeleteCascadesSessions", testDeleteCascadesSessions},
		{"Session", testSession},
		{"RevokeSessionIdempotent", testRevokeSessionIdempotent},
		{"RevokeAccountSessions", testRevokeAccountSessions},
		{"SessionUnknownAccount", testSessionUnknownAccount},
		{"SigningKeys", testSigningKeys},
		{"RotateSigningKey", testRotateSigningKey},
		{"SigningKeyMAC", testSigningKeyMAC},
		{"Reseal", testReseal},
		{"ConcurrentRotateSameGeneration", testConcurrentRotateSameGeneration},
		{"TimeRoundTrip", testTimeRoundTrip},
		{"ConcurrentCreateSameUsername", testConcurrentCreateSameUsername},
		{"ConcurrentRevoke", testConcurrentRevoke},
		{"ConcurrentWrites", testConcurrentWrites},
		{"LoginFailures", testLoginFailures},
		{"ConcurrentLoginFailures", testConcurrentLoginFailures},
		{"Devices", testDevices},
		{"ConcurrentDeviceFailures", testConcurrentDeviceFailures},
		{"AuthEvents", testAuthEvents},
		{"AuthEventInvalid", testAuthEventInvalid},
		{"ConcurrentAuthEvents", testConcurrentAuthEvents},
		{"CreateWithEvents", testCreateWithEvents},
		{"SessionDetails", testSessionDetails},
		{"ListSessions", testListSessions},
		{"TouchSession", testTouchSession},
		{"RevokeSessionOfAccount", testRevokeSessionOfAccount},
		{"RevokeAccountSessionsKeep", testRevokeAccountSessionsKeep},
		{"ChangePassword", testChangePassword},
		{"SetPendingEmail", testSetPendingEmail},
		{"PruneSessions", testPruneSessions},
		{"ServiceKeys", testServiceKeys},
		{"ServiceKeyInvalid", testServiceKeyInvalid},
		{"SecondFactor", testSecondFactor},
		{"ConcurrentSecondFactorUse", testConcurrentSecondFactorUse},
		{"LoginChallenge", testLoginChallenge},
		{"EmailCodes", testEmailCodes},
		{"ConcurrentCodeAttempts", testConcurrentCodeAttempts},
		{"VerifyEmail", testVerifyEmail},
		{"ResetPassword", testResetPassword},
		{"MailQueue", testMailQueue},
		{"RevocationLog", testRevocationLog},
		{"PruneRevocations", testPruneRevocations},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newStore(t))
		})
	}
}

// t0 is a microsecond-aligned UTC instant the tests build times from.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

// cmpOpts treats nil and empty slices alike; times compare with Equal.
var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newID returns a random id of 32 lowercase hex characters, like accountd's.
func newID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func newAccount(username, email string) store.Account {
	return store.Account{
		ID:           newID(),
		Username:     username,
		Email:        email,
		PasswordHash: "$argon2id$v=19$m=65536,t=2,p=4$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		CreatedAt:    t0,
		UpdatedAt:    t0,
	}
}

func mustCreateAccount(t *testing.T, s store.Store, a store.Account) store.Account {
	t.Helper()
	if err := s.CreateAccount(ctxFor(t), a, store.AuthEvent{}); err != nil {
		t.Fatalf("CreateAccount(%q): %v", a.Username, err)
	}
	return a
}

func newSession(accountID string) store.Session {
	return store.Session{
		ID:        newID(),
		AccountID: accountID,
		CreatedAt: t0,
		ExpiresAt: t0.Add(24 * time.Hour),
		AMR:       []string{"pwd"},
	}
}

func mustCreateSession(t *testing.T, s store.Store, sess store.Session) store.Session {
	t.Helper()
	if err := s.CreateSession(ctxFor(t), sess, store.AuthEvent{}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return sess
}

func mustGetAccount(t *testing.T, s store.Store, id string) store.Account {
	t.Helper()
	a, err := s.GetAccount(ctxFor(t), id)
	if err != nil {
		t.Fatalf("GetAccount(%q): %v", id, err)
	}
	return a
}

func mustGetSession(t *testing.T, s store.Store, id string) store.Session {
	t.Helper()
	sess, err := s.GetSession(ctxFor(t), id)
	if err != nil {
		t.Fatalf("GetSession(%q): %v", id, err)
	}
	return sess
}

func testCreateGetAccount(t *testing.T, s store.Store) {
	for _, a := range []store.Account{
		newAccount("alice", "alice@example.com"),
		newAccount("bob", ""),
		func() store.Account {
			a := newAccount("carol", "carol@example.org")
			a.Disabled = true
			a.UpdatedAt = t0.Add(time.Minute)
			return a
		}(),
		func() store.Account {
			a := newAccount("dave", "")
			a.SignupKey = bytes.Repeat([]byte{0xd0, 0x0d}, 16)
			return a
		}(),
	} {
		mustCreateAccount(t, s, a)
		if diff := cmp.Diff(a, mustGetAccount(t, s, a.ID), cmpOpts...); diff != "" {
			t.Errorf("GetAccount(%q) mismatch (-want +got):\n%s", a.Username, diff)
		}
	}
}

func testGetAccountByUsername(t *testing.T, s store.Store) {
	alice := mustCreateAccount(t, s, newAccount("alice", "alice@example.com"))
	mustCreateAccount(t, s, newAccount("alice2", ""))
	got, err := s.GetAccountByUsername(ctxFor(t), "alice")
	if err != nil {
		t.Fatalf("GetAccountByUsername: %v", err)
	}
	if diff := cmp.Diff(alice, got, cmpOpts...); diff != "" {
		t.Errorf("GetAccountByUsername mismatch (-want +got):\n%s", diff)
	}
}

func testDuplicateAccount(t *testing.T, s store.Store) {
	orig := mustCreateAccount(t, s, newAccount("alice", "alice@example.com"))
	tests := []struct {
		name      string
		account   store.Account
		wantField string
	}{
		{"id", func() store.Account {
			a := newAccount("other", "other@example.com")
			a.ID = orig.ID
			return a
		}(), "id"},
		{"username", newAccount("alice", "another@example.com"), "username"},
		{"email", newAccount("alicia", "alice@example.com"), "email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreateAccount(ctxFor(t), tt.account, store.AuthEvent{})
			var conflict *store.ConflictError
			if !errors.As(err, &conflict) {
				t.Fatalf("CreateAccount = %v, want a *store.ConflictError", err)
			}
			if conflict.Field != tt.wantField {
				t.Errorf("ConflictError.Field = %q, want %q", conflict.Field, tt.wantField)
			}
			if !errors.Is(err, store.ErrAlreadyExists) {
				t.Errorf("errors.Is(%v, store.ErrAlreadyExists) = false", err)
			}
		})
	}
	// The failed creates left the original as it was and added nothing.
	if diff := cmp.Diff(orig, mustGetAccount(t, s, orig.ID), cmpOpts...); diff != "" {
		t.Errorf("original account changed (-want +got):\n%s", diff)
	}
	all, err := s.ListAccounts(ctxFor(t))
	if err != nil {
		t.Fatalf("ListAccounts: %v", err)
	}
	if len(all) != 1 {
		t.Errorf("ListAccounts returned %d accounts, want 1", len(all))
	}
}

func testCountHashParams(t *testing.T, s store.Store) {
	got, err := s.CountHashParams(ctxFor(t))
	if err != nil {
		t.Fatalf("CountHashParams on no accounts: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("CountHashParams on no accounts = %v, want none", got)
	}
	hashes := map[string]string{
		"anna": "$argon2id$v=19$m=65536,t=2,p=4$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"bert": "$argon2id$v=19$m=65536,t=2,p=4$b3RoZXJzYWx0b3RoZXJzYQ$aGFzaGhhc2hoYXNoaGFzaA",
		"cleo": "$argon2id$v=19$m=19456,t=3,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"dora": "$2b$10$notanargon2hashatallnotanargon2hashatallxxxxxxxxxxxx",
	}
	for name, h := range hashes {
		a := newAccount(name, "")
		a.PasswordHash = h
		mustCreateAccount(t, s, a)
	}
	got, err = s.CountHashParams(ctxFor(t))
	if err != nil {
		t.Fatalf("CountHashParams: %v", err)
	}
	want := map[string]int64{"m=65536,t=2,p=4": 2, "m=19456,t=3,p=1": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CountHashParams (-want +got):\n%s", diff)
	}
}

func testAccountsWithoutEmail(t *testing.T, s store.Store) {
	var want []store.Account
	for _, name := range []string{"anna", "bert", "cleo"} {
		want = append(want, mustCreateAccount(t, s, newAccount(name, "")))
	}
	got, err := s.ListAccounts(ctxFor(t))
	if err != nil {
		t.Fatalf("ListAccounts: %v", err)
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("ListAccounts mismatch (-want +got):\n%s", diff)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	// One existing account and session, so "not found" is not "empty table".
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	mustCreateSession(t, s, newSession(a.ID))
	missing := newID()
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"GetAccount", func(ctx context.Context) error {
			_, err := s.GetAccount(ctx, missing)
			return err
		}},
		{"GetAccountByUsername", func(ctx context.Context) error {
			_, err := s.GetAccountByUsername(ctx, "nobody")
			return err
		}},
		{"UpdatePasswordHash", func(ctx context.Context) error {
			return s.UpdatePasswordHash(ctx, missing, "x", t0)
		}},
		{"SetAccountDisabled", func(ctx context.Context) error {
			_, err := s.SetAccountDisabled(ctx, missing, true, adminEvent(store.EventDisabled, missing, t0))
			return err
		}},
		{"DeleteAccount", func(ctx context.Context) error {
			_, err := s.DeleteAccount(ctx, missing, adminEvent(store.EventDeleted, missing, t0))
			return err
		}},
		{"ResetLoginFailures", func(ctx context.Context) error {
			_, err := s.ResetLoginFailures(ctx, missing, adminEvent(store.EventUnlocked, missing, t0))
			return err
		}},
		{"GetSession", func(ctx context.Context) error {
			_, err := s.GetSession(ctx, missing)
			return err
		}},
		{"RevokeSession", func(ctx context.Context) error {
			return s.RevokeSession(ctx, a.ID, missing, store.AuthEvent{At: t0})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(ctxFor(t)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s = %v, want store.ErrNotFound", tt.name, err)
			}
		})
	}
	// A refused decision wrote no audit event either.
	if ev, err := s.ListAuthEvents(ctxFor(t), store.AuthEventFilter{AccountID: missing}); err != nil || len(ev) != 0 {
		t.Errorf("events of a missing account = %d, %v; want none", len(ev), err)
	}
	t.Run("RevokeAccountSessions", func(t *testing.T) {
		n, err := s.RevokeAccountSessions(ctxFor(t), missing, "", adminEvent(store.EventSessionsRevoked, missing, t0))
		if !errors.Is(err, store.ErrNotFound) || n != 0 {
			t.Errorf("RevokeAccountSessions(unknown account) = %d, %v; want 0, store.ErrNotFound", n, err)
		}
	})
	for name, call := range map[string]func(ctx context.Context) error{
		"ChangePassword": func(ctx context.Context) error {
			_, err := s.ChangePassword(ctx, missing, "x", true, "", adminEvent(store.EventPasswordChanged, missing, t0))
			return err
		},
		"SetPendingEmail": func(ctx context.Context) error {
			return s.SetPendingEmail(ctx, missing, "x@example.com", adminEvent(store.EventEmailChanged, missing, t0))
		},
	} {
		t.Run(name, func(t *testing.T) {
			if err := call(ctxFor(t)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s = %v, want store.ErrNotFound", name, err)
			}
		})
	}
	if ev, err := s.ListAuthEvents(ctxFor(t), store.AuthEventFilter{AccountID: missing}); err != nil || len(ev) != 0 {
		t.Errorf("events of a missing account after the refused changes = %d, %v; want none", len(ev), err)
	}
}

func testListAccountsOrder(t *testing.T, s store.Store) {
	got, err := s.ListAccounts(ctxFor(t))
	if err != nil {
		t.Fatalf("ListAccounts on an empty store: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("ListAccounts on an empty store returned %d accounts", len(got))
	}
	// Created out of order, and with creation times that sort differently
	// from the usernames.
	names := []string{"mallory", "alice", "zed", "bob", "a.b-c_d", "0day"}
	for i, name := range names {
		a := newAccount(name, "")
		a.CreatedAt = t0.Add(-time.Duration(i) * time.Hour)
		mustCreateAccount(t, s, a)
	}
	got, err = s.ListAccounts(ctxFor(t))
	if err != nil {
		t.Fatalf("ListAccounts: %v", err)
	}
	var gotNames []string
	for _, a := range got {
		gotNames = append(gotNames, a.Username)
	}
	want := []string{"0day", "a.b-c_d", "alice", "bob", "mallory", "zed"}
	if diff := cmp.Diff(want, gotNames); diff != "" {
		t.Errorf("ListAccounts order (-want +got):\n%s", diff)
	}
}

func testUpdatePasswordHash(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", "alice@example.com"))
	other := mustCreateAccount(t, s, newAccount("bob", ""))
	at := t0.Add(time.Hour)
	if err := s.UpdatePasswordHash(ctxFor(t), a.ID, "$argon2id$new", at); err != nil {
		t.Fatalf("UpdatePasswordHash: %v", err)
	}
	want := a
	want.PasswordHash = "$argon2id$new"
	want.UpdatedAt = at
	if diff := cmp.Diff(want, mustGetAccount(t, s, a.ID), cmpOpts...); diff != "" {
		t.Errorf("after UpdatePasswordHash (-want +got):\n%s", diff)
	}
	// Setting the same values again still finds the account.
	if err := s.UpdatePasswordHash(ctxFor(t), a.ID, "$argon2id$new", at); err != nil {
		t.Errorf("UpdatePasswordHash with unchanged values: %v", err)
	}
	if diff := cmp.Diff(other, mustGetAccount(t, s, other.ID), cmpOpts...); diff != "" {
		t.Errorf("other account changed (-want +got):\n%s", diff)
	}
}

// adminEvent is the audit event of an administrator's decision on id.
func adminEvent(typ, id string, at time.Time) store.AuthEvent {
	return store.AuthEvent{At: at, Type: typ, Reason: store.ReasonAdmin, AccountID: id}
}

func testDisableEnable(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	other := mustCreateAccount(t, s, newAccount("bob", ""))
	live := mustCreateSession(t, s, newSession(a.ID))
	revoked := mustCreateSession(t, s, newSession(a.ID))
	if err := s.RevokeSession(ctxFor(t), revoked.AccountID, revoked.ID, store.AuthEvent{At: t0}); err != nil {
		t.Fatal(err)
	}
	kept := mustCreateSession(t, s, newSession(other.ID))
	steps := []struct {
		disabled bool
		at       time.Time
		revoked  int
	}{
		{true, t0.Add(1 * time.Minute), 1}, // the live session, not the revoked one
		{true, t0.Add(2 * time.Minute), 0}, // disabling twice is fine
		{false, t0.Add(3 * time.Minute), 0},
		{false, t0.Add(4 * time.Minute), 0},
	}
	for _, step := range steps {
		typ := store.EventEnabled
		if step.disabled {
			typ = store.EventDisabled
		}
		n, err := s.SetAccountDisabled(ctxFor(t), a.ID, step.disabled, adminEvent(typ, a.ID, step.at))
		if err != nil {
			t.Fatalf("SetAccountDisabled(%v): %v", step.disabled, err)
		}
		if n != step.revoked {
			t.Errorf("SetAccountDisabled(%v) revoked %d sessions, want %d", step.disabled, n, step.revoked)
		}
		want := a
		want.Disabled = step.disabled
		want.UpdatedAt = step.at
		if diff := cmp.Diff(want, mustGetAccount(t, s, a.ID), cmpOpts...); diff != "" {
			t.Errorf("after SetAccountDisabled(%v) (-want +got):\n%s", step.disabled, diff)
		}
	}
	if got := mustGetSession(t, s, live.ID); !got.RevokedAt.Equal(steps[0].at) {
		t.Errorf("live session revoked at %v, want the disable's time %v", got.RevokedAt, steps[0].at)
	}
	if got := mustGetSession(t, s, revoked.ID); !got.RevokedAt.Equal(t0) {
		t.Errorf("already revoked session's time moved to %v", got.RevokedAt)
	}
	if got := mustGetSession(t, s, kept.ID); got.Revoked() {
		t.Error("another account's session was revoked")
	}
	// Each decision wrote its own event, in the same transaction.
	ev, err := s.ListAuthEvents(ctxFor(t), store.AuthEventFilter{AccountID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range ev {
		types = append(types, e.Type+"/"+e.Reason)
	}
	want := []string{"account_enabled/admin", "account_enabled/admin", "account_disabled/admin", "account_disabled/admin"}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("events, newest first (-want +got):\n%s", diff)
	}
	// An event the store cannot hold refuses the whole decision.
	bad := adminEvent(strings.Repeat("x", 200), a.ID, t0.Add(5*time.Minute))
	if _, err := s.SetAccountDisabled(ctxFor(t), a.ID, true, bad); err == nil {
		t.Error("SetAccountDisabled with an oversized event type succeeded")
	}
	if mustGetAccount(t, s, a.ID).Disabled {
		t.Error("a refused SetAccountDisabled changed the account")
	}
}

func testDeleteCascadesSessions(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", "alice@example.com"))
	b := mustCreateAccount(t, s, newAccount("bob", ""))
	s1 := mustCreateSession(t, s, newSession(a.ID))
	s2 := mustCreateSession(t, s, newSession(a.ID))
	kept := mustCreateSession(t, s, newSession(b.ID))

	if err := s.RevokeSession(ctxFor(t), s2.AccountID, s2.ID, store.AuthEvent{At: t0}); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteAccount(ctxFor(t), a.ID, adminEvent(store.EventDeleted, a.ID, t0.Add(time.Minute)))
	if err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if n != 1 {
		t.Errorf("DeleteAccount counted %d live sessions, want 1 (one of two was revoked)", n)
	}
	if ev, err := s.ListAuthEvents(ctxFor(t), store.AuthEventFilter{AccountID: a.ID}); err != nil || len(ev) != 1 || ev[0].Type != store.EventDeleted {
		t.Errorf("events after DeleteAccount = %+v, %v; want the one account_deleted", ev, err)
	}
	if _, err := s.GetAccount(ctxFor(t), a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAccount after delete = %v, want store.ErrNotFound", err)
	}
	for _, sess := range []store.Session{s1, s2} {
		if _, err := s.GetSession(ctxFor(t), sess.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSession of a deleted account's session = %v, want store.ErrNotFound", err)
		}
	}
	if diff := cmp.Diff(kept, mustGetSession(t, s, kept.ID), cmpOpts...); diff != "" {
		t.Errorf("other account's session changed (-want +got):\n%s", diff)
	}
	// The username and email are free again.
	again := newAccount("alice", "alice@example.com")
	if err := s.CreateAccount(ctxFor(t), again, store.AuthEvent{}); err != nil {
		t.Errorf("CreateAccount with a deleted account's username and email: %v", err)
	}
	if _, err := s.DeleteAccount(ctxFor(t), a.ID, adminEvent(store.EventDeleted, a.ID, t0)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteAccount = %v, want store.ErrNotFound", err)
	}
}

func testSession(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	sess := mustCreateSession(t, s, newSession(a.ID))
	got := mustGetSession(t, s, sess.ID)
	if diff := cmp.Diff(sess, got, cmpOpts...); diff != "" {
		t.Errorf("GetSession mismatch (-want +got):\n%s", diff)
	}
	if got.Revoked() {
		t.Error("new session reports Revoked() = true")
	}
	gs, ga, err := s.GetSessionAccount(ctxFor(t), sess.ID)
	if err != nil {
		t.Fatalf("GetSessionAccount: %v", err)
	}
	if diff := cmp.Diff(sess, gs, cmpOpts...); diff != "" {
		t.Errorf("GetSessionAccount session mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(a, ga, cmpOpts...); diff != "" {
		t.Errorf("GetSessionAccount account mismatch (-want +got):\n%s", diff)
	}
	if _, _, err := s.GetSessionAccount(ctxFor(t), newID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSessionAccount(unknown) = %v, want store.ErrNotFound", err)
	}

	dup := newSession(a.ID)
	dup.ID = sess.ID
	err = s.CreateSession(ctxFor(t), dup, store.AuthEvent{})
	var conflict *store.ConflictError
	if !errors.As(err, &conflict) || conflict.Field != "id" || !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateSession with a taken id = %v, want *store.ConflictError{Field: \"id\"}", err)
	}

	at := t0.Add(time.Hour)
	if err := s.RevokeSession(ctxFor(t), sess.AccountID, sess.ID, store.AuthEvent{At: at}); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	want := sess
	want.RevokedAt = at
	got = mustGetSession(t, s, sess.ID)
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("after RevokeSession (-want +got):\n%s", diff)
	}
	if !got.Revoked() {
		t.Error("revoked session reports Revoked() = false")
	}
}

func testRevokeSessionIdempotent(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	sess := mustCreateSession(t, s, newSession(a.ID))
	first := t0.Add(time.Hour)
	for i, at := range []time.Time{first, first.Add(time.Minute), first.Add(-time.Minute)} {
		if err := s.RevokeSession(ctxFor(t), sess.AccountID, sess.ID, store.AuthEvent{At: at}); err != nil {
			t.Fatalf("RevokeSession #%d: %v", i+1, err)
		}
	}
	if got := mustGetSession(t, s, sess.ID).RevokedAt; !got.Equal(first) {
		t.Errorf("RevokedAt = %v, want the first revocation time %v", got, first)
	}
}

func testRevokeAccountSessions(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	b := mustCreateAccount(t, s, newAccount("bob", ""))
	at := t0.Add(2 * time.Hour)

	var live []store.Session
	for range 3 {
		live = append(live, mustCreateSession(t, s, newSession(a.ID)))
	}
	earlier := newSession(a.ID)
	earlier.RevokedAt = t0.Add(time.Hour)
	mustCreateSession(t, s, earlier)
	expired := newSession(a.ID)
	expired.ExpiresAt = t0.Add(time.Hour) // before at
	mustCreateSession(t, s, expired)
	other := mustCreateSession(t, s, newSession(b.ID))

	n, err := s.RevokeAccountSessions(ctxFor(t), a.ID, "", adminEvent(store.EventSessionsRevoked, a.ID, at))
	if err != nil {
		t.Fatalf("RevokeAccountSessions: %v", err)
	}
	if n != len(live) {
		t.Errorf("RevokeAccountSessions = %d, want %d (live sessions only)", n, len(live))
	}
	for _, sess := range live {
		if got := mustGetSession(t, s, sess.ID).RevokedAt; !got.Equal(at) {
			t.Errorf("live session RevokedAt = %v, want %v", got, at)
		}
	}
	if got := mustGetSession(t, s, earlier.ID).RevokedAt; !got.Equal(earlier.RevokedAt) {
		t.Errorf("already revoked session RevokedAt = %v, want the first time %v", got, earlier.RevokedAt)
	}
	if got := mustGetSession(t, s, other.ID); got.Revoked() {
		t.Errorf("another account's session was revoked at %v", got.RevokedAt)
	}

	n, err = s.RevokeAccountSessions(ctxFor(t), a.ID, "", adminEvent(store.EventSessionsRevoked, a.ID, at.Add(time.Minute)))
	if err != nil || n != 0 {
		t.Errorf("second RevokeAccountSessions = %d, %v; want 0, nil", n, err)
	}
}

func testSessionUnknownAccount(t *testing.T, s store.Store) {
	mustCreateAccount(t, s, newAccount("alice", ""))
	sess := newSession(newID())
	if err := s.CreateSession(ctxFor(t), sess, store.AuthEvent{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateSession for an unknown account = %v, want store.ErrNotFound", err)
	}
	if _, err := s.GetSession(ctxFor(t), sess.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession after the failed create = %v, want store.ErrNotFound", err)
	}
}

// testSigningKeyMAC: a MAC written with the key comes back; a key
// without one gets one once, and only once.
func testSigningKeyMAC(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	withMAC := store.SigningKey{ID: "key-mac", Algorithm: "PS256", PublicKey: []byte("pub"), SealedPrivateKey: []byte("sealed"),
		CreatedAt: t0, ActiveAt: t0, MAC: []byte("mac of key-mac \x00\xff")}
	without := withMAC
	without.ID, without.MAC = "key-nomac", nil
	for _, k := range []store.SigningKey{withMAC, without} {
		if err := s.CreateSigningKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	macs := func() map[string][]byte {
		t.Helper()
		keys, err := s.ListSigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string][]byte{}
		for _, k := range keys {
			m[k.ID] = k.MAC
		}
		return m
	}
	if m := macs(); !bytes.Equal(m["key-mac"], withMAC.MAC) || m["key-nomac"] != nil {
		t.Fatalf("MACs read back: %q", m)
	}
	if err := s.SetSigningKeyMAC(ctx, "key-nomac", []byte("new mac")); err != nil {
		t.Fatal(err)
	}
	if m := macs(); !bytes.Equal(m["key-nomac"], []byte("new mac")) {
		t.Fatalf("after SetSigningKeyMAC: %q", m["key-nomac"])
	}
	for _, id := range []string{"key-nomac", "key-mac", "key-missing"} {
		if err := s.SetSigningKeyMAC(ctx, id, []byte("other")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetSigningKeyMAC(%s) on a key with a MAC or none: %v, want ErrNotFound", id, err)
		}
	}
	if m := macs(); !bytes.Equal(m["key-mac"], withMAC.MAC) {
		t.Fatalf("a MAC was overwritten: %q", m["key-mac"])
	}
}

func testSigningKeys(t *testing.T, s store.Store) {
	keys, err := s.ListSigningKeys(ctxFor(t))
	if err != nil {
		t.Fatalf("ListSigningKeys on an empty store: %v", err)
	}
	if len(keys) != 0 {
		t.Fatalf("ListSigningKeys on an empty store returned %d keys", len(keys))
	}
	newKey := func(id string, created time.Time) store.SigningKey {
		return store.SigningKey{
			ID:               id,
			Algorithm:        "PS256",
			PublicKey:        []byte("public " + id + "\x00\xff"),
			SealedPrivateKey: []byte("sealed " + id + "\x00\x01\xfe"),
			CreatedAt:        created,
			ActiveAt:         created.Add(10 * time.Minute),
		}
	}
	oldest := newKey("key-old", t0.Add(-48*time.Hour))
	oldest.RetireAt = t0.Add(-24 * time.Hour)
	oldest.ExpiresAt = t0.Add(-23 * time.Hour)
	middle := newKey("key-mid", t0.Add(-24*time.Hour))
	middle.RetireAt = t0.Add(time.Hour)
	newest := newKey("key-new", t0)
	newest.Algorithm = "RS256"
	// Same CreatedAt as newest: ordered by id.
	twin := newKey("key-new2", t0)

	for _, k := range []store.SigningKey{middle, newest, twin, oldest} {
		if err := s.CreateSigningKey(ctxFor(t), k); err != nil {
			t.Fatalf("CreateSigningKey(%q): %v", k.ID, err)
		}
	}
	keys, err = s.ListSigningKeys(ctxFor(t))
	if err != nil {
		t.Fatalf("ListSigningKeys: %v", err)
	}
	want := []store.SigningKey{oldest, middle, newest, twin}
	if diff := cmp.Diff(want, keys, cmpOpts...); diff != "" {
		t.Errorf("ListSigningKeys mismatch (-want +got):\n%s", diff)
	}

	dup := newKey("key-mid", t0.Add(time.Hour))
	err = s.CreateSigningKey(ctxFor(t), dup)
	var conflict *store.ConflictError
	if !errors.As(err, &conflict) || conflict.Field != "id" || !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateSigningKey with a taken id = %v, want *store.ConflictError{Field: \"id\"}", err)
	}
}

func testTimeRoundTrip(t *testing.T, s store.Store) {
	india := time.FixedZone("IST", 5*3600+1800)
	pacific := time.FixedZone("PDT", -7*3600)
	tests := []struct {
		name string
		in   time.Time
	}{
		{"UTC", time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)},
		{"east of UTC, nanoseconds", time.Date(2025, 6, 30, 23, 59, 59, 999999999, india)},
		{"west of UTC", time.Date(2024, 2, 29, 12, 0, 0, 123456789, pacific)},
		{"before 1970", time.Date(1969, 7, 20, 20, 17, 40, 987654321, time.UTC)},
		{"far future", time.Date(2999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{"monotonic clock reading", time.Now()},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.in.Truncate(time.Microsecond).UTC()
			a := newAccount(fmt.Sprintf("user%d", i), "")
			a.CreatedAt, a.UpdatedAt = tt.in, tt.in
			mustCreateAccount(t, s, a)
			sess := newSession(a.ID)
			sess.CreatedAt, sess.ExpiresAt, sess.RevokedAt = tt.in, tt.in, tt.in
			mustCreateSession(t, s, sess)
			key := store.SigningKey{
				ID: fmt.Sprintf("kid%d", i), Algorithm: "PS256",
				PublicKey: []byte{1}, SealedPrivateKey: []byte{2},
				CreatedAt: tt.in, ActiveAt: tt.in, RetireAt: tt.in, ExpiresAt: tt.in,
			}
			if err := s.CreateSigningKey(ctxFor(t), key); err != nil {
				t.Fatalf("CreateSigningKey: %v", err)
			}

			gotAccount := mustGetAccount(t, s, a.ID)
			gotSession := mustGetSession(t, s, sess.ID)
			var gotKey store.SigningKey
			keys, err := s.ListSigningKeys(ctxFor(t))
			if err != nil {
				t.Fatalf("ListSigningKeys: %v", err)
			}
			for _, k := range keys {
				if k.ID == key.ID {
					gotKey = k
				}
			}
			got := map[string]time.Time{
				"Account.CreatedAt":    gotAccount.CreatedAt,
				"Account.UpdatedAt":    gotAccount.UpdatedAt,
				"Session.CreatedAt":    gotSession.CreatedAt,
				"Session.ExpiresAt":    gotSession.ExpiresAt,
				"Session.RevokedAt":    gotSession.RevokedAt,
				"SigningKey.CreatedAt": gotKey.CreatedAt,
				"SigningKey.ActiveAt":  gotKey.ActiveAt,
				"SigningKey.RetireAt":  gotKey.RetireAt,
				"SigningKey.ExpiresAt": gotKey.ExpiresAt,
			}
			for field, g := range got {
				if !g.Equal(want) || g.Location() != time.UTC {
					t.Errorf("%s = %v (%s), want %v (UTC)", field, g, g.Location(), want)
				}
			}
		})
	}

	t.Run("zero optional times", func(t *testing.T) {
		a := mustCreateAccount(t, s, newAccount("zero", ""))
		sess := mustCreateSession(t, s, newSession(a.ID)) // RevokedAt zero
		if got := mustGetSession(t, s, sess.ID).RevokedAt; !got.IsZero() {
			t.Errorf("Session.RevokedAt = %v, want the zero time", got)
		}
		key := store.SigningKey{
			ID: "kid-zero", Algorithm: "PS256", PublicKey: []byte{1}, SealedPrivateKey: []byte{2},
			CreatedAt: t0, ActiveAt: t0, // RetireAt and ExpiresAt zero
		}
		if err := s.CreateSigningKey(ctxFor(t), key); err != nil {
			t.Fatalf("CreateSigningKey: %v", err)
		}
		keys, err := s.ListSigningKeys(ctxFor(t))
		if err != nil {
			t.Fatalf("ListSigningKeys: %v", err)
		}
		for _, k := range keys {
			if k.ID == key.ID && (!k.RetireAt.IsZero() || !k.ExpiresAt.IsZero()) {
				t.Errorf("RetireAt, ExpiresAt = %v, %v; want zero times", k.RetireAt, k.ExpiresAt)
			}
		}
	})
}

// concurrency is how many goroutines the concurrent tests start at once.
const concurrency = 16

func testConcurrentCreateSameUsername(t *testing.T, s store.Store) {
	errs := make([]error, concurrency)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range concurrency {
		wg.Go(func() {
			<-start
			a := newAccount("contested", fmt.Sprintf("user%d@example.com", i))
			errs[i] = s.CreateAccount(ctxFor(t), a, store.AuthEvent{})
		})
	}
	close(start)
	wg.Wait()

	wins := 0
	for _, err := range errs {
		var conflict *store.ConflictError
		switch {
		case err == nil:
			wins++
		case errors.As(err, &conflict) && conflict.Field == "username":
		default:
			t.Errorf("CreateAccount = %v, want nil or *store.ConflictError{Field: \"username\"}", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent creates of one username succeeded, want exactly 1", wins)
	}
	all, err := s.ListAccounts(ctxFor(t))
	if err != nil {
		t.Fatalf("ListAccounts: %v", err)
	}
	if len(all) != 1 {
		t.Errorf("ListAccounts returned %d accounts, want 1", len(all))
	}
}

func testConcurrentRevoke(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	one := mustCreateSession(t, s, newSession(a.ID))

	t.Run("RevokeSession", func(t *testing.T) {
		times := make(map[time.Time]bool)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range concurrency {
			at := t0.Add(time.Duration(i+1) * time.Second)
			times[at] = true
			wg.Go(func() {
				<-start
				if err := s.RevokeSession(ctxFor(t), one.AccountID, one.ID, store.AuthEvent{At: at}); err != nil {
					t.Errorf("RevokeSession: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		got := mustGetSession(t, s, one.ID).RevokedAt
		if !times[got] {
			t.Errorf("RevokedAt = %v, want one of the revocation times", got)
		}
	})

	t.Run("RevokeAccountSessions", func(t *testing.T) {
		const sessions = 10
		for range sessions {
			mustCreateSession(t, s, newSession(a.ID))
		}
		counts := make([]int, concurrency)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range concurrency {
			wg.Go(func() {
				<-start
				n, err := s.RevokeAccountSessions(ctxFor(t), a.ID, "", adminEvent(store.EventSessionsRevoked, a.ID, t0.Add(time.Minute)))
				if err != nil {
					t.Errorf("RevokeAccountSessions: %v", err)
				}
				counts[i] = n
			})
		}
		close(start)
		wg.Wait()
		total := 0
		for _, n := range counts {
			total += n
		}
		if total != sessions {
			t.Errorf("concurrent RevokeAccountSessions revoked %d sessions in total, want %d (each once)", total, sessions)
		}
	})
}

// testConcurrentWrites checks that concurrent writers all succeed: a
// backend must queue them, not fail them (SQLite: no SQLITE_BUSY).
func testConcurrentWrites(t *testing.T, s store.Store) {
	const perWriter = 5
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range concurrency {
		wg.Go(func() {
			<-start
			for j := range perWriter {
				a := newAccount(fmt.Sprintf("w%02d-%d", i, j), fmt.Sprintf("w%02d-%d@example.com", i, j))
				if err := s.CreateAccount(ctxFor(t), a, store.AuthEvent{}); err != nil {
					t.Errorf("CreateAccount: %v", err)
					return
				}
				sess := newSession(a.ID)
				if err := s.CreateSession(ctxFor(t), sess, store.AuthEvent{}); err != nil {
					t.Errorf("CreateSession: %v", err)
					return
				}
				if err := s.UpdatePasswordHash(ctxFor(t), a.ID, "$argon2id$changed", t0.Add(time.Second)); err != nil {
					t.Errorf("UpdatePasswordHash: %v", err)
				}
				if err := s.RevokeSession(ctxFor(t), sess.AccountID, sess.ID, store.AuthEvent{At: t0.Add(time.Second)}); err != nil {
					t.Errorf("RevokeSession: %v", err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	all, err := s.ListAccounts(ctxFor(t))
	if err != nil {
		t.Fatalf("ListAccounts: %v", err)
	}
	if len(all) != concurrency*perWriter {
		t.Errorf("ListAccounts returned %d accounts, want %d", len(all), concurrency*perWriter)
	}
}
