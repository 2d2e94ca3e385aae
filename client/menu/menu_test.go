package menu_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/client/menu"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
)

const password = "correct horse battery staple"

// script is the user at the keyboard: it answers one line per Read, and
// runs the actions placed between lines at the moment the menu asks for
// the next answer.
type script struct {
	mu    sync.Mutex
	steps []any // string (an answer), func() (an action) or func() string (an answer made from what the screen shows)
}

func (s *script) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.steps) > 0 {
		step := s.steps[0]
		s.steps = s.steps[1:]
		switch step := step.(type) {
		case func():
			step()
		case func() string:
			return copy(p, step()+"\n"), nil
		case string:
			return copy(p, step+"\n"), nil
		}
	}
	return 0, io.EOF
}

// syncBuffer is the screen: written by the menu, read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type run struct {
	out   *syncBuffer
	known string
	err   error
}

// runMenu runs the menu in accessible mode against addr with the given
// keyboard, a known-servers file in dir, and saved sessions when
// remember is set.
// TestAccessibleAsksForServer: without an address the menu asks for one
// and checks it before dialing.
func TestAccessibleAsksForServer(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	r := runMenu(t, "", t.TempDir(), false, "ftp://"+ts.Addr, " "+ts.Addr+" ", "y", "4")
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	wantLines(t, r.out.String(), `Server address`, `unsupported scheme "ftp"`, `Connected to `+regexp.QuoteMeta(ts.Addr))
}

func runMenu(t *testing.T, addr, dir string, remember bool, steps ...any) run {
	t.Helper()
	return runMenuWith(t, addr, dir, remember, &syncBuffer{}, steps...)
}

// runMenuOut is runMenu writing to out, which the steps may read.
func runMenuOut(t *testing.T, addr, dir string, out *syncBuffer, steps ...any) run {
	t.Helper()
	return runMenuWith(t, addr, dir, false, out, steps...)
}

