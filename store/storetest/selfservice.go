package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accountd/accountd/store"
)

// eventTypes lists the types of an account's events, newest first, as
// "type/reason".
func eventTypes(t *testing.T, s store.Store, accountID string) []string {
	t.Helper()
	ev, err := s.ListAuthEvents(ctxFor(t), store.AuthEventFilter{AccountID: accountID})
	if err != nil {
		t.Fatalf("ListAuthEvents: %v", err)
	}
	types := []string{}
	for _, e := range ev {
		types = append(types, e.Type+"/"+e.Reason)
	}
	return types
}

func ownerEvent(typ, reason, accountID, sessionID string, at time.Time) store.AuthEvent {
	return store.AuthEvent{At: at, Type: typ, Reason: reason, IP: "192.0.2.1", AccountID: accountID, SessionID: sessionID}
}

// testCreateWithEvents: signup and login write their audit rows in the
// same transaction as the account and the session, and a refused create
// writes neither; a login clears the failed-login counter.
func testCreateWithEvents(t *testing.T, s store.Store) {
	a := newAccount("alice", "alice@example.com")
	if err := s.CreateAccount(ctxFor(t), a, ownerEvent(store.EventSignup, "", a.ID, "", t0)); err != nil {
		t.Fatalf("CreateAccount with an event: %v", err)
	}
	dup := newAccount("alice", "")
	err := s.CreateAccount(ctxFor(t), dup, ownerEvent(store.EventSignup, "", dup.ID, "", t0))
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateAccount with a taken username = %v, want store.ErrAlreadyExists", err)
	}
	if got := eventTypes(t, s, dup.ID); len(got) != 0 {
		t.Errorf("a refused signup wrote events %v", got)
	}

	for range 3 {
		if _, err := s.RecordLoginFailure(ctxFor(t), failure(a.ID, t0)); err != nil {
			t.Fatal(err)
		}
	}
	sess := newSession(a.ID)
	if err := s.CreateSession(ctxFor(t), sess, ownerEvent(store.EventLogin, "", a.ID, sess.ID, t0.Add(time.Second))); err != nil {
		t.Fatalf("CreateSession with an event: %v", err)
	}
	if f := mustGetAccount(t, s, a.ID).Failures; f.Count != 0 || !f.LastAt.IsZero() {
		t.Errorf("failures after a login = %+v, want cleared", f)
	}
	again := newSession(a.ID)
	again.ID = sess.ID
	if err := s.CreateSession(ctxFor(t), again, ownerEvent(store.EventLogin, "", a.ID, sess.ID, t0.Add(2*time.Second))); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateSession with a taken id = %v, want store.ErrAlreadyExists", err)
	}
	want := []string{"login/", "login_failed/wrong_password", "login_failed/wrong_password", "login_failed/wrong_password", "signup/"}
	if diff := cmp.Diff(want, eventTypes(t, s, a.ID)); diff != "" {
		t.Errorf("events, newest first (-want +got):\n%s", diff)
	}
}

// testSessionDetails: a session's client, IP and last use round-trip.
func testSessionDetails(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	sess := newSession(a.ID)
	sess.LastUsedAt = sess.CreatedAt
	sess.Client = "account/1.0 (linux; amd64)"
	sess.IP = "2001:db8::1"
	mustCreateSession(t, s, sess)
	if diff := cmp.Diff(sess, mustGetSession(t, s, sess.ID), cmpOpts...); diff != "" {
		t.Errorf("GetSession (-want +got):\n%s", diff)
	}
	long := newSession(a.ID)
	long.Client = string(make([]byte, store.MaxSessionClient+1))
	if err := s.CreateSession(ctxFor(t), long, store.AuthEvent{}); err == nil {
		t.Errorf("CreateSession with a %d-byte client succeeded", len(long.Client))
	}
}

