package server_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/store"
)

// mustDialDevices connects like mustDial, keeping device tokens in
// devices.
func mustDialDevices(tb testing.TB, ts *testServer, devices client.DeviceTokens) *client.Conn {
	tb.Helper()
	_, ck := mustKeys(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, ts.Addr, client.Options{
		Trust:           client.NewKnownServers(filepath.Join(tb.TempDir(), "known_servers")),
		TrustOnFirstUse: true,
		ClientKey:       ck,
		DeviceTokens:    devices,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// TestDeviceTokensOverTheWire: over a real connection, a stranger who
// guesses at the end of every throttle wait until the account locks
// refuses every login without a device token, and none of the owner's,
// whose SDK keeps the device token in a file (mode 0600) and presents
// it; with a second factor on, the token comes with the completed login
// and the factor's wrong codes count on the device.
func TestDeviceTokensOverTheWire(t *testing.T) {
	t.Parallel()
	for _, backend := range stores {
		t.Run(backend.name, func(t *testing.T) {
			parallel(t)
			st := backend.open(t)
			ts := mustServe(t, st, func(c *server.Config) { c.LockAfter = 20 })
			testDeviceTokensOverTheWire(t, ts, st)
		})
	}
}

func testDeviceTokensOverTheWire(t *testing.T, ts *testServer, st store.Store) {
	ctx := ctxT(t)
	clock := ts.Clock
	file := filepath.Join(t.TempDir(), "accountd", "device_tokens")
	owner := mustDialDevices(t, ts, client.NewDeviceTokenFile(file))
	stranger := mustDial(t, ts)
	if _, err := owner.Signup(ctx, "alice", goodPassword, ""); err != nil {
		t.Fatal(err)
	}
	tok, err := owner.Login(ctx, "Alice", goodPassword)
	if err != nil || tok.DeviceToken == "" {
		t.Fatalf("login = %+v, %v; want a device token", tok, err)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("device token file: %v, %v; want mode 0600", fi, err)
	}
	kept, err := client.NewDeviceTokenFile(file).DeviceToken(ts.Addr, "alice")
	if err != nil || kept != tok.DeviceToken {
		t.Fatalf("kept device token = %q, %v; want the login's", kept, err)
	}

	refused, tries := 0, 0
	for n := range 20 {
		clock.Advance(endOfWait(n))
		if _, err := stranger.Login(ctx, "alice", "not the password at all"); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Fatalf("stranger's guess %d: %v", n+1, err)
		}
		if n+1 < 5 {
			continue
		}
		tries++
		if _, err := stranger.Login(ctx, "alice", goodPassword); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Fatalf("the right password without a device token while throttled (guess %d): %v", n+1, err)
		}
		if _, err := owner.Login(ctx, "alice", goodPassword); err != nil {
			refused++
		}
	}
	t.Logf("over the wire: owner's SDK with its device token refused %d of %d times while strangers throttled, then locked, the account", refused, tries)
	if refused != 0 {
		t.Fatalf("the owner's device was refused %d of %d times", refused, tries)
	}
	clock.Advance(24 * time.Hour)
	if _, err := stranger.Login(ctx, "alice", goodPassword); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Fatalf("the right password without a device token on a locked account: %v", err)
	}
	if _, err := owner.Login(ctx, "alice", goodPassword); err != nil {
		t.Fatalf("the owner's device on a locked account: %v", err)
	}

	// With a second factor: the challenge remembers the device, the
	// completed login gives the next token, wrong codes count on it.
	secret, _ := mustEnrol(t, owner, clock, "alice")
	before, _ := client.NewDeviceTokenFile(file).DeviceToken(ts.Addr, "alice")
	sf := mustSecondFactorRequired(t, owner, "alice")
	if _, err := owner.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{Code: wrongCode(t, secret, clock.Now())}); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Fatalf("wrong code: %v", err)
	}
	id, _, _ := strings.Cut(before, ".")
	if d, err := st.GetDevice(ctx, id); err != nil || d.Failures.Count != 1 {
		t.Fatalf("device counter after a wrong code = %d, %v; want 1", d.Failures.Count, err)
	}
	clock.Advance(30 * time.Second) // the enrolment used this step's code
	done, err := owner.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{Code: totpCode(t, secret, clock.Now())})
	if err != nil {
		t.Fatalf("the right code on a locked account from the owner's device: %v", err)
	}
	after, _ := client.NewDeviceTokenFile(file).DeviceToken(ts.Addr, "alice")
	if done.DeviceToken == "" || after != done.DeviceToken || after == before {
		t.Fatalf("device token after login_second_factor = %q (kept %q, before %q): want a new one kept", done.DeviceToken, after, before)
	}
}