func runMenuWith(t *testing.T, addr, dir string, remember bool, out *syncBuffer, steps ...any) run {
	t.Helper()
	_, ck := servertest.Keys(t)
	known := filepath.Join(dir, "known_servers")
	opts := menu.Options{
		Server:     addr,
		Trust:      client.NewKnownServers(known),
		ClientKey:  ck,
		Accessible: true,
		In:         &script{steps: steps},
		Out:        out,
		Timeout:    20 * time.Second,
	}
	if remember {
		opts.Sessions = &menu.SavedSessions{Dir: filepath.Join(dir, "sessions")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	err := menu.Run(ctx, opts)
	t.Logf("screen:\n%s", out)
	return run{out: out, known: known, err: err}
}

func wantLines(t *testing.T, screen string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(screen) {
			t.Errorf("screen lacks %q", p)
		}
	}
}

// The logged-out menu: 1 Log in, 2 Sign up, 3 Forgot password?, 4 Quit.
// The logged-in menu: 1 Who am I, 2 Refresh session, 3 Log out, 4 Quit.

// TestAccessibleWalkthrough drives the menu as a person with a screen
// reader would: trust the server, sign up (a short password is refused
// before anything is sent), a wrong password, log in, who am I,
// refresh, log out, quit.
func TestAccessibleWalkthrough(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	r := runMenu(t, ts.Addr, t.TempDir(), false,
		"y",                  // trust the server
		"2",                  // Sign up
		"Alice", "not-email", // the email is checked locally ...
		"", // ... and left empty
		"1",
		"short", password, // too short, then good
		"correct horse battery stapler", password, // a mismatch, then good
		"n",                                           // not logging in right away
		"1", "alice", "correct horse battery stapler", // a wrong password
		"1", "", password, // the username is remembered
		"1", // Who am I
		"2", // Refresh session
		"3", // Log out
		"4", // Quit
	)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	screen := r.out.String()
	wantLines(t, screen,
		`first connection to `+regexp.QuoteMeta(ts.Addr),
		regexp.QuoteMeta(ts.Fingerprint()),
		`Trust `+regexp.QuoteMeta(ts.Addr)+`\?`,
		`Connected to `+regexp.QuoteMeta(ts.Addr),
		`not an email address`,
		`at least 15 characters \(5 so far\)`,
		`does not match the password above`,
		`Account alice created`,
		`Wrong username or password\.`,
		`Logged in as alice\. This token is valid until`,
		`You are alice\.`,
		`account id +[0-9a-f]{32}`,
		`Session refreshed`,
		`Logged out alice`,
	)
	if strings.Contains(screen, "\x1b") {
		t.Error("accessible output holds escape sequences")
	}
	if strings.Contains(screen, "staple") {
		t.Error("a password was written to the screen")
	}
	pins, err := os.ReadFile(r.known)
	if err != nil || !strings.HasPrefix(string(pins), ts.Addr+" ed25519 ") {
		t.Errorf("known servers after trusting: %q, %v", pins, err)
	}
}

// TestAccessibleGeneratedAndRemembered: a generated password is shown
// once and works; --remember keeps the session for the next run, and
// logging out removes it.
func TestAccessibleGeneratedAndRemembered(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	dir := t.TempDir()
	r := runMenu(t, ts.Addr, dir, true,
		"y",
		"2", "bob", "bob@example.com", "2", // generate; no code to ask for: the server sends no mail
		"y", // log in now
		"5", // Quit, keeping the session
	)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	screen := r.out.String()
	wantLines(t, screen, `Your new password`, `only time it is shown`, `Logged in as bob`, `Remembered in`, `remembered for the next run`)
	generated := regexp.MustCompile(`(?m)^[A-Za-z0-9]{24}$`).FindString(screen)
	if generated == "" {
		t.Fatal("no generated password on the screen")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "sessions", "*.json"))
	if len(files) != 1 {
		t.Fatalf("saved sessions: %v, want one file", files)
	}
	fi, err := os.Stat(files[0])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved session mode: %v, %v; want 0600", fi.Mode(), err)
	}
	data, _ := os.ReadFile(files[0])
	if strings.Contains(string(data), generated) {
		t.Error("the saved session holds the password")
	}

	// The generated password logs in from the SDK too.
	_, ck := servertest.Keys(t)
	c, err := client.NewClient(ts.Addr, client.Options{Trust: client.NewKnownServers(r.known), ClientKey: ck})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Login(ctx, "bob", generated); err != nil {
		t.Fatalf("login with the generated password: %v", err)
	}

	r = runMenu(t, ts.Addr, dir, true,
		"1", // Who am I, in the resumed session
		"3", // Log out
		"4", // Quit
	)
	if r.err != nil {
		t.Fatalf("second Run: %v", r.err)
	}
	wantLines(t, r.out.String(), `Welcome back, bob`, `You are bob`, `email +bob@example\.com`, `Logged out bob`)
	if files, _ := filepath.Glob(filepath.Join(dir, "sessions", "*.json")); len(files) != 0 {
		t.Errorf("saved sessions after logout: %v", files)
	}
}

// TestAccessibleReconnect: the server restarts under a logged-in menu
// (the session goes on, on a new connection); then it goes away (it says
// so, and offers a retry), stays down a while (a clear message, another
// retry) and comes back.
func TestAccessibleReconnect(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	r := runMenu(t, ts.Addr, t.TempDir(), false,
		"y",
		"2", "carol", "", "1", password, password, "y",
		func() { ts.Stop(); ts.MustRestart() },
		"1", // Who am I, after the restart
		func() { ts.Stop() },
		"1",                         // Who am I: the server went away
		"1",                         // Try again: it is still down
		func() { ts.MustRestart() }, // the operator starts it again
		"1",                         // Try again
		"3", "4",                    // Log out, Quit
	)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	screen := r.out.String()
	wantLines(t, screen,
		`(?s)You are carol.*The server at `+regexp.QuoteMeta(ts.Addr)+` is shutting down\..*What now\?.*`+
			`Cannot reach the server at `+regexp.QuoteMeta(ts.Addr)+`: nothing is listening there.*What now\?.*You are carol`,
		`Check that accountd is running there`,
		`Logged out carol`,
	)
	if n := strings.Count(screen, "You are carol"); n != 2 {
		t.Errorf("who am I answered %d times, want 2", n)
	}
}

