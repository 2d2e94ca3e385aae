package storetest

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accountd/accountd/store"
)

func newCode(accountID, purpose, email string, fill byte) store.EmailCode {
	return store.EmailCode{
		AccountID: accountID, Purpose: purpose, Email: email,
		Hash: bytes.Repeat([]byte{fill}, 32), ExpiresAt: t0.Add(10 * time.Minute),
		Issued: 1, WindowStart: t0,
	}
}

// testEmailCodes: a code round-trips, a new one replaces the old, codes
// of two purposes live side by side, an unknown account is ErrNotFound,
// and deleting the account deletes its codes.
func testEmailCodes(t *testing.T, s store.Store) {
	a := newAccount("alice", "")
	a.PendingEmail = "alice@example.com"
	a = mustCreateAccount(t, s, a)
	if got := mustGetAccount(t, s, a.ID); got.PendingEmail != "alice@example.com" || got.Email != "" {
		t.Fatalf("created with a pending email: email %q, pending %q", got.Email, got.PendingEmail)
	}
	if _, err := s.GetEmailCode(ctxFor(t), a.ID, store.PurposeVerify); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetEmailCode before any = %v, want ErrNotFound", err)
	}
	c := newCode(a.ID, store.PurposeVerify, "alice@example.com", 1)
	if err := s.PutEmailCode(ctxFor(t), c, nil); err != nil {
		t.Fatalf("PutEmailCode: %v", err)
	}
	got, err := s.GetEmailCode(ctxFor(t), a.ID, store.PurposeVerify)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, got, cmpOpts...); diff != "" {
		t.Errorf("code round trip (-put +got):\n%s", diff)
	}
	c2 := newCode(a.ID, store.PurposeVerify, "alice@example.com", 2)
	c2.Issued = 2
	// A put that assumes no code, or another code, than the one stored
	// writes nothing.
	if err := s.PutEmailCode(ctxFor(t), c2, nil); !errors.Is(err, store.ErrStale) {
		t.Fatalf("PutEmailCode in place of none while one exists = %v, want ErrStale", err)
	}
	if err := s.PutEmailCode(ctxFor(t), c2, bytes.Repeat([]byte{9}, 32)); !errors.Is(err, store.ErrStale) {
		t.Fatalf("PutEmailCode in place of another code = %v, want ErrStale", err)
	}
	if got, _ := s.GetEmailCode(ctxFor(t), a.ID, store.PurposeVerify); !bytes.Equal(got.Hash, c.Hash) {
		t.Fatalf("a refused put replaced the code")
	}
	if err := s.PutEmailCode(ctxFor(t), c2, c.Hash); err != nil {
		t.Fatal(err)
	}
	// Concurrent puts in place of the same code: one wins, the others
	// are told, so none counts from a code that is gone.
	const racers = 8
	errs := make(chan error, racers)
	for i := range racers {
		go func() {
			errs <- s.PutEmailCode(ctxFor(t), newCode(a.ID, store.PurposeVerify, "alice@example.com", byte(10+i)), c2.Hash)
		}()
	}
	won := 0
	for range racers {
		switch err := <-errs; {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrStale):
			t.Fatalf("a concurrent PutEmailCode: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent puts in place of one code succeeded, want 1", won, racers)
	}
	latest, err := s.GetEmailCode(ctxFor(t), a.ID, store.PurposeVerify)
	if err != nil {
		t.Fatal(err)
	}
	c2 = newCode(a.ID, store.PurposeVerify, "alice@example.com", 2)
	c2.Issued = 2
	if err := s.PutEmailCode(ctxFor(t), c2, latest.Hash); err != nil {
		t.Fatal(err)
	}
	r := newCode(a.ID, store.PurposeReset, "alice@example.com", 3)
	if err := s.PutEmailCode(ctxFor(t), r, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetEmailCode(ctxFor(t), a.ID, store.PurposeVerify); !bytes.Equal(got.Hash, c2.Hash) || got.Issued != 2 {
		t.Errorf("after a second put: hash %x issued %d, want the second code", got.Hash, got.Issued)
	}
	if got, _ := s.GetEmailCode(ctxFor(t), a.ID, store.PurposeReset); !bytes.Equal(got.Hash, r.Hash) {
		t.Errorf("reset code hash %x, want %x", got.Hash, r.Hash)
	}
	if err := s.PutEmailCode(ctxFor(t), newCode(newID(), store.PurposeVerify, "x@example.com", 4), nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutEmailCode for an unknown account = %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteAccount(ctxFor(t), a.ID, ownerEvent(store.EventDeleted, store.ReasonSelf, a.ID, "", t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetEmailCode(ctxFor(t), a.ID, store.PurposeReset); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetEmailCode after the account was deleted = %v, want ErrNotFound", err)
	}
}

// testConcurrentCodeAttempts: concurrent attempts each count.
func testConcurrentCodeAttempts(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	if _, err := s.CountEmailCodeAttempt(ctxFor(t), a.ID, store.PurposeReset); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CountEmailCodeAttempt without a code = %v, want ErrNotFound", err)
	}
	if err := s.PutEmailCode(ctxFor(t), newCode(a.ID, store.PurposeReset, "alice@example.com", 1), nil); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	seen := make(chan int, n)
	for range n {
		wg.Go(func() {
			c, err := s.CountEmailCodeAttempt(ctxFor(t), a.ID, store.PurposeReset)
			if err != nil {
				t.Errorf("CountEmailCodeAttempt: %v", err)
				return
			}
			seen <- c.Attempts
		})
	}
	wg.Wait()
	close(seen)
	distinct := map[int]bool{}
	for v := range seen {
		distinct[v] = true
	}
	c, err := s.GetEmailCode(ctxFor(t), a.ID, store.PurposeReset)
	if err != nil {
		t.Fatal(err)
	}
	if c.Attempts != n || len(distinct) != n {
		t.Errorf("after %d concurrent attempts: stored %d, distinct answers %d; want %d and %d", n, c.Attempts, len(distinct), n, n)
	}
}

// testVerifyEmail: the right code moves the pending address to Email
// once; a wrong hash, a second use, or an address no longer pending
// change nothing; an address verified by another account is a conflict.
func testVerifyEmail(t *testing.T, s store.Store) {
	a := newAccount("alice", "")
	a.PendingEmail = "alice@example.com"
	a = mustCreateAccount(t, s, a)
	c := newCode(a.ID, store.PurposeVerify, "alice@example.com", 7)
	if err := s.PutEmailCode(ctxFor(t), c, nil); err != nil {
		t.Fatal(err)
	}
	ev := ownerEvent(store.EventEmailVerified, "", a.ID, "", t0.Add(time.Minute))
	if err := s.VerifyEmail(ctxFor(t), a.ID, "alice@example.com", bytes.Repeat([]byte{8}, 32), ev); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("VerifyEmail with a wrong hash = %v, want ErrNotFound", err)
	}
	if err := s.VerifyEmail(ctxFor(t), a.ID, "other@example.com", c.Hash, ev); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("VerifyEmail of an address not pending = %v, want ErrNotFound", err)
	}
	if err := s.VerifyEmail(ctxFor(t), a.ID, "alice@example.com", c.Hash, ev); err != nil {
		t.Fatalf("VerifyEmail: %v", err)
	}
	got := mustGetAccount(t, s, a.ID)
	if got.Email != "alice@example.com" || got.PendingEmail != "" {
		t.Errorf("after verify: email %q pending %q", got.Email, got.PendingEmail)
	}
	if byEmail, err := s.GetAccountByEmail(ctxFor(t), "alice@example.com"); err != nil || byEmail.ID != a.ID {
		t.Errorf("GetAccountByEmail = %v, %v", byEmail.ID, err)
	}
	if err := s.VerifyEmail(ctxFor(t), a.ID, "alice@example.com", c.Hash, ev); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second VerifyEmail = %v, want ErrNotFound", err)
	}
	if diff := cmp.Diff([]string{"email_verified/"}, eventTypes(t, s, a.ID)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	b := newAccount("bob", "")
	b.PendingEmail = "alice@example.com"
	b = mustCreateAccount(t, s, b)
	if _, err := s.GetAccountByEmail(ctxFor(t), "bob-pending@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAccountByEmail of an unknown address = %v", err)
	}
	bc := newCode(b.ID, store.PurposeVerify, "alice@example.com", 9)
	if err := s.PutEmailCode(ctxFor(t), bc, nil); err != nil {
		t.Fatal(err)
	}
	err := s.VerifyEmail(ctxFor(t), b.ID, "alice@example.com", bc.Hash, ownerEvent(store.EventEmailVerified, "", b.ID, "", t0))
	var ce *store.ConflictError
	if !errors.As(err, &ce) || ce.Field != "email" {
		t.Errorf("VerifyEmail of an address another account verified = %v, want a conflict on email", err)
	}
	if _, err := s.GetEmailCode(ctxFor(t), b.ID, store.PurposeVerify); err != nil {
		t.Errorf("a refused verify used the code: %v", err)
	}
}

