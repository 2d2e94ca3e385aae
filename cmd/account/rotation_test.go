package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/servertest"
)

// TestIdentityRotationNotice: against a server in a rotation's overlap,
// a command whose known-servers file pins the previous key works, moves
// the pin to the new key and says so on stderr with both fingerprints;
// the next command says nothing more.
func TestIdentityRotationNotice(t *testing.T) {
	t.Parallel()
	previous := servertest.Identity(t)
	ts := servertest.MustStart(t, func(c *server.Config) {
		c.PreviousIdentity, c.PreviousIdentityUntil = previous, time.Now().Add(time.Hour)
	})
	old := previous.Public().(ed25519.PublicKey)
	cur := ts.Config.Identity.Public().(ed25519.PublicKey)
	dir := t.TempDir()
	known := filepath.Join(dir, "known_servers")
	if err := os.WriteFile(known, []byte(ts.Addr+" ed25519 "+base64.StdEncoding.EncodeToString(old)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() (string, int) {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), []string{"whoami", "--token", "x.y.z", "--server", ts.Addr, "--known-servers", known, "--device-tokens", filepath.Join(dir, "device_tokens")},
			strings.NewReader(""), &stdout, &stderr)
		return stderr.String(), code
	}
	errOut, code := run()
	want := "account: " + ts.Addr + ": server identity key rotated: " + protocol.Fingerprint(old) + " -> " + protocol.Fingerprint(cur) + ", pinned the new one\n"
	if code != exitRefused || !strings.HasPrefix(errOut, want) {
		t.Fatalf("exit %d (want %d: the token is refused, the connection worked), stderr:\n%s\nwant it to start with:\n%s", code, exitRefused, errOut, want)
	}
	if err := client.NewKnownServers(known).Check(ts.Addr, cur); err != nil {
		t.Fatalf("the new key is not pinned: %v", err)
	}
	if errOut, _ := run(); strings.Contains(errOut, "rotated") {
		t.Fatalf("the second command reports the rotation again:\n%s", errOut)
	}
}
