package account_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
)

// endOfWait is the throttle wait after n consecutive failures under the
// default settings (five free failures, then 1 s doubling up to 15 min),
// plus a second: when a stranger who times each guess to the end of the
// wait guesses again.
func endOfWait(n int) time.Duration {
	if n < account.DefaultThrottleAfter {
		return 0
	}
	return min(time.Second<<min(n-account.DefaultThrottleAfter, 30), account.DefaultThrottleMaxDelay) + time.Second
}

// TestStrangerCannotLockOutOwner: a stranger who knows the username
// guesses at the end of every throttle wait until the account's counter
// locks at 100; after every tenth guess, while the wait runs, the owner
// types the right password on a device that logged in before. The owner gets
// in every time, while the NIST ceiling still holds for every client
// without a device token, the owner's on a new device included.
func TestStrangerCannotLockOutOwner(t *testing.T) {
	t.Parallel()
	eachStore(t, testStrangerCannotLockOutOwner)
}

func testStrangerCannotLockOutOwner(t *testing.T, st store.Store) {
	clock := servertest.NewClock()
	svc := mustService(t, testConfig(t, st, clock))
	ctx := ctxT(t)
	id := mustSignup(t, svc, "alice")
	first, err := svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	device := first.DeviceToken
	if device == "" {
		t.Fatal("a full login gave no device token")
	}
	counter := func() int {
		t.Helper()
		a, err := st.GetAccount(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return a.Failures.Count
	}
	stranger := protocol.LoginRequest{Username: "alice", Password: wrongPassword}
	refused, tries := 0, 0
	for n := 0; n < account.MaxLockAfter; n++ {
		clock.Advance(endOfWait(n))
		if _, err := svc.Login(ctx, stranger); !errors.Is(err, account.ErrInvalidCredentials) {
			t.Fatalf("stranger's guess %d: %v", n+1, err)
		}
		if got := counter(); got != n+1 {
			t.Fatalf("stranger's guess %d left the account's counter at %d: it was not checked at the end of the wait", n+1, got)
		}
		if (n+1)%10 != 0 {
			continue
		}
		tries++
		r, err := svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: goodPassword, DeviceToken: device})
		if err != nil {
			refused++
			continue
		}
		if r.DeviceToken == "" || r.DeviceToken == device {
			t.Fatalf("owner's login %d gave device token %q: want a fresh one", tries, r.DeviceToken)
		}
		device = r.DeviceToken
	}
	t.Logf("stranger's guesses timed at the end of each wait: the owner's right password (known device) was refused %d of %d times; the account counter is %d", refused, tries, counter())
	if refused != 0 {
		t.Fatalf("the owner's right password from a known device was refused %d of %d times", refused, tries)
	}
	// The ceiling holds for every client without a device token.
	if _, err := svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: goodPassword}); !errors.Is(err, account.ErrInvalidCredentials) {
		t.Fatalf("right password without a device token on a locked account: %v", err)
	}
	clock.Advance(24 * time.Hour)
	if _, err := svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: goodPassword, DeviceToken: "0123456789abcdef0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}); !errors.Is(err, account.ErrInvalidCredentials) {
		t.Fatalf("right password with a made-up device token on a locked account: %v", err)
	}
	if _, err := svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: goodPassword, DeviceToken: first.DeviceToken}); !errors.Is(err, account.ErrInvalidCredentials) {
		t.Fatalf("right password with a replaced device token on a locked account: %v", err)
	}
	if _, err := svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: goodPassword, DeviceToken: device}); err != nil {
		t.Fatalf("owner's device after the lock: %v", err)
	}
	if got := counter(); got != account.MaxLockAfter {
		t.Fatalf("the owner's device login changed the strangers' counter to %d", got)
	}
	ev := listEvents(t, st, store.AuthEventFilter{AccountID: id})
	if n := countEvents(ev, store.EventLocked, ""); n != 1 {
		t.Errorf("%d account lock events, want 1", n)
	}
}

// TestDeviceThrottle: failures with a valid device token count against
// that device only; the device is throttled and then locked like an
// account, which refuses it but not the rest, and an unlock clears it.
func TestDeviceThrottle(t *testing.T) {
	t.Parallel()
	eachStore(t, testDeviceThrottle)
}