// TestAccessibleServerDownAtStart: the first connection fails with a
// clear message and a retry choice; Quit ends cleanly.
func TestAccessibleServerDownAtStart(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	ts.Stop()
	r := runMenu(t, ts.Addr, t.TempDir(), false,
		"1", // Try again: still down
		"2", // Quit
	)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	screen := r.out.String()
	if n := strings.Count(screen, "Cannot reach the server"); n != 2 {
		t.Errorf("%d failures shown, want 2", n)
	}
}

// TestAccessibleTrust: declining a new server stops without pinning it;
// a server presenting another key than the pinned one is refused with
// both fingerprints and the line to remove.
func TestAccessibleTrust(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	dir := t.TempDir()
	r := runMenu(t, ts.Addr, dir, false, "n")
	if !errors.Is(r.err, menu.ErrNotTrusted) {
		t.Fatalf("declined: %v, want ErrNotTrusted", r.err)
	}
	wantLines(t, r.out.String(), `was not trusted, and nothing was sent to it`)
	if _, err := os.Stat(r.known); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("known servers after declining: %v, want none", err)
	}

	other, _, _ := ed25519.GenerateKey(rand.Reader)
	pin := "# pinned servers\n" + ts.Addr + " ed25519 " + base64.StdEncoding.EncodeToString(other) + "\n"
	if err := os.WriteFile(r.known, []byte(pin), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runMenu(t, ts.Addr, dir, false, "4")
	var mismatch *client.KeyMismatchError
	if !errors.As(r.err, &mismatch) {
		t.Fatalf("changed key: %v, want *client.KeyMismatchError", r.err)
	}
	if mismatch.Presented != ts.Fingerprint() || mismatch.File != r.known || mismatch.Line != 2 {
		t.Errorf("mismatch = %+v, want presented %s at %s:2", mismatch, ts.Fingerprint(), r.known)
	}
}

// TestAccessibleInputEnds: a script that stops early ends the menu with
// ErrInputEnded instead of looping on empty answers.
func TestAccessibleInputEnds(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	for _, steps := range [][]any{
		{"y", "2", "dave"},
		{"y", "9"}, // an answer out of range, then nothing
	} {
		r := runMenu(t, ts.Addr, t.TempDir(), false, steps...)
		if !errors.Is(r.err, menu.ErrInputEnded) {
			t.Errorf("Run with %q: %v, want ErrInputEnded", steps, r.err)
		}
	}
}

// TestAccessibleQuitClosesSession: quitting without --remember closes the
// session on the server, since nobody could use its token afterwards.
func TestAccessibleQuitClosesSession(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	r := runMenu(t, ts.Addr, t.TempDir(), false,
		"y", "2", "frank", "", "1", password, password, "y",
		"1", // Who am I: shows the session id
		"5", // Quit
	)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	screen := r.out.String()
	wantLines(t, screen, `Logged out frank\. Bye\.`)
	m := regexp.MustCompile(`session +([0-9a-f]{32})`).FindStringSubmatch(screen)
	if m == nil {
		t.Fatal("no session id on the screen")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := ts.Config.Store.GetSession(ctx, m[1])
	if err != nil {
		t.Fatal(err)
	}
	if !sess.Revoked() {
		t.Error("the session is still open after Quit")
	}
}

// TestAccessibleIdentityChangesMidSession: a server that comes back with
// another identity key is refused, even with a session open.
func TestAccessibleIdentityChangesMidSession(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	r := runMenu(t, ts.Addr, t.TempDir(), false,
		"y", "2", "grace", "", "1", password, password, "y",
		func() {
			ts.Stop()
			_, ts.Config.Identity, _ = ed25519.GenerateKey(rand.Reader)
			ts.MustRestart()
		},
		"1", // Who am I: the redial meets the other key
		"5",
	)
	var mismatch *client.KeyMismatchError
	if !errors.As(r.err, &mismatch) {
		t.Fatalf("Run: %v, want *client.KeyMismatchError", r.err)
	}
	if mismatch.Presented != ts.Fingerprint() || mismatch.Pinned == mismatch.Presented || mismatch.Line != 1 {
		t.Errorf("mismatch = %+v", mismatch)
	}
	if strings.Contains(r.out.String(), "You are grace") {
		t.Error("the menu talked to a server with another identity")
	}
}

// TestAccessibleRateLimited: a refusal for going too fast says how long
// to wait.
func TestAccessibleRateLimited(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, func(c *server.Config) {
		c.RateLimit, c.RateBurst = 0.1, 4 // the dial to ask about trust, the dial, the policy, one login
	})
	r := runMenu(t, ts.Addr, t.TempDir(), false,
		"y",
		"1", "henry", "not the password 1",
		"1", "henry", "not the password 2",
		"4",
	)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	wantLines(t, r.out.String(), `Wrong username or password\.`, `Too many attempts\.`, `Wait \d+s, then try again\.`)
}

