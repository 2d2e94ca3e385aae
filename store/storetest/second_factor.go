package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accountd/accountd/store"
)

func codeHashes(tag string, n int) [][]byte {
	hs := make([][]byte, n)
	for i := range hs {
		h := sha256.Sum256(fmt.Appendf(nil, "%s %d", tag, i))
		hs[i] = h[:]
	}
	return hs
}

func mustGetFactor(t *testing.T, s store.Store, id string) store.SecondFactor {
	t.Helper()
	f, err := s.GetSecondFactor(ctxFor(t), id)
	if err != nil {
		t.Fatalf("GetSecondFactor: %v", err)
	}
	return f
}

// testSecondFactor: an enrolment is pending until enabled with the
// sealed secret it began with; a step and a recovery code each work
// once; disabling removes the factor and its codes.
func testSecondFactor(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	if _, err := s.GetSecondFactor(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSecondFactor before any = %v, want ErrNotFound", err)
	}
	if err := s.BeginSecondFactor(ctx, store.SecondFactor{AccountID: newID(), SealedSecret: []byte("x"), CreatedAt: t0}, store.AuthEvent{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("BeginSecondFactor for no account = %v, want ErrNotFound", err)
	}
	first, second := []byte("sealed one"), []byte("sealed two")
	for _, sealed := range [][]byte{first, second} {
		if err := s.BeginSecondFactor(ctx, store.SecondFactor{AccountID: a.ID, SealedSecret: sealed, CreatedAt: t0}, store.AuthEvent{}); err != nil {
			t.Fatalf("BeginSecondFactor: %v", err)
		}
	}
	f := mustGetFactor(t, s, a.ID)
	if f.Enabled || !bytes.Equal(f.SealedSecret, second) || !f.CreatedAt.Equal(t0) || mustGetAccount(t, s, a.ID).SecondFactor {
		t.Fatalf("pending factor = %+v, want the second secret, not enabled", f)
	}
	on := ownerEvent(store.EventSecondFactorEnabled, "", a.ID, "", t0.Add(time.Minute))
	if err := s.EnableSecondFactor(ctx, a.ID, first, 100, codeHashes("a", 10), on); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("EnableSecondFactor with the replaced secret = %v, want ErrNotFound", err)
	}
	if err := s.EnableSecondFactor(ctx, a.ID, second, 100, codeHashes("a", 10), on); err != nil {
		t.Fatalf("EnableSecondFactor: %v", err)
	}
	if f := mustGetFactor(t, s, a.ID); !f.Enabled || f.LastStep != 100 || f.RecoveryCodesLeft != 10 {
		t.Fatalf("factor after enable = %+v, want on, step 100, 10 codes", f)
	}
	if !mustGetAccount(t, s, a.ID).SecondFactor {
		t.Error("account does not say its factor is on")
	}
	if err := s.BeginSecondFactor(ctx, store.SecondFactor{AccountID: a.ID, SealedSecret: first, CreatedAt: t0}, store.AuthEvent{}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("BeginSecondFactor with the factor on = %v, want ErrAlreadyExists", err)
	}

	for _, tc := range []struct {
		step int64
		want bool
	}{{100, false}, {99, false}, {101, true}, {101, false}, {103, true}, {102, false}} {
		got, err := s.UseTOTPStep(ctx, a.ID, tc.step)
		if err != nil || got != tc.want {
			t.Errorf("UseTOTPStep(%d) = %v, %v; want %v", tc.step, got, err, tc.want)
		}
	}

	code := codeHashes("a", 10)[3]
	used := ownerEvent(store.EventRecoveryCodeUsed, "", a.ID, "", t0.Add(2*time.Minute))
	for i, want := range []bool{true, false} {
		got, err := s.UseRecoveryCode(ctx, a.ID, code, used)
		if err != nil || got != want {
			t.Errorf("UseRecoveryCode #%d = %v, %v; want %v", i+1, got, err, want)
		}
	}
	if got, err := s.UseRecoveryCode(ctx, a.ID, codeHashes("other", 1)[0], used); err != nil || got {
		t.Errorf("UseRecoveryCode of an unknown code = %v, %v; want false", got, err)
	}
	if f := mustGetFactor(t, s, a.ID); f.RecoveryCodesLeft != 9 {
		t.Errorf("RecoveryCodesLeft = %d, want 9", f.RecoveryCodesLeft)
	}
	regen := ownerEvent(store.EventRecoveryCodesRegenerated, "", a.ID, "", t0.Add(3*time.Minute))
	if err := s.ReplaceRecoveryCodes(ctx, a.ID, codeHashes("b", 10), regen); err != nil {
		t.Fatalf("ReplaceRecoveryCodes: %v", err)
	}
	if got, _ := s.UseRecoveryCode(ctx, a.ID, codeHashes("a", 10)[4], used); got {
		t.Error("a code replaced by ReplaceRecoveryCodes still works")
	}
	if f := mustGetFactor(t, s, a.ID); f.RecoveryCodesLeft != 10 {
		t.Errorf("RecoveryCodesLeft after replace = %d, want 10", f.RecoveryCodesLeft)
	}

	live := mustCreateSession(t, s, newSession(a.ID))
	keep := mustCreateSession(t, s, newSession(a.ID))
	off := ownerEvent(store.EventSecondFactorDisabled, store.ReasonAdmin, a.ID, "", t0.Add(4*time.Minute))
	n, err := s.DisableSecondFactor(ctx, a.ID, true, keep.ID, off)
	if err != nil || n != 1 {
		t.Fatalf("DisableSecondFactor = %d, %v; want 1 session ended", n, err)
	}
	if got, _ := s.GetSession(ctx, live.ID); !got.Revoked() {
		t.Error("DisableSecondFactor left a session live")
	}
	if _, err := s.GetSecondFactor(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSecondFactor after disable = %v, want ErrNotFound", err)
	}
	if mustGetAccount(t, s, a.ID).SecondFactor {
		t.Error("account says its factor is on after disable")
	}
	if got, _ := s.UseRecoveryCode(ctx, a.ID, codeHashes("b", 10)[0], used); got {
		t.Error("a recovery code works after disable")
	}
	if got, _ := s.UseTOTPStep(ctx, a.ID, 1000); got {
		t.Error("a step is accepted after disable")
	}
	if _, err := s.DisableSecondFactor(ctx, a.ID, false, "", off); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DisableSecondFactor twice = %v, want ErrNotFound", err)
	}
	if err := s.ReplaceRecoveryCodes(ctx, a.ID, codeHashes("c", 10), regen); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReplaceRecoveryCodes with the factor off = %v, want ErrNotFound", err)
	}
	want := []string{
		"second_factor_disabled/admin", "recovery_codes_regenerated/", "recovery_code_used/", "second_factor_enabled/",
	}
	if diff := cmp.Diff(want, eventTypes(t, s, a.ID)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// testConcurrentSecondFactorUse: of many concurrent uses of one step, of
// one recovery code, or of one challenge's attempts, the conditional
// updates let exactly as many through as allowed.
func testConcurrentSecondFactorUse(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	if err := s.BeginSecondFactor(ctx, store.SecondFactor{AccountID: a.ID, SealedSecret: []byte("s"), CreatedAt: t0}, store.AuthEvent{}); err != nil {
		t.Fatal(err)
	}
	if err := s.EnableSecondFactor(ctx, a.ID, []byte("s"), 1, codeHashes("a", 10), ownerEvent(store.EventSecondFactorEnabled, "", a.ID, "", t0)); err != nil {
		t.Fatal(err)
	}
	c := store.LoginChallenge{ID: fmt.Sprintf("%064x", 1), AccountID: a.ID, CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
	if err := s.CreateLoginChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	var steps, codes, claims atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range concurrency {
		wg.Go(func() {
			<-start
			if ok, err := s.UseTOTPStep(ctxFor(t), a.ID, 2); err != nil {
				t.Errorf("UseTOTPStep: %v", err)
			} else if ok {
				steps.Add(1)
			}
			ok, err := s.UseRecoveryCode(ctxFor(t), a.ID, codeHashes("a", 10)[0], ownerEvent(store.EventRecoveryCodeUsed, "", a.ID, "", t0))
			if err != nil {
				t.Errorf("UseRecoveryCode: %v", err)
			} else if ok {
				codes.Add(1)
			}
			if ok, err := s.ClaimChallengeAttempt(ctxFor(t), c.ID, t0.Add(time.Minute), 5); err != nil {
				t.Errorf("ClaimChallengeAttempt: %v", err)
			} else if ok {
				claims.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if steps.Load() != 1 || codes.Load() != 1 || claims.Load() != 5 {
		t.Errorf("of %d concurrent uses: %d took the step, %d the recovery code, %d claimed an attempt; want 1, 1, 5",
			concurrency, steps.Load(), codes.Load(), claims.Load())
	}
}

// testLoginChallenge: a challenge is claimed only while live, unused and
// under its attempts; completing it opens the session once.
func testLoginChallenge(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	c := store.LoginChallenge{
		ID: fmt.Sprintf("%064x", 2), AccountID: a.ID, Binding: "conn", Client: "test/1", IP: "192.0.2.1",
		CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute),
	}
	if err := s.CreateLoginChallenge(ctx, c); err != nil {
		t.Fatalf("CreateLoginChallenge: %v", err)
	}
	if err := s.CreateLoginChallenge(ctx, c); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateLoginChallenge twice = %v, want ErrAlreadyExists", err)
	}
	orphan := c
	orphan.ID, orphan.AccountID = fmt.Sprintf("%064x", 3), newID()
	if err := s.CreateLoginChallenge(ctx, orphan); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateLoginChallenge for no account = %v, want ErrNotFound", err)
	}
	got, err := s.GetLoginChallenge(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, got, cmpOpts...); diff != "" {
		t.Errorf("challenge read back (-want +got):\n%s", diff)
	}
	if ok, _ := s.ClaimChallengeAttempt(ctx, c.ID, c.ExpiresAt, 5); ok {
		t.Error("claimed an attempt at the challenge's expiry")
	}
	for i := range 2 {
		if ok, err := s.ClaimChallengeAttempt(ctx, c.ID, t0.Add(time.Minute), 2); !ok || err != nil {
			t.Fatalf("claim %d = %v, %v", i+1, ok, err)
		}
	}
	if ok, _ := s.ClaimChallengeAttempt(ctx, c.ID, t0.Add(time.Minute), 2); ok {
		t.Error("claimed past maxAttempts")
	}
	if got, _ := s.GetLoginChallenge(ctx, c.ID); got.Attempts != 2 {
		t.Errorf("Attempts = %d, want 2", got.Attempts)
	}

	sess := newSession(a.ID)
	sess.CreatedAt, sess.AMR = t0.Add(time.Minute), []string{"pwd", "otp"}
	e := ownerEvent(store.EventLogin, "pwd+otp", a.ID, sess.ID, sess.CreatedAt)
	if _, err := s.RecordLoginFailure(ctx, failure(a.ID, t0)); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteLoginChallenge(ctx, c.ID, sess, e); err != nil {
		t.Fatalf("CompleteLoginChallenge: %v", err)
	}
	gotSess, err := s.GetSession(ctx, sess.ID)
	if err != nil || !slicesEqual(gotSess.AMR, sess.AMR) {
		t.Fatalf("session after completion: %+v, %v; want amr %v", gotSess, err, sess.AMR)
	}
	if f := mustGetAccount(t, s, a.ID).Failures; f.Count != 0 {
		t.Errorf("failures after a completed login = %d, want 0", f.Count)
	}
	again := newSession(a.ID)
	if err := s.CompleteLoginChallenge(ctx, c.ID, again, store.AuthEvent{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CompleteLoginChallenge twice = %v, want ErrNotFound", err)
	}
	if _, err := s.GetSession(ctx, again.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a second completion opened a session: %v", err)
	}
	if got, _ := s.GetLoginChallenge(ctx, c.ID); !got.Used() {
		t.Error("challenge not marked used")
	}

	// A password-only session reads back as ["pwd"].
	plain := newSession(a.ID)
	plain.AMR = nil
	mustCreateSession(t, s, plain)
	if got, _ := s.GetSession(ctx, plain.ID); !slicesEqual(got.AMR, []string{"pwd"}) {
		t.Errorf("amr of a session created without one = %v, want [pwd]", got.AMR)
	}

	// Expired challenges go when the next is created.
	later := store.LoginChallenge{ID: fmt.Sprintf("%064x", 4), AccountID: a.ID, CreatedAt: t0.Add(time.Hour), ExpiresAt: t0.Add(time.Hour + 5*time.Minute)}
	if err := s.CreateLoginChallenge(ctx, later); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetLoginChallenge(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired challenge outlived the next create: %v", err)
	}
}

func slicesEqual(a, b []string) bool { return cmp.Equal(a, b) }
