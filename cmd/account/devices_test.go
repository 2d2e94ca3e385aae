package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server/servertest"
)

// TestLoginKeepsDeviceToken: `account login` keeps the device token in
// its file (mode 0600) and presents it next time, so that the owner
// logs in while a stranger's failures throttle the account; the token
// is never printed.
func TestLoginKeepsDeviceToken(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	dir := t.TempDir()
	known, devices := filepath.Join(dir, "known_servers"), filepath.Join(dir, "device_tokens")
	ctx := context.Background()
	run := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		full := append(args, "--server", ts.Addr, "--known-servers", known, "--device-tokens", devices, "--trust-on-first-use")
		code := Run(ctx, full, strings.NewReader(stdin), &stdout, &stderr)
		return stdout.String(), stderr.String(), code
	}
	const password = "correct horse battery staple"
	if out, errOut, code := run(password+"\n", "signup", "--username", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("signup: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := run(password+"\n", "login", "--username", "alice", "--password-stdin", "--json")
	if code != 0 {
		t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
	}
	var shown map[string]any
	if err := json.Unmarshal([]byte(out), &shown); err != nil || shown["token"] == nil {
		t.Fatalf("login --json printed %q (%v)", out, err)
	}
	kept, err := client.NewDeviceTokenFile(devices).DeviceToken(ts.Addr, "alice")
	if err != nil || kept == "" {
		t.Fatalf("device token kept: %q, %v", kept, err)
	}
	if _, ok := shown["device_token"]; ok || strings.Contains(out+errOut, kept) {
		t.Fatalf("login printed the device token:\n%s%s", out, errOut)
	}
	if fi, err := os.Stat(devices); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("device token file: %v, %v; want mode 0600", fi, err)
	}

	stranger := filepath.Join(dir, "stranger_tokens")
	for range 5 {
		var stdout, stderr bytes.Buffer
		Run(ctx, []string{"login", "--username", "alice", "--password-stdin", "--server", ts.Addr, "--known-servers", known, "--device-tokens", stranger},
			strings.NewReader("not the password at all\n"), &stdout, &stderr)
	}
	var stdout, stderr bytes.Buffer
	if code := Run(ctx, []string{"login", "--username", "alice", "--password-stdin", "--server", ts.Addr, "--known-servers", known, "--device-tokens", stranger},
		strings.NewReader(password+"\n"), &stdout, &stderr); code == 0 {
		t.Fatal("the right password without the device token logged in while the account is throttled: the stranger's guesses did not count")
	}
	if out, errOut, code := run(password+"\n", "login", "--username", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("the owner's login with the kept device token while strangers throttle the account: exit %d\n%s%s", code, out, errOut)
	}
	if again, _ := client.NewDeviceTokenFile(devices).DeviceToken(ts.Addr, "alice"); again == kept || again == "" {
		t.Fatalf("the device token was not replaced by the second login: %q", again)
	}
}
