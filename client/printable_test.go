package client_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/accountd/accountd/client"
)

// hostile holds what a malicious server sent to terminals in the wild:
// a window title, a screen clear, an OSC 52 clipboard write, a C1 CSI, a
// right-to-left override and a zero-width space.
const hostile = "bad\x1b]0;pwned\x07\x1b[2J\x1b]52;c;ZWNobyBwd25lZA==\x07\u009b31m\u202egnp.exe\u200b\\x41\xff"

func TestPrintable(t *testing.T) {
	got := client.Printable(hostile)
	want := `bad\x1b]0;pwned\x07\x1b[2J\x1b]52;c;ZWNobyBwd25lZA==\x07\u009b31m\u202egnp.exe\u200b\\x41\xff`
	if got != want {
		t.Fatalf("Printable:\n got %s\nwant %s", got, want)
	}
	for _, r := range got {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0x202e || r == 0x200b {
			t.Fatalf("Printable left %U", r)
		}
	}
	for _, plain := range []string{"alice", "wrong username or password", "Zoë 東京 ✓"} {
		if client.Printable(plain) != plain {
			t.Errorf("Printable changed %q", plain)
		}
	}
}

func TestEscapeJSON(t *testing.T) {
	b, err := json.Marshal(map[string]string{"message": hostile})
	if err != nil {
		t.Fatal(err)
	}
	out := client.EscapeJSON(b)
	for _, r := range string(out) {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0x202e || r == 0x200b {
			t.Fatalf("EscapeJSON left %U in %s", r, out)
		}
	}
	var back map[string]string
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if want := strings.ToValidUTF8(hostile, "\ufffd"); back["message"] != want {
		t.Fatalf("EscapeJSON changed the value: %q, want %q", back["message"], want)
	}
}