func testListSessions(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	b := mustCreateAccount(t, s, newAccount("bob", ""))
	at := t0.Add(time.Hour)
	first := newSession(a.ID)
	second := newSession(a.ID)
	second.CreatedAt = t0.Add(time.Minute)
	second.Client = "second"
	revoked := newSession(a.ID)
	revoked.RevokedAt = t0.Add(time.Minute)
	expired := newSession(a.ID)
	expired.ExpiresAt = at // not after at: ended
	for _, sess := range []store.Session{second, first, revoked, expired, newSession(b.ID)} {
		mustCreateSession(t, s, sess)
	}
	got, err := s.ListSessions(ctxFor(t), a.ID, at)
	if err != nil {
		t.Fatalf("ListSessions: %v", err)
	}
	if diff := cmp.Diff([]store.Session{first, second}, got, cmpOpts...); diff != "" {
		t.Errorf("ListSessions, live only, oldest first (-want +got):\n%s", diff)
	}
	if got, err := s.ListSessions(ctxFor(t), newID(), at); err != nil || got == nil || len(got) != 0 {
		t.Errorf("ListSessions(unknown account) = %v, %v; want empty, nil", got, err)
	}
}

func testTouchSession(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	sess := mustCreateSession(t, s, newSession(a.ID))
	steps := []struct {
		at, want time.Time
	}{
		{t0.Add(time.Minute), t0.Add(time.Minute)},
		{t0.Add(3 * time.Minute), t0.Add(3 * time.Minute)},
		{t0.Add(2 * time.Minute), t0.Add(3 * time.Minute)}, // never backwards
	}
	for _, step := range steps {
		if err := s.TouchSession(ctxFor(t), sess.ID, step.at); err != nil {
			t.Fatalf("TouchSession(%v): %v", step.at, err)
		}
		if got := mustGetSession(t, s, sess.ID).LastUsedAt; !got.Equal(step.want) {
			t.Errorf("after TouchSession(%v): LastUsedAt = %v, want %v", step.at, got, step.want)
		}
	}
	if err := s.TouchSession(ctxFor(t), newID(), t0); err != nil {
		t.Errorf("TouchSession(unknown) = %v, want nil", err)
	}
}