// testResetPassword: the right code sets the hash, clears failures (not
// with a second factor on) and ends every session, once.
func testResetPassword(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", "alice@example.com"))
	sess := mustCreateSession(t, s, newSession(a.ID))
	if _, err := s.RecordLoginFailure(ctxFor(t), failure(a.ID, t0)); err != nil {
		t.Fatal(err)
	}
	c := newCode(a.ID, store.PurposeReset, a.Email, 5)
	if err := s.PutEmailCode(ctxFor(t), c, nil); err != nil {
		t.Fatal(err)
	}
	ev := ownerEvent(store.EventPasswordReset, "", a.ID, "", t0.Add(time.Minute))
	if _, err := s.ResetPassword(ctxFor(t), a.ID, bytes.Repeat([]byte{6}, 32), "$new", ev); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ResetPassword with a wrong hash = %v, want ErrNotFound", err)
	}
	n, err := s.ResetPassword(ctxFor(t), a.ID, c.Hash, "$new", ev)
	if err != nil || n != 1 {
		t.Fatalf("ResetPassword = %d, %v; want 1 session ended", n, err)
	}
	got := mustGetAccount(t, s, a.ID)
	if got.PasswordHash != "$new" || got.Failures.Count != 0 {
		t.Errorf("after reset: hash %q failures %d", got.PasswordHash, got.Failures.Count)
	}
	if !mustGetSession(t, s, sess.ID).Revoked() {
		t.Error("a session outlived the reset")
	}
	if _, err := s.ResetPassword(ctxFor(t), a.ID, c.Hash, "$again", ev); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second ResetPassword = %v, want ErrNotFound", err)
	}

	// With a second factor on, the counter stays: it limits wrong codes too.
	b := mustCreateAccount(t, s, newAccount("bob", "bob@example.com"))
	if err := s.BeginSecondFactor(ctxFor(t), store.SecondFactor{AccountID: b.ID, SealedSecret: []byte("s"), CreatedAt: t0}, store.AuthEvent{}); err != nil {
		t.Fatal(err)
	}
	if err := s.EnableSecondFactor(ctxFor(t), b.ID, []byte("s"), 1, codeHashes("b", 10), ownerEvent(store.EventSecondFactorEnabled, "", b.ID, "", t0)); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := s.RecordLoginFailure(ctxFor(t), failure(b.ID, t0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	c = newCode(b.ID, store.PurposeReset, b.Email, 5)
	if err := s.PutEmailCode(ctxFor(t), c, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResetPassword(ctxFor(t), b.ID, c.Hash, "$new", ownerEvent(store.EventPasswordReset, "", b.ID, "", t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	got = mustGetAccount(t, s, b.ID)
	if got.PasswordHash != "$new" || got.Failures.Count != 2 || !got.Failures.LastAt.Equal(t0.Add(time.Second)) || !got.SecondFactor {
		t.Errorf("after reset with a factor on: hash %q failures %+v factor %v; want the new hash, 2 failures kept, the factor on", got.PasswordHash, got.Failures, got.SecondFactor)
	}
}

// testMailQueue: mails are claimed once until their lease ends, oldest
// first; a retry moves them; a delete removes them.
func testMailQueue(t *testing.T, s store.Store) {
	m1 := store.QueuedMail{ID: newID(), Kind: store.MailNotice, AccountID: newID(), Address: "a@example.com",
		Username: "alice", Notice: "password_changed", CreatedAt: t0, NextAt: t0}
	m2 := store.QueuedMail{ID: newID(), Kind: store.MailReset, Login: "bob", CreatedAt: t0.Add(time.Second), NextAt: t0.Add(time.Second)}
	later := store.QueuedMail{ID: newID(), Kind: store.MailVerify, CreatedAt: t0, NextAt: t0.Add(time.Hour)}
	for _, m := range []store.QueuedMail{m2, m1, later} {
		if err := s.EnqueueMail(ctxFor(t), m); err != nil {
			t.Fatalf("EnqueueMail: %v", err)
		}
	}
	lease := t0.Add(2 * time.Minute)
	got, err := s.ClaimMail(ctxFor(t), t0.Add(time.Minute), lease, 10)
	if err != nil {
		t.Fatal(err)
	}
	m1.NextAt, m2.NextAt = lease, lease
	if diff := cmp.Diff([]store.QueuedMail{m1, m2}, got, cmpOpts...); diff != "" {
		t.Errorf("claimed (-want +got):\n%s", diff)
	}
	if again, err := s.ClaimMail(ctxFor(t), t0.Add(time.Minute), lease, 10); err != nil || len(again) != 0 {
		t.Errorf("claimed again during the lease: %d mails, %v", len(again), err)
	}
	if err := s.RetryMail(ctxFor(t), m1.ID, 1, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMail(ctxFor(t), m2.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RetryMail(ctxFor(t), m2.ID, 1, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RetryMail of a deleted mail = %v, want ErrNotFound", err)
	}
	got, err = s.ClaimMail(ctxFor(t), t0.Add(3*time.Minute), t0.Add(4*time.Minute), 1)
	if err != nil || len(got) != 1 || got[0].ID != m1.ID || got[0].Attempts != 1 {
		t.Errorf("claim after the retry = %+v, %v; want m1 with 1 attempt", got, err)
	}
}
