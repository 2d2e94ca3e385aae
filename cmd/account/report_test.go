package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/protocol"
)

// TestReportImpersonation: a server that cannot prove the pinned identity
// is reported as a possible man-in-the-middle, not as a server that is
// down.
func TestReportImpersonation(t *testing.T) {
	err := &client.ImpersonationError{Server: "example.com:443", Fingerprint: "SHA256:abc"}
	if !errors.Is(err, protocol.ErrBadSignature) {
		t.Fatal("ImpersonationError does not unwrap to protocol.ErrBadSignature")
	}
	var out bytes.Buffer
	if code := report(&out, err); code != exitConn {
		t.Errorf("exit %d, want %d", code, exitConn)
	}
	msg := out.String()
	for _, want := range []string{"account: error: example.com:443", "SHA256:abc", "possible man-in-the-middle", "hint: no request or password was sent"} {
		if !strings.Contains(msg, want) {
			t.Errorf("output %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "is the server running") {
		t.Errorf("output %q blames the connection", msg)
	}
}
