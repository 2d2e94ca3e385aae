package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// interopClient is a second implementation of the protocol, written from
// protocol/SPEC.md alone in Python with the cryptography package.
const interopClient = "../protocol/testdata/interop/client.py"

// mustPython returns the python3 that can run the interop client. When it
// or its cryptography package is missing, the test is skipped saying so,
// except under CI (which installs them), where that is a failure.
func mustPython(t *testing.T) string {
	t.Helper()
	missing := t.Skipf
	if os.Getenv("CI") != "" {
		missing = t.Fatalf
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		missing("the independent Python client cannot run: python3 is not installed")
		return ""
	}
	if out, err := exec.Command(py, "-c", "import cryptography").CombinedOutput(); err != nil {
		missing("the independent Python client cannot run: the Python package 'cryptography' is missing (apt install python3-cryptography, or pip install cryptography): %s", bytes.TrimSpace(out))
		return ""
	}
	return py
}

// runPython runs the interop client and returns its exit code and output.
func runPython(t *testing.T, py string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{interopClient}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %s: %v", interopClient, err)
		}
		code = ee.ExitCode()
	}
	return code, stdout.String(), stderr.String()
}

func TestIndependentClientVectors(t *testing.T) {
	parallel(t)
	py := mustPython(t)
	code, out, errOut := runPython(t, py, "vectors", "../protocol/testdata/vectors.json")
	if code != 0 || strings.Contains(out, "FAIL") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if n := strings.Count(out, "ok "); n < 50 {
		t.Fatalf("only %d checks ran:\n%s", n, out)
	}
}

func TestIndependentClientAgainstServer(t *testing.T) {
	t.Parallel()
	py := mustPython(t)
	mailDir := t.TempDir()
	ms := servertest.StartMailServer(t, servertest.MailServerOptions{Dir: mailDir})
	// The real clock: the client computes TOTP codes from its own, as an
	// authenticator app does.
	first := mustServe(t, sqltest.NewSQLite(t), func(c *server.Config) {
		c.Now = time.Now
		c.Mail = account.MailConfig{Host: ms.Host, Port: ms.Port, From: "accounts@example.com", TLS: account.SMTPNoTLS}
		c.MailPollInterval = 20 * time.Millisecond
	})
	known := filepath.Join(t.TempDir(), "known_servers")

	// Unknown server, no trust on first use: refused, nothing pinned.
	code, out, errOut := runPython(t, py, "run", "--server", first.Addr, "--known", known)
	if code != 3 || !strings.Contains(errOut, "unknown") {
		t.Fatalf("unknown server: exit %d\n%s%s", code, out, errOut)
	}

	shopKey, adminKey := mustServiceKey(t, first, "pyshop"), mustServiceKey(t, first, "pyops", protocol.ScopeAdmin)
	code, out, errOut = runPython(t, py, "run", "--server", first.Addr, "--known", known, "--trust-on-first-use",
		"--service-key", shopKey, "--admin-key", adminKey, "--mail-dir", mailDir)
	if code != 0 || strings.Contains(out, "FAIL") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, step := range []string{"handshake", "signup", "login", "authenticate", "refresh", "logout", "authenticate after logout",
		"policy", "sessions", "change_password", "revoke_session", "logout_all", "change_email", "delete_account",
		"revoke_session: another account's session answered like a missing one",
		"login returns a device token", "the right password without a device token while strangers throttle the account",
		"the right password with the device token while strangers throttle the account", "a replaced device token counts as a stranger",
		"a device token over 128 characters",
		"the deleted account's token after its name was taken again", "unknown op", "wrong-typed field", "tampered packet: closed 1008 ''",
		"client_ip without service_auth", "admin operation without service_auth", "service_auth", "authenticate with client_ip",
		"admin_disable_user without the admin scope", "admin_disable_user", "admin_show_user", "admin_delete_user",
		"totp_begin", "totp_confirm", "login answers second_factor_required", "login_second_factor with a code",
		"authenticate says amr pwd+otp, aal 2", "the token's amr and aal claims", "the same code twice",
		"a challenge answered on another connection", "login_second_factor with a recovery code, spaced and upper-case",
		"a recovery code twice", "a challenge after 5 answers", "recovery_codes_regenerate", "totp_disable",
		"change_password without a code while the factor is on", "change_password with a replaced recovery code",
		"change_password with a recovery code", "delete_account with a used recovery code",
		"signup: the address waits for verification", "verify_email with a wrong code", "verify_email", "request_password_reset",
		"request_password_reset for nobody answers alike", "reset_password with a wrong code", "reset_password",
		"the token from before reset_password", "login after reset_password", "notice of the reset mailed",
		"watch_revocations without service_auth", "watch_revocations from a negative position", "watch_revocations",
		"the logout reached the feed"} {
		if !strings.Contains(out, "ok    "+step) {
			t.Errorf("step %q missing from the output:\n%s", step, out)
		}
	}
	wantOld := protocol.Fingerprint(first.Config.Identity.Public().(ed25519.PublicKey))
	if pinned, _ := os.ReadFile(known); !strings.Contains(out, wantOld) || len(pinned) == 0 {
		t.Fatalf("fingerprint %s not shown or not pinned:\n%s", wantOld, out)
	}

	// Pinned now: the next run needs no trust on first use.
	if code, out, errOut = runPython(t, py, "run", "--server", first.Addr, "--known", known); code != 0 {
		t.Fatalf("second run: exit %d\n%s%s", code, out, errOut)
	}

	// The operator rotates the identity key (SIGHUP): during the overlap
	// the client moves its pin to the new key, which the old one vouches
	// for.
	rotated := first.Config
	rotated.Identity = servertest.Identity(t)
	rotated.PreviousIdentity, rotated.PreviousIdentityUntil = first.Config.Identity, time.Now().Add(time.Hour)
	if err := first.Server().Reconfigure(rotated); err != nil {
		t.Fatal(err)
	}
	wantRotated := protocol.Fingerprint(rotated.Identity.Public().(ed25519.PublicKey))
	code, out, errOut = runPython(t, py, "run", "--server", first.Addr, "--known", known)
	if want := "ok    server identity key rotated: " + wantOld + " -> " + wantRotated + ", pinned the new one"; code != 0 || !strings.Contains(out, want) {
		t.Fatalf("rotation: exit %d, want 0 and %q\n%s%s", code, want, out, errOut)
	}
	if pinned, _ := os.ReadFile(known); strings.Count(string(pinned), "\n") != 1 || !strings.Contains(string(pinned), first.Addr+" ed25519 ") {
		t.Fatalf("known servers after the rotation:\n%s", pinned)
	}
	if code, out, errOut = runPython(t, py, "run", "--server", first.Addr, "--known", known); code != 0 || strings.Contains(out, "rotated") {
		t.Fatalf("after the rotation: exit %d\n%s%s", code, out, errOut)
	}

	// Another identity at the same address is refused, naming both keys.
	addr := first.Addr
	impostor := mustImpostor(t, first)
	wantNew := protocol.Fingerprint(impostor.Config.Identity.Public().(ed25519.PublicKey))
	code, out, errOut = runPython(t, py, "run", "--server", addr, "--known", known, "--trust-on-first-use")
	if code != 3 || !strings.Contains(errOut, wantRotated) || !strings.Contains(errOut, wantNew) || !strings.Contains(errOut, "man-in-the-middle") {
		t.Fatalf("changed identity: exit %d, want 3 naming %s and %s\n%s%s", code, wantRotated, wantNew, out, errOut)
	}
	if strings.Contains(out, "ok    signup") {
		t.Fatal("the client talked to the impostor")
	}
}