func testDeviceThrottle(t *testing.T, st store.Store) {
	clock := servertest.NewClock()
	svc := mustService(t, testConfig(t, st, clock))
	ctx := ctxT(t)
	id := mustSignup(t, svc, "alice")
	login := func(password, device string) (*protocol.LoginResult, error) {
		return svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: password, DeviceToken: device})
	}
	r, err := login(goodPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	lost := r.DeviceToken // a device its owner lost, in a stranger's hands
	r, err = login(goodPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	owner := r.DeviceToken
	for n := 0; n < account.MaxLockAfter; n++ {
		clock.Advance(endOfWait(n))
		if _, err := login(wrongPassword, lost); !errors.Is(err, account.ErrInvalidCredentials) {
			t.Fatalf("guess %d: %v", n+1, err)
		}
		if n == account.DefaultThrottleAfter-1 {
			if _, err := login(goodPassword, lost); !errors.Is(err, account.ErrInvalidCredentials) {
				t.Fatalf("right password on a throttled device: %v", err)
			}
		}
	}
	a, err := st.GetAccount(ctx, id)
	if err != nil || a.Failures.Count != 0 {
		t.Fatalf("guesses with a device token moved the account's counter to %d (%v)", a.Failures.Count, err)
	}
	clock.Advance(24 * time.Hour)
	if _, err := login(goodPassword, lost); !errors.Is(err, account.ErrInvalidCredentials) {
		t.Fatalf("right password on a locked device: %v", err)
	}
	if _, err := login(goodPassword, owner); err != nil {
		t.Fatalf("another device of the account: %v", err)
	}
	if _, err := login(goodPassword, ""); err != nil {
		t.Fatalf("a new device: %v", err)
	}
	ev := listEvents(t, st, store.AuthEventFilter{AccountID: id})
	for _, c := range []struct {
		typ, reason string
		want        int
	}{
		{store.EventLoginFailed, store.ReasonDeviceThrottled, 1},
		{store.EventLoginFailed, store.ReasonDeviceLocked, 1},
		{store.EventLocked, store.ReasonDevice, 1},
		{store.EventLoginFailed, store.ReasonWrongPassword, account.MaxLockAfter},
	} {
		if n := countEvents(ev, c.typ, c.reason); n != c.want {
			t.Errorf("%d %s/%s events, want %d", n, c.typ, c.reason, c.want)
		}
	}
	if _, err := svc.UnlockAccount(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := login(goodPassword, lost); err != nil {
		t.Fatalf("the device after an unlock: %v", err)
	}
}

// TestDeviceTokenChecks: a token is the account's own and its secret
// must match; anything else is a stranger, and only the token's length
// is an error.
func TestDeviceTokenChecks(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		clock := servertest.NewClock()
		svc := mustService(t, testConfig(t, st, clock))
		ctx := ctxT(t)
		aliceID := mustSignup(t, svc, "alice")
		mustSignup(t, svc, "bob")
		r, err := svc.Login(ctx, protocol.LoginRequest{Username: "bob", Password: goodPassword})
		if err != nil {
			t.Fatal(err)
		}
		bobs := r.DeviceToken
		id, secret, _ := strings.Cut(bobs, ".")
		flipped := []byte(secret)
		flipped[0] ^= 1
		if flipped[0] == '-' || flipped[0] == '_' {
			flipped[0] = 'A'
		}
		for name, tok := range map[string]string{
			"another account's": bobs,
			"wrong secret":      id + "." + string(flipped),
			"malformed":         "not a device token",
		} {
			if _, err := svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: wrongPassword, DeviceToken: tok}); !errors.Is(err, account.ErrInvalidCredentials) {
				t.Fatalf("%s token: %v", name, err)
			}
			if a, err := st.GetAccount(ctx, aliceID); err != nil || a.Failures.Count == 0 {
				t.Fatalf("a failure with %s token did not count against the account: %d, %v", name, a.Failures.Count, err)
			}
			if _, err := st.ResetLoginFailures(ctx, aliceID, store.AuthEvent{}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: goodPassword, DeviceToken: strings.Repeat("a", protocol.MaxDeviceTokenLength+1)})
		if !isCode(err, protocol.CodeBadRequest) {
			t.Fatalf("overlong device token: %v", err)
		}
		// A token of an unknown user does the same work and gets the
		// same answer as a wrong password.
		if _, err := svc.Login(ctx, protocol.LoginRequest{Username: "ghost", Password: goodPassword, DeviceToken: bobs}); !errors.Is(err, account.ErrInvalidCredentials) {
			t.Fatalf("unknown user with a device token: %v", err)
		}
	})
}

// TestReauthenticationCountsOnSessionDevice: a wrong current password in
// a session counts against the device the session logged in from, so a
// locked-out account (strangers) does not refuse the owner's session,
// and the session's guesses do not lock the account.
func TestReauthenticationCountsOnSessionDevice(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		clock := servertest.NewClock()
		svc := mustService(t, testConfig(t, st, clock))
		ctx := ctxT(t)
		id := mustSignup(t, svc, "alice")
		tok := mustLogin(t, svc, "alice")
		if _, err := svc.ChangePassword(ctx, protocol.ChangePasswordRequest{Token: tok.Token, CurrentPassword: wrongPassword, NewPassword: "another long enough passphrase"}); !isCode(err, protocol.CodeInvalidCredentials) {
			t.Fatalf("wrong current password: %v", err)
		}
		if a, err := st.GetAccount(ctx, id); err != nil || a.Failures.Count != 0 {
			t.Fatalf("a session's wrong password moved the account's counter to %d (%v)", a.Failures.Count, err)
		}
		d, err := st.GetDevice(ctx, strings.SplitN(tok.DeviceToken, ".", 2)[0])
		if err != nil || d.Failures.Count != 1 {
			t.Fatalf("the session's device counter is %d (%v), want 1", d.Failures.Count, err)
		}
		// Strangers lock the account (their guesses, recorded directly:
		// timed as above they take longer than the token lives).
		for range account.MaxLockAfter {
			e := store.AuthEvent{At: clock.Now(), Type: store.EventLoginFailed, Reason: store.ReasonWrongPassword, AccountID: id}
			if _, err := st.RecordLoginFailure(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: goodPassword}); !errors.Is(err, account.ErrInvalidCredentials) {
			t.Fatalf("the account is not locked: %v", err)
		}
		clock.Advance(time.Minute)
		if _, err := svc.ChangePassword(ctx, protocol.ChangePasswordRequest{Token: tok.Token, CurrentPassword: goodPassword, NewPassword: "another long enough passphrase"}); err != nil {
			t.Fatalf("change password in the owner's session while strangers locked the account: %v", err)
		}
	})
}