// TestDeviceTokenFile: the file keeps one token per server and
// username (lower-cased), and refuses a file others can read or a
// malformed line.
func TestDeviceTokenFile(t *testing.T) {
	parallel(t)
	path := filepath.Join(t.TempDir(), "device_tokens")
	f := client.NewDeviceTokenFile(path)
	for _, e := range [][3]string{{"a:1", "alice", "t1"}, {"a:1", "bob", "t2"}, {"b:2", "alice", "t3"}, {"a:1", "ALICE", "t4"}} {
		if err := f.SetDeviceToken(e[0], e[1], e[2]); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range [][3]string{{"a:1", "alice", "t4"}, {"a:1", "bob", "t2"}, {"b:2", "Alice", "t3"}, {"c:3", "alice", ""}} {
		if got, err := f.DeviceToken(want[0], want[1]); err != nil || got != want[2] {
			t.Errorf("DeviceToken(%s, %s) = %q, %v; want %q", want[0], want[1], got, err, want[2])
		}
	}
	if err := f.SetDeviceToken("a:1", "alice", "bad token"); err == nil {
		t.Error("a token with a space was kept")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var insecure *client.InsecureFileError
	if _, err := f.DeviceToken("a:1", "alice"); !errors.As(err, &insecure) || insecure.Fix != "chmod 600 "+path {
		t.Errorf("a file others can read: %v, want *InsecureFileError", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("a:1 alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.DeviceToken("a:1", "alice"); err == nil || !strings.Contains(err.Error(), path+":1") {
		t.Errorf("a malformed line: %v, want an error naming the line", err)
	}
}

// endOfWait is the throttle wait after n consecutive failures under the
// default settings (five free failures, then 1 s doubling up to 15 min),
// plus a second.
func endOfWait(n int) time.Duration {
	if n < 5 {
		return 0
	}
	return min(time.Second<<min(n-5, 30), 15*time.Minute) + time.Second
}

// TestClientKeepsDeviceTokens: the pool Client keeps device tokens in
// memory by default, shows them, and presents them at the next login.
func TestClientKeepsDeviceTokens(t *testing.T) {
	parallel(t)
	ts := mustServe(t, stores[0].open(t), nil)
	_, ck := mustKeys(t)
	c, err := client.NewClient(ts.Addr, client.Options{
		Trust:           client.NewKnownServers(filepath.Join(t.TempDir(), "known_servers")),
		TrustOnFirstUse: true,
		ClientKey:       ck,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := ctxT(t)
	if _, err := c.Signup(ctx, "alice", goodPassword, ""); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Login(ctx, "alice", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.DeviceTokens().DeviceToken(ts.Addr, "alice"); err != nil || got == "" || got != tok.DeviceToken {
		t.Fatalf("Client.DeviceTokens() holds %q, %v; want the login's %q", got, err, tok.DeviceToken)
	}
	stranger := mustDial(t, ts)
	for range 5 {
		if _, err := stranger.Login(ctx, "alice", "not the password at all"); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	if _, err := c.Login(ctx, "alice", goodPassword); err != nil {
		t.Fatalf("the Client's next login, while strangers throttle the account: %v", err)
	}
}