// testRevokeSessionOfAccount: an account revokes its own sessions only;
// another account's session is not found, and nothing is written.
func testRevokeSessionOfAccount(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	b := mustCreateAccount(t, s, newAccount("bob", ""))
	mine := mustCreateSession(t, s, newSession(a.ID))
	theirs := mustCreateSession(t, s, newSession(b.ID))
	at := t0.Add(time.Hour)
	err := s.RevokeSession(ctxFor(t), a.ID, theirs.ID, ownerEvent(store.EventSessionsRevoked, store.ReasonOneSession, a.ID, theirs.ID, at))
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeSession of another account's session = %v, want store.ErrNotFound", err)
	}
	if mustGetSession(t, s, theirs.ID).Revoked() {
		t.Error("another account's session was revoked")
	}
	if got := eventTypes(t, s, a.ID); len(got) != 0 {
		t.Errorf("a refused revoke wrote events %v", got)
	}
	if err := s.RevokeSession(ctxFor(t), a.ID, mine.ID, ownerEvent(store.EventLogout, "", a.ID, mine.ID, at)); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	if got := mustGetSession(t, s, mine.ID).RevokedAt; !got.Equal(at) {
		t.Errorf("RevokedAt = %v, want %v", got, at)
	}
	if diff := cmp.Diff([]string{"logout/"}, eventTypes(t, s, a.ID)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func testRevokeAccountSessionsKeep(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	keep := mustCreateSession(t, s, newSession(a.ID))
	others := []store.Session{mustCreateSession(t, s, newSession(a.ID)), mustCreateSession(t, s, newSession(a.ID))}
	at := t0.Add(time.Hour)
	n, err := s.RevokeAccountSessions(ctxFor(t), a.ID, keep.ID, ownerEvent(store.EventSessionsRevoked, store.ReasonOthersEnded, a.ID, keep.ID, at))
	if err != nil || n != len(others) {
		t.Fatalf("RevokeAccountSessions keeping one = %d, %v; want %d, nil", n, err, len(others))
	}
	if mustGetSession(t, s, keep.ID).Revoked() {
		t.Error("the kept session was revoked")
	}
	for _, o := range others {
		if !mustGetSession(t, s, o.ID).Revoked() {
			t.Errorf("session %s was not revoked", o.ID)
		}
	}
	if diff := cmp.Diff([]string{"sessions_revoked/others"}, eventTypes(t, s, a.ID)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func testChangePassword(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	b := mustCreateAccount(t, s, newAccount("bob", ""))
	// The calling session came from a device with a failure counted;
	// another device of the account has one too.
	dev, otherDev := newDevice(a.ID, t0, "one"), newDevice(a.ID, t0, "two")
	for _, d := range []store.Device{dev, otherDev} {
		if err := s.PutDevice(ctxFor(t), d, 8); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordDeviceFailure(ctxFor(t), d.ID, failure(a.ID, t0)); err != nil {
			t.Fatal(err)
		}
	}
	cs := newSession(a.ID)
	cs.DeviceID = dev.ID
	current := mustCreateSession(t, s, cs)
	other := mustCreateSession(t, s, newSession(a.ID))
	bobs := mustCreateSession(t, s, newSession(b.ID))
	if _, err := s.RecordLoginFailure(ctxFor(t), failure(a.ID, t0)); err != nil {
		t.Fatal(err)
	}

	at := t0.Add(time.Hour)
	n, err := s.ChangePassword(ctxFor(t), a.ID, "new-hash", false, current.ID, ownerEvent(store.EventPasswordChanged, "", a.ID, current.ID, at))
	if err != nil || n != 0 {
		t.Fatalf("ChangePassword keeping the sessions = %d, %v; want 0, nil", n, err)
	}
	// The change came from a known device: the strangers' failure on the
	// account stays.
	got := mustGetAccount(t, s, a.ID)
	if got.PasswordHash != "new-hash" || !got.UpdatedAt.Equal(at) || got.Failures.Count != 1 {
		t.Errorf("after ChangePassword: hash %q, updated %v, failures %d; want new-hash, %v, 1", got.PasswordHash, got.UpdatedAt, got.Failures.Count, at)
	}
	if mustGetSession(t, s, other.ID).Revoked() {
		t.Error("ChangePassword without endOthers revoked a session")
	}
	if n, m := mustGetDevice(t, s, dev.ID).Failures.Count, mustGetDevice(t, s, otherDev.ID).Failures.Count; n != 0 || m != 1 {
		t.Errorf("after ChangePassword: the calling session's device has %d failures, another device %d; want 0 and 1", n, m)
	}

	// From a session with no device, the account's counter restarts.
	n, err = s.ChangePassword(ctxFor(t), a.ID, "newer-hash", true, other.ID, ownerEvent(store.EventPasswordChanged, store.ReasonOthersEnded, a.ID, other.ID, at.Add(time.Minute)))
	if err != nil || n != 1 {
		t.Fatalf("ChangePassword ending the others = %d, %v; want 1, nil", n, err)
	}
	if got := mustGetAccount(t, s, a.ID); got.Failures.Count != 0 {
		t.Errorf("after ChangePassword from a session with no device: failures %d, want 0", got.Failures.Count)
	}
	if !mustGetSession(t, s, current.ID).Revoked() || mustGetSession(t, s, other.ID).Revoked() || mustGetSession(t, s, bobs.ID).Revoked() {
		t.Error("ChangePassword ending the others: want only the other session of the account revoked")
	}
	want := []string{"password_changed/others", "password_changed/", "login_failed/wrong_password", "login_failed/wrong_password", "login_failed/wrong_password"}
	if diff := cmp.Diff(want, eventTypes(t, s, a.ID)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func testSetPendingEmail(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", "alice@example.com"))
	mustCreateAccount(t, s, newAccount("bob", "bob@example.com"))
	at := t0.Add(time.Hour)

	// A new address waits beside the current one; another account's
	// address may wait too (it is checked when verified).
	if err := s.SetPendingEmail(ctxFor(t), a.ID, "bob@example.com", ownerEvent(store.EventEmailChanged, "", a.ID, "", at)); err != nil {
		t.Fatalf("SetPendingEmail to another account's address: %v", err)
	}
	if err := s.SetPendingEmail(ctxFor(t), a.ID, "alice@example.org", ownerEvent(store.EventEmailChanged, "", a.ID, "", at)); err != nil {
		t.Fatalf("SetPendingEmail: %v", err)
	}
	if got := mustGetAccount(t, s, a.ID); got.Email != "alice@example.com" || got.PendingEmail != "alice@example.org" || !got.UpdatedAt.Equal(at) {
		t.Errorf("email %q, pending %q, updated %v; want alice@example.com, alice@example.org, %v", got.Email, got.PendingEmail, got.UpdatedAt, at)
	}
	// The pending address is verified, then another change comes that
	// was decided before (it read alice@example.com as the email): the
	// verification stands.
	c := newCode(a.ID, store.PurposeVerify, "alice@example.org", 7)
	if err := s.PutEmailCode(ctxFor(t), c, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyEmail(ctxFor(t), a.ID, "alice@example.org", c.Hash, ownerEvent(store.EventEmailVerified, "", a.ID, "", at)); err != nil {
		t.Fatalf("VerifyEmail: %v", err)
	}
	if err := s.SetPendingEmail(ctxFor(t), a.ID, "alice@example.net", ownerEvent(store.EventEmailChanged, "", a.ID, "", at.Add(time.Minute))); err != nil {
		t.Fatalf("SetPendingEmail: %v", err)
	}
	if got := mustGetAccount(t, s, a.ID); got.Email != "alice@example.org" || got.PendingEmail != "alice@example.net" {
		t.Errorf("email %q, pending %q; want the verified alice@example.org, and alice@example.net pending", got.Email, got.PendingEmail)
	}
	if err := s.SetPendingEmail(ctxFor(t), a.ID, "", ownerEvent(store.EventEmailChanged, "", a.ID, "", at.Add(time.Minute))); err != nil {
		t.Fatalf("SetPendingEmail to none: %v", err)
	}
	if got := mustGetAccount(t, s, a.ID); got.Email != "alice@example.org" || got.PendingEmail != "" {
		t.Errorf("email %q, pending %q; want alice@example.org and none", got.Email, got.PendingEmail)
	}
	if diff := cmp.Diff([]string{"email_changed/", "email_changed/", "email_verified/", "email_changed/", "email_changed/"}, eventTypes(t, s, a.ID)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func testPruneSessions(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	ended := newSession(a.ID)
	ended.ExpiresAt = t0.Add(time.Hour)
	endedRevoked := newSession(a.ID)
	endedRevoked.ExpiresAt, endedRevoked.RevokedAt = t0.Add(time.Hour), t0
	live := newSession(a.ID)
	live.ExpiresAt = t0.Add(2 * time.Hour)
	for _, sess := range []store.Session{ended, endedRevoked, live} {
		mustCreateSession(t, s, sess)
	}
	n, err := s.PruneSessions(ctxFor(t), t0.Add(90*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("PruneSessions = %d, %v; want 2, nil", n, err)
	}
	for _, gone := range []store.Session{ended, endedRevoked} {
		if _, err := s.GetSession(ctxFor(t), gone.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSession of a pruned session = %v, want store.ErrNotFound", err)
		}
	}
	mustGetSession(t, s, live.ID)
	if n, err := s.PruneSessions(ctxFor(t), t0.Add(90*time.Minute)); err != nil || n != 0 {
		t.Errorf("second PruneSessions = %d, %v; want 0, nil", n, err)
	}
}
