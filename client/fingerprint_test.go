package client_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server/servertest"
)

// TestTrustFingerprint: a known fingerprint reaches its server with
// nothing pinned before; any other fingerprint is refused as a mismatch.
func TestTrustFingerprint(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	_, ck := servertest.Keys(t)
	ctx := ctxT(t)

	trust, err := client.TrustFingerprint(ts.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	if trust.String() != ts.Fingerprint() {
		t.Errorf("String() %q, want %q", trust.String(), ts.Fingerprint())
	}
	conn, err := client.Dial(ctx, ts.Addr, client.Options{Trust: trust, ClientKey: ck})
	if err != nil {
		t.Fatalf("dial with the server's fingerprint: %v", err)
	}
	if _, err := conn.Policy(ctx); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	other := servertest.MustStart(t, nil)
	// TrustOnFirstUse must not open a way around a fixed fingerprint.
	_, err = client.Dial(ctx, other.Addr, client.Options{Trust: trust, ClientKey: ck, TrustOnFirstUse: true})
	var mismatch *client.KeyMismatchError
	if !errors.As(err, &mismatch) || mismatch.Pinned != ts.Fingerprint() || mismatch.Presented != other.Fingerprint() {
		t.Fatalf("dial another server: %v, want *KeyMismatchError pinned %s presented %s", err, ts.Fingerprint(), other.Fingerprint())
	}

	padded, err := client.TrustFingerprint(" " + ts.Fingerprint() + "= ")
	if err != nil || padded.String() != ts.Fingerprint() {
		t.Errorf("padded fingerprint: %v %v, want %s", padded, err, ts.Fingerprint())
	}
	for _, bad := range []string{"", "SHA256:", "MD5:" + strings.TrimPrefix(ts.Fingerprint(), "SHA256:"), "SHA256:abc", "SHA256:!!!!", strings.TrimPrefix(ts.Fingerprint(), "SHA256:")} {
		if _, err := client.TrustFingerprint(bad); err == nil {
			t.Errorf("TrustFingerprint(%q): no error", bad)
		}
	}
}