// TestAccessibleTwoFactor: turn two-factor authentication on from the
// Account screen (the code computed from the secret the screen shows),
// make new recovery codes with an old one, log in again with a wrong code
// then the right one, and turn it off with a recovery code.
func TestAccessibleTwoFactor(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	out := &syncBuffer{}
	secretRE := regexp.MustCompile(`this secret into the app: ([A-Z2-7]{32})`)
	codeRE := regexp.MustCompile(`(?m)^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)
	appCode := func() string {
		m := secretRE.FindStringSubmatch(out.String())
		if m == nil {
			t.Error("no secret on the screen")
			return ""
		}
		code, err := totp.GenerateCodeCustom(m[1], ts.Clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Error(err)
		}
		return code
	}
	// recoveryCode is the first of the codes the screen showed last.
	recoveryCode := func() string {
		codes := codeRE.FindAllString(out.String(), -1)
		if len(codes) < 10 {
			t.Errorf("%d recovery codes on the screen", len(codes))
			return ""
		}
		return codes[len(codes)-10]
	}
	var shown []string
	r := runMenuOut(t, ts.Addr, t.TempDir(), out,
		"y",
		"2", "carol", "", "1", password, password, "y", // sign up and log in
		"4", "5", password, appCode, // Account…, Two-factor authentication: on
		func() { shown = codeRE.FindAllString(out.String(), -1) },
		"4", "5", "1", password, recoveryCode, // new recovery codes, with an old one
		"3", // Log out
		func() { ts.Clock.Advance(30 * time.Second) }, // the enrolment's code works once
		"1", "", password, "000000", appCode, // a wrong code, then the app's
		"1",                                   // Who am I
		"4", "5", "2", password, recoveryCode, // turn it off with a new recovery code
		"5", // Quit
	)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	screen := r.out.String()
	wantLines(t, screen,
		`Scan this QR code with your authenticator app`,
		`Two-factor authentication is on\.`,
		`Your recovery codes`,
		`Two-factor authentication is on\.\n`,
		`New recovery codes made; the old ones no longer work\.`,
		`Two-factor code`,
		`Wrong code\.`,
		`Logged in as carol\.`,
		`logged in +with your password and a second factor`,
		`Two-factor authentication is off\.`,
	)
	if len(shown) != 10 {
		t.Errorf("%d recovery codes shown at enrolment, want 10", len(shown))
	}
	if got := codeRE.FindAllString(screen, -1); len(got) != 20 || got[0] == got[10] {
		t.Errorf("recovery codes on the screen: %d, want two sets of 10", len(got))
	}
}

// TestAccessibleMailCodes: against a server that mails through a real
// SMTP server on loopback, the code asked for after signup verifies the
// address, and Forgot password? mails a code that sets a new password.
func TestAccessibleMailCodes(t *testing.T) {
	t.Parallel()
	ms := servertest.StartMailServer(t, servertest.MailServerOptions{})
	ts := servertest.MustStart(t, func(c *server.Config) {
		c.Mail = account.MailConfig{Host: ms.Host, Port: ms.Port, From: "accounts@example.com", TLS: account.SMTPNoTLS}
		c.MailPollInterval = 20 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	codeOf := func(n int) func() string {
		return func() string { return ms.WaitFor(t, ctx, "gina@example.com", n)[n-1].Code() }
	}
	const newPassword = "gina's brand new passphrase"
	r := runMenu(t, ts.Addr, t.TempDir(), false,
		"y",
		"2", "gina", "gina@example.com", "1", password, password,
		"12345",                 // not 8 digits: asked again
		codeOf(1),               // the code mailed at signup
		"n",                     // not logging in now
		"3", "gina@example.com", // Forgot password?
		codeOf(2), newPassword, newPassword,
		"1", "gina", newPassword, // log in with the new one
		"1", // Who am I
		"3", // Log out
		"4", // Quit
	)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	wantLines(t, r.out.String(), `Code mailed to gina@example\.com`, `the code is 8 digits`, `Email gina@example\.com verified`,
		`a code is on its way`, `Password reset; 0 sessions ended`, `Logged in as gina`, `email +gina@example\.com`)
	if strings.Contains(r.out.String(), "unverified") {
		t.Error("the verified address is shown as unverified")
	}
}

// TestAccessibleReauthWithFactor: with two-factor authentication on, the
// Account screen's changes ask for a code after the password: a wrong one
// changes nothing, a recovery code changes the password, and the app's
// code deletes the account.
func TestAccessibleReauthWithFactor(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	out := &syncBuffer{}
	secretRE := regexp.MustCompile(`this secret into the app: ([A-Z2-7]{32})`)
	codeRE := regexp.MustCompile(`(?m)^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)
	codeAt := func(at time.Time) string {
		m := secretRE.FindStringSubmatch(out.String())
		if m == nil {
			t.Error("no secret on the screen")
			return ""
		}
		code, err := totp.GenerateCodeCustom(m[1], at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Error(err)
		}
		return code
	}
	appCode := func() string { return codeAt(ts.Clock.Now()) }
	wrongCode := func() string {
		now := ts.Clock.Now()
		valid := []string{codeAt(now.Add(-30 * time.Second)), codeAt(now), codeAt(now.Add(30 * time.Second))}
		for _, c := range []string{"000000", "111111", "222222", "333333"} {
			if !slices.Contains(valid, c) {
				return c
			}
		}
		t.Error("no wrong code")
		return ""
	}
	recoveryCode := func() string {
		codes := codeRE.FindAllString(out.String(), -1)
		if len(codes) != 10 {
			t.Errorf("%d recovery codes on the screen, want 10", len(codes))
			return ""
		}
		return codes[0]
	}
	const newPassword = "a new passphrase for dave, long enough"
	r := runMenuOut(t, ts.Addr, t.TempDir(), out,
		"y",
		"2", "dave", "", "1", password, password, "y", // sign up and log in
		"4", "5", password, appCode, // Account…, Two-factor authentication: on
		func() { ts.Clock.Advance(30 * time.Second) },
		"4", "1", password, newPassword, newPassword, "y", wrongCode, // Change password, a wrong code
		"4", "1", password, newPassword, newPassword, "y", recoveryCode, // ... a recovery code
		func() { ts.Clock.Advance(30 * time.Second) },
		"4", "6", "dave", newPassword, appCode, // Delete account with the app's code
		"4", // Quit
	)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	wantLines(t, r.out.String(),
		`Two-factor authentication is on\.`,
		`Code from your app, or a recovery code`,
		`Wrong password or code; nothing was changed\.`,
		`Password changed; 0 other sessions ended\.`,
		`Account dave deleted`,
	)
	if _, err := ts.Config.Store.GetAccountByUsername(context.Background(), "dave"); err == nil {
		t.Error("dave's account is still there")
	}
}
