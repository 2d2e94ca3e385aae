package main

import (
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

var fingerprintRE = regexp.MustCompile(`SHA256:[A-Za-z0-9+/]{43}`)

// TestIdentityRotateSIGHUP: the real binaries. `accountd identity rotate`
// changes the sealed config of a running server, which takes the new key
// on SIGHUP; an `account` command that pinned the old key then moves to
// the new one and says so with both fingerprints; once moved, it says
// nothing more.
func TestIdentityRotateSIGHUP(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	server, logs := in.serve(healthz(http.DefaultClient, "http://"+in.addr))
	whoami := func() string {
		t.Helper()
		// The token is refused (exit 1) once the connection worked: the
		// handshake is what this test is about.
		out, _ := in.try("account", "", "whoami", "--server", in.addr, "--token", "x.y.z", "--trust-on-first-use", "--timeout", "1m")
		if !strings.Contains(out, "account: error: ") || strings.Contains(out, "connection failed") || strings.Contains(out, "man-in-the-middle") {
			t.Fatalf("account whoami did not reach the server:\n%s", out)
		}
		return out
	}
	whoami() // pins the key of setup
	old := fingerprintRE.FindString(in.run("accountd", "identity", "show"))

	out := in.run("accountd", "identity", "rotate", "--overlap", "1h")
	fps := fingerprintRE.FindAllString(out, -1)
	if len(fps) < 2 || fps[0] != old || fps[1] == old {
		t.Fatalf("identity rotate printed:\n%s\nwant %s -> a new fingerprint", out, old)
	}
	cur := fps[1]
	if !strings.Contains(out, "SIGHUP") {
		t.Errorf("identity rotate does not say how a running server takes the key:\n%s", out)
	}
	// The running server keeps its key until it is told.
	if out := whoami(); strings.Contains(out, "rotated") {
		t.Fatalf("a rotation before SIGHUP:\n%s", out)
	}

	if err := server.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, "identity key")
	out = whoami()
	if want := "server identity key rotated: " + old + " -> " + cur + ", pinned the new one"; !strings.Contains(out, want) {
		t.Fatalf("account after the rotation:\n%s\nwant %q", out, want)
	}
	if out := whoami(); strings.Contains(out, "rotated") {
		t.Fatalf("the second command after the move reports it again:\n%s", out)
	}

	show := in.run("accountd", "identity", "show")
	if !strings.Contains(show, "identity  "+cur) || !strings.Contains(show, "previous  "+old+", announced until ") {
		t.Fatalf("identity show after the rotation:\n%s", show)
	}
	if out, err := in.try("accountd", "", "identity", "rotate"); err == nil || !strings.Contains(out, "--force") {
		t.Fatalf("a second rotation during the overlap: %v\n%s", err, out)
	}
}
