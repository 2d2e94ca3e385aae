package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
)

// tmuxPane is one pane of a private tmux server, driven like a person at
// a keyboard and read like a person reading the screen.
type tmuxPane struct {
	t      *testing.T
	socket string
	target string
}

// mustTmux starts command in a new 100x40 tmux session on a private
// server (no user config), killed when the test ends.
func mustTmux(t *testing.T, env []string, command string) *tmuxPane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is not installed; .ci/run installs it")
		}
		t.Skip("tmux is not installed: the real-terminal test needs it (.ci/run installs it)")
	}
	p := &tmuxPane{t: t, socket: fmt.Sprintf("accountd-test-%d-%d", os.Getpid(), time.Now().UnixNano()), target: "menu"}
	shell := "env " + strings.Join(env, " ") + " " + command + `; echo "exit status $?"; sleep 600`
	p.tmux("-f", "/dev/null", "new-session", "-d", "-s", p.target, "-x", "100", "-y", "40", shell)
	t.Cleanup(func() { exec.Command("tmux", "-L", p.socket, "kill-server").Run() })
	return p
}

func (p *tmuxPane) tmux(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", p.socket}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// keys sends keys as tmux names them (Enter, Down, Escape, or literal
// text with -l).
func (p *tmuxPane) keys(keys ...string) {
	p.t.Helper()
	p.tmux(append([]string{"send-keys", "-t", p.target}, keys...)...)
}

// typeText types text literally.
func (p *tmuxPane) typeText(text string) {
	p.t.Helper()
	p.tmux("send-keys", "-t", p.target, "-l", text)
}

func (p *tmuxPane) screen() string {
	p.t.Helper()
	return p.tmux("capture-pane", "-p", "-J", "-t", p.target)
}

// waitFor polls the screen until pattern shows (a generous deadline: the
// machine may be busy) and returns the screen and the match.
func (p *tmuxPane) waitFor(pattern string) (screen string, match []string) {
	p.t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(90 * time.Second)
	for {
		screen = p.screen()
		if m := re.FindStringSubmatch(screen); m != nil {
			return screen, m
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("screen never showed %q; it shows:\n%s", pattern, screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFocus waits until the field titled title has the focus (huh marks
// the focused field with a bar).
func (p *tmuxPane) waitFocus(title string) {
	p.t.Helper()
	p.waitFor(`(?m)^┃ ` + title + `\s*$`)
}

// waitGone polls until pattern is no longer on the screen.
func (p *tmuxPane) waitGone(pattern string) string {
	p.t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(90 * time.Second)
	for {
		screen := p.screen()
		if !re.MatchString(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("screen still shows %q:\n%s", pattern, screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// buildAccount builds this command into a temporary folder.
func buildAccount(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "account")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestMenuInTmux runs the menu in a real terminal against a real server,
// as a person would: trust the server, sign up with a generated password
// (read off the screen, then gone from it), back out of a form with Esc,
// log in, see who they are, log out, leave with Ctrl-C.
func TestMenuInTmux(t *testing.T) {
	bin := buildAccount(t)
	ts := servertest.MustStart(t, nil)
	home := t.TempDir()
	p := mustTmux(t, []string{
		"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "TERM=xterm-256color", "LANG=C.UTF-8",
	}, bin+" --server "+ts.Addr)

	p.waitFor(regexp.QuoteMeta(ts.Fingerprint()))
	p.waitFor(`Trust ` + regexp.QuoteMeta(ts.Addr) + `\?`)
	p.keys("y")
	p.waitFor(`Not logged in\.`)
	p.waitFor(`Sign up`)
	p.keys("Down", "Enter")

	// The username is checked before anything is sent. Every key that
	// moves the focus is followed by a wait for the focus to arrive:
	// huh moves it asynchronously, and keys sent before it arrives
	// would land in the field before.
	p.waitFocus(`Username`)
	p.typeText("Al!")
	p.waitFor(`✗ '!' is not allowed`) // as it is typed
	p.keys("Enter")
	p.waitFor(`\* '!' is not allowed`) // and Enter does not move on
	p.keys("BSpace")
	p.typeText("ice")
	p.waitFor(`'_' and '-' ✓`)
	p.keys("Enter")
	p.waitFocus(`Email \(optional\)`)
	p.keys("Enter") // no email
	p.waitFocus(`Password`)
	p.keys("Down") // Generate a strong one for me
	p.waitFor(`> Generate a strong one`)
	p.keys("Enter")
	_, m := p.waitFor(`(?m)^\W*([A-Za-z0-9]{24})\s*$`)
	generated := m[1]
	p.waitFor(`only time it is shown`)
	p.keys("Enter") // I have saved it
	screen, _ := p.waitFor(`Log in as alice now\?`)
	if strings.Contains(screen, generated) {
		t.Errorf("the generated password is still on the screen:\n%s", screen)
	}
	p.keys("n")

	// Esc backs out of a form to the menu.
	p.waitFor(`Not logged in\.`)
	p.keys("Enter") // Log in
	p.waitFocus(`Username`)
	p.keys("Escape")
	p.waitGone(`Username`) // the form clears itself
	p.waitFor(`Not logged in\.`)

	p.keys("Enter") // Log in
	p.waitFocus(`Username`)
	p.keys("Enter") // the username offered is alice
	p.waitFocus(`Password`)
	p.typeText(generated)
	p.keys("Enter")
	p.waitFor(`Logged in as alice\. This token is valid until`)

	p.waitFor(`Who am I`)
	p.keys("Enter")
	p.waitFor(`You are alice\.`)
	screen, _ = p.waitFor(`account id +[0-9a-f]{32}`)
	t.Logf("the screen after Who am I:\n%s", screen)

	p.waitFor(`Log out`)
	p.keys("Down", "Down", "Enter")
	p.waitFor(`Logged out alice\. The session is closed on the server\.`)

	// Ctrl-C in a form leaves the menu at once, cleanly.
	p.waitFor(`Not logged in\.`)
	p.keys("Enter") // Log in
	p.waitFocus(`Username`)
	p.keys("C-c")
	screen, _ = p.waitFor(`exit status (\d+)`)
	if !strings.Contains(screen, "exit status 0") {
		t.Errorf("the menu did not exit cleanly:\n%s", screen)
	}
	if strings.Contains(screen, generated) {
		t.Errorf("the password is on the screen after the session:\n%s", screen)
	}
	if strings.Contains(screen, "┃") {
		t.Errorf("a form was left on the screen:\n%s", screen)
	}
}

// TestAccessibleMenuInTmux: --accessible in a real terminal (a screen
// reader's user): numbered prompts, and a password typed at the prompt
// is not shown.
func TestAccessibleMenuInTmux(t *testing.T) {
	bin := buildAccount(t)
	ts := servertest.MustStart(t, nil)
	home := t.TempDir()
	known := filepath.Join(home, "known_servers")
	_, ck := servertest.Keys(t)
	c, err := client.NewClient(ts.Addr, client.Options{Trust: client.NewKnownServers(known), TrustOnFirstUse: true, ClientKey: ck})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const password = "correct horse battery staple"
	if _, err := c.Signup(ctx, "erin", password, ""); err != nil {
		t.Fatal(err)
	}
	c.Close()

	p := mustTmux(t, []string{"HOME=" + home, "TERM=xterm-256color", "LANG=C.UTF-8"},
		bin+" --accessible --known-servers "+known+" --server "+ts.Addr)
	p.waitFor(`(?m)Enter a number between 1 and 4: *$`)
	p.typeText("1")
	p.keys("Enter")
	p.waitFor(`(?m)^Username *$`)
	p.typeText("erin")
	p.keys("Enter")
	p.waitFor(`(?m)^Password *$`)
	p.typeText(password)
	p.keys("Enter")
	p.waitFor(`Logged in as erin`)
	p.waitFor(`(?m)Enter a number between 1 and 5: *$`)
	p.typeText("5")
	p.keys("Enter")
	screen, _ := p.waitFor(`exit status (\d+)`)
	if !strings.Contains(screen, "exit status 0") || !strings.Contains(screen, "Logged out erin") {
		t.Errorf("the menu did not log out and exit cleanly:\n%s", screen)
	}
	if strings.Contains(screen, "staple") {
		t.Errorf("the password was shown:\n%s", screen)
	}
}

// TestAccountScreenInTmux walks the menu's Account screen in a real
// terminal: change the password (keeping the other sessions), list the
// sessions and end the other one, then delete the account with a typed
// confirmation.
func TestAccountScreenInTmux(t *testing.T) {
	bin := buildAccount(t)
	ts := servertest.MustStart(t, nil)
	home := t.TempDir()
	known := filepath.Join(home, "known_servers")
	_, ck := servertest.Keys(t)
	c, err := client.NewClient(ts.Addr, client.Options{Trust: client.NewKnownServers(known), TrustOnFirstUse: true, ClientKey: ck})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const (
		password    = "correct horse battery staple"
		newPassword = "a much longer passphrase than before"
	)
	if _, err := c.Signup(ctx, "alice", password, ""); err != nil {
		t.Fatal(err)
	}
	other, err := c.LoginWith(ctx, client.LoginRequest{Username: "alice", Password: password, Client: "the other device"})
	if err != nil {
		t.Fatal(err)
	}

	p := mustTmux(t, []string{"HOME=" + home, "TERM=xterm-256color", "LANG=C.UTF-8"},
		bin+" --known-servers "+known+" --server "+ts.Addr)
	p.waitFor(`Not logged in\.`)
	p.keys("Enter") // Log in
	p.waitFocus(`Username`)
	p.typeText("alice")
	p.keys("Enter")
	p.waitFocus(`Password`)
	p.typeText(password)
	p.keys("Enter")
	p.waitFor(`Logged in as alice\.`)

	openAccount := func() {
		p.waitFor(`Account…`)
		p.keys("Down", "Down", "Down")
		p.waitFor(`> Account…`)
		p.keys("Enter")
		p.waitFor(`Account alice\.`)
	}

	// Change password: the new one is checked against the server's
	// minimum (15) as it is typed.
	openAccount()
	p.keys("Enter") // Change password
	p.waitFocus(`Current password`)
	p.typeText(password)
	p.keys("Enter")
	p.waitFocus(`New password`)
	p.typeText("short")
	p.waitFor(`At least 15 characters: 10 to go`)
	p.keys("Enter")
	p.waitFor(`\* at least 15 characters`) // Enter does not move on
	for range len("short") {
		p.keys("BSpace")
	}
	p.typeText(newPassword)
	p.keys("Enter")
	p.waitFocus(`New password again`)
	p.typeText(newPassword)
	p.keys("Enter")
	p.waitFocus(`Log out your other sessions\?`)
	p.keys("n")
	p.waitFor(`Password changed; 0 other sessions ended\.`)
	if _, err := c.Authenticate(ctx, other.Token); err != nil {
		t.Fatalf("the other session after a change that kept it: %v", err)
	}

	// Sessions: both listed; end the other one.
	openAccount()
	p.keys("Down")
	p.waitFor(`> Sessions`)
	p.keys("Enter")
	p.waitFor(`2 live sessions:`)
	p.waitFor(`\(this one\)`)
	p.waitFor(`> Back`) // the safe choice is the one offered
	p.keys("Up")
	p.waitFor(`> End ` + other.SessionID[:8] + `  the other device from 127\.0\.0\.1`)
	p.keys("Enter")
	p.waitFor(`Session ` + other.SessionID[:8] + ` ended`)
	if _, err := c.Authenticate(ctx, other.Token); !errors.Is(err, client.ErrInvalidToken) {
		t.Fatalf("the ended session's token: %v, want invalid token", err)
	}

	// Delete the account: the name must be typed exactly.
	openAccount()
	p.keys("Down", "Down", "Down", "Down", "Down")
	p.waitFor(`> Delete account`)
	p.keys("Enter")
	p.waitFor(`cannot be undone`)
	p.waitFocus(`Type alice to confirm`)
	p.typeText("alic")
	p.keys("Enter")
	p.waitFor(`type alice exactly`)
	p.typeText("e")
	p.keys("Enter")
	p.waitFocus(`Password`)
	p.typeText(newPassword)
	p.keys("Enter")
	p.waitFor(`Account alice deleted; 1 session ended\.`)
	p.waitFor(`Not logged in\.`)
	if _, err := c.Login(ctx, "alice", newPassword); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Errorf("login to the deleted account: %v, want invalid credentials", err)
	}

	p.keys("C-c")
	screen, _ := p.waitFor(`exit status (\d+)`)
	if !strings.Contains(screen, "exit status 0") {
		t.Errorf("the menu did not exit cleanly:\n%s", screen)
	}
	for _, secret := range []string{password, newPassword} {
		if strings.Contains(screen, secret) {
			t.Errorf("a password is on the screen:\n%s", screen)
		}
	}
}

// TestTwoFactorInTmux turns on two-factor authentication from the menu's
// Account screen in a real terminal, reading the secret off the screen
// that shows the QR code and computing the app's code from it, sees the
// recovery codes once, then logs in again with the second factor.
func TestTwoFactorInTmux(t *testing.T) {
	bin := buildAccount(t)
	ts := servertest.MustStart(t, nil)
	home := t.TempDir()
	known := filepath.Join(home, "known_servers")
	_, ck := servertest.Keys(t)
	c, err := client.NewClient(ts.Addr, client.Options{Trust: client.NewKnownServers(known), TrustOnFirstUse: true, ClientKey: ck})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const password = "correct horse battery staple"
	if _, err := c.Signup(ctx, "bob", password, ""); err != nil {
		t.Fatal(err)
	}

	p := mustTmux(t, []string{"HOME=" + home, "TERM=xterm-256color", "LANG=C.UTF-8"},
		bin+" --known-servers "+known+" --server "+ts.Addr)
	login := func(typeName bool) {
		p.waitFor(`Not logged in\.`)
		p.keys("Enter") // Log in
		p.waitFocus(`Username`)
		if typeName {
			p.typeText("bob")
		}
		p.keys("Enter") // else the username offered is bob
		p.waitFocus(`Password`)
		p.typeText(password)
		p.keys("Enter")
	}
	login(true)
	p.waitFor(`Logged in as bob\.`)
	p.waitFor(`Account…`)
	p.keys("Down", "Down", "Down")
	p.waitFor(`> Account…`)
	p.keys("Enter")
	p.waitFor(`Account bob\.`)
	p.keys("Down", "Down", "Down", "Down")
	p.waitFor(`> Two-factor authentication`)
	p.keys("Enter")
	p.waitFocus(`Password`)
	p.typeText(password)
	p.keys("Enter")

	// The QR code and the secret as text, on one screen.
	screen, m := p.waitFor(`Or type this secret into the app: ([A-Z2-7]{32})`)
	secret := m[1]
	if !strings.Contains(screen, "Scan this QR code") || strings.Count(screen, "▀")+strings.Count(screen, "▄") < 100 {
		t.Fatalf("no QR code drawn beside the secret:\n%s", screen)
	}
	t.Logf("the enrolment screen:\n%s", screen)
	p.waitFocus(`Code from your app`)
	p.typeText(totpAt(t, secret, ts.Clock.Now()))
	p.keys("Enter")
	p.waitFor(`Two-factor authentication is on\.`)
	screen, _ = p.waitFor(`only time they are shown`)
	codes := regexp.MustCompile(`[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}`).FindAllString(screen, -1)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes on the screen, want 10:\n%s", len(codes), screen)
	}
	p.keys("Enter") // I have saved them
	screen = p.waitGone(`only time they are shown`)
	if strings.Contains(screen, codes[0]) {
		t.Errorf("a recovery code is still on the screen:\n%s", screen)
	}

	// Log out, and in again: the form asks for the code.
	p.waitFor(`Log out`)
	p.keys("Down", "Down", "Enter")
	p.waitFor(`Logged out bob\.`)
	ts.Clock.Advance(30 * time.Second) // the enrolment's code works once
	login(false)
	p.waitFocus(`Two-factor code`)
	right := totpAt(t, secret, ts.Clock.Now())
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	p.typeText(wrong)
	p.keys("Enter")
	p.waitFor(`✗ Wrong code\.`)
	p.waitFocus(`Two-factor code`)
	p.typeText(right)
	p.keys("Enter")
	p.waitFor(`Logged in as bob\. This token is valid until`)
	a, err := ts.Config.Store.GetAccountByUsername(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	ev := servertest.Events(t, ts.Config.Store, store.AuthEventFilter{AccountID: a.ID})
	if servertest.CountEvents(ev, store.EventLogin, "pwd+otp") != 1 || servertest.CountEvents(ev, store.EventLoginFailed, store.ReasonWrongCode) != 1 {
		t.Errorf("events %+v: want one two-factor login and one wrong code", ev)
	}

	// With the factor on, changing the email asks for a code after the
	// password.
	ts.Clock.Advance(30 * time.Second) // the login's code works once
	p.keys("Down", "Down", "Down")
	p.waitFor(`> Account…`)
	p.keys("Enter")
	p.waitFor(`> Change password`)
	p.keys("Down", "Down", "Down")
	p.waitFor(`> Change email`)
	p.keys("Enter")
	p.waitFocus(`New email`)
	p.typeText("bob@example.org")
	p.keys("Enter")
	p.waitFocus(`Password`)
	p.typeText(password)
	p.keys("Enter")
	p.waitFocus(`Code from your app, or a recovery code`)
	p.typeText(totpAt(t, secret, ts.Clock.Now()))
	p.keys("Enter")
	p.waitFor(`A code was mailed to bob@example\.org`)
	if a, err := ts.Config.Store.GetAccount(ctx, a.ID); err != nil || a.PendingEmail != "bob@example.org" {
		t.Errorf("pending email after the change = %q, %v", a.PendingEmail, err)
	}

	p.keys("C-c")
	screen, _ = p.waitFor(`exit status (\d+)`)
	if !strings.Contains(screen, "exit status 0") {
		t.Errorf("the menu did not exit cleanly:\n%s", screen)
	}
	for _, secret := range append([]string{password}, codes...) {
		if strings.Contains(screen, secret) {
			t.Errorf("a secret is on the screen at the end:\n%s", screen)
		}
	}
}

// totpAt is the code an authenticator app shows for secret at t.
func totpAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}
