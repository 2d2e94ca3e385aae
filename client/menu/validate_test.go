package menu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
)

func TestValidUsername(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{"alice", ""},
		{"Alice.B_c-9", ""},
		{"abc", ""},
		{strings.Repeat("a", 32), ""},
		{"", "choose a username"},
		{"ab", "at least 3"},
		{strings.Repeat("a", 33), "at most 32"},
		{"al ice", `' ' is not allowed`},
		{"alice!", `'!' is not allowed`},
		{"élise", `'é' is not allowed`},
	} {
		err := validUsername(tc.in)
		if (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("validUsername(%q) = %v, want %q", tc.in, err, tc.err)
		}
	}
}

func TestValidEmail(t *testing.T) {
	for in, ok := range map[string]bool{
		"":                                 true,
		"a@example.com":                    true,
		"a@localhost":                      false,
		"Alice <a@example.com>":            false,
		"not an address":                   false,
		"a@b.c" + strings.Repeat("c", 250): false,
	} {
		if err := validEmail(in); (err == nil) != ok {
			t.Errorf("validEmail(%q) = %v, want ok=%v", in, err, ok)
		}
	}
}

func TestValidPassword(t *testing.T) {
	user := "alice.long.name"
	check := validPassword(8, &user)
	for in, want := range map[string]string{
		"12345678":                     "",
		"1234567":                      "at least 8 characters (7 so far)",
		"ééééééé":                      "(7 so far)", // code points, not bytes
		strings.Repeat("x", 1025):      "at most 1024",
		"ALICE.LONG.NAME":              "must not be your username",
		"correct horse battery staple": "",
	} {
		err := check(in)
		if (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("password %q: %v, want %q", in, err, want)
		}
	}
	first := "same"
	if samePassword(&first)("same") != nil || samePassword(&first)("Same") == nil {
		t.Error("samePassword compares wrongly")
	}
}

func TestDescribeRefusal(t *testing.T) {
	for _, tc := range []struct {
		err       *client.ServerError
		msg, hint string
	}{
		{&client.ServerError{Code: "rate_limited", Message: "too many requests", RetryAfter: 2500 * time.Millisecond}, "Too many attempts.", "Wait 3s, then try again."},
		{&client.ServerError{Code: "rate_limited", Message: "too many requests"}, "Too many attempts.", "Wait a little, then try again."},
		{&client.ServerError{Code: "invalid_credentials", Message: "wrong username or password"}, "Wrong username or password.", "Check both"},
		{&client.ServerError{Code: "username_taken", Message: "that username is taken"}, "That username is taken.", "log in if it is yours"},
		{&client.ServerError{Code: "weak_password", Message: "password must be at least 15 characters"}, "Password must be at least 15 characters.", ""},
		{&client.ServerError{Code: "busy", Message: "server is busy, try again shortly", RetryAfter: time.Second}, "Server is busy, try again shortly.", "Try again in 1s."},
		{&client.ServerError{Code: "invalid_token", Message: "token is invalid"}, "Your session has ended", "Log in again."},
		{&client.ServerError{Code: "internal", Message: "internal error"}, "internal error", "tell the server's operator"},
	} {
		msg, hint := describeRefusal(tc.err)
		if !strings.Contains(msg, tc.msg) || !strings.Contains(hint, tc.hint) || tc.hint == "" && hint != "" {
			t.Errorf("%s: %q / %q, want %q / %q", tc.err.Code, msg, hint, tc.msg, tc.hint)
		}
	}
}

func TestDescribeConnection(t *testing.T) {
	m := &menu{server: "127.0.0.1:9", opts: Options{Timeout: 30 * time.Second}}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{client.ErrServerShuttingDown, "The server at 127.0.0.1:9 is shutting down."},
		{fmt.Errorf("%w: %w", client.ErrConnection, io.ErrUnexpectedEOF), "Cannot reach the server at 127.0.0.1:9: the connection was cut."},
		{fmt.Errorf("x: %w", errors.Join(client.ErrConnection, context.DeadlineExceeded)), "did not answer within 30s"},
	} {
		if msg, _ := m.describe(tc.err); !strings.Contains(msg, tc.want) {
			t.Errorf("describe(%v) = %q, want %q", tc.err, msg, tc.want)
		}
	}
}

func TestSavedSessions(t *testing.T) {
	s := &SavedSessions{Dir: filepath.Join(t.TempDir(), "sessions")}
	if got, err := s.Load("[::1]:8080"); got != nil || err != nil {
		t.Fatalf("Load with nothing saved: %v, %v", got, err)
	}
	want := SavedSession{Server: "[::1]:8080", Username: "alice", Token: "eyJ.x.y", ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("[::1]:8080")
	if err != nil || *got != want {
		t.Fatalf("Load = %+v, %v; want %+v", got, err, want)
	}
	for path, mode := range map[string]os.FileMode{s.Dir: 0o700, s.path("[::1]:8080"): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v (%v), want %o", path, fi.Mode().Perm(), err, mode)
		}
	}
	if _, err := s.Load("127.0.0.1:8080"); err != nil {
		t.Errorf("another server: %v", err)
	}

	// A file readable by others, or not a session, is refused.
	p := s.path("[::1]:8080")
	os.Chmod(p, 0o644)
	if _, err := s.Load("[::1]:8080"); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("0644 file: %v", err)
	}
	os.WriteFile(p, []byte(`{"token": 1}`), 0o600)
	os.Chmod(p, 0o600)
	if _, err := s.Load("[::1]:8080"); err == nil || !strings.Contains(err.Error(), "not a saved session") {
		t.Errorf("bad file: %v", err)
	}
	if err := s.Remove("[::1]:8080"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("[::1]:8080"); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestLineReader(t *testing.T) {
	l := newLineReader(strings.NewReader("one\ntwo\nthree"))
	buf := make([]byte, 64)
	var got []string
	for {
		n, err := l.Read(buf)
		if err != nil {
			break
		}
		got = append(got, string(buf[:n]))
	}
	if strings.Join(got, "|") != "one\n|two\n|three\n" {
		t.Errorf("reads = %q", got)
	}
	if !l.ended() {
		t.Error("not ended after EOF")
	}
}

func TestLiveHints(t *testing.T) {
	v := ""
	hint := liveHint("rule.", validUsername, &v)
	for in, want := range map[string]string{
		"":      "rule.",
		"al":    "✗ at least 3 characters",
		"al!":   "✗ '!' is not allowed",
		"alice": "rule. ✓",
	} {
		v = in
		if got := hint(); !strings.HasPrefix(got, want) {
			t.Errorf("hint for %q = %q, want %q", in, got, want)
		}
	}
	user, p := "alice.smith", ""
	meter := passwordMeter(8, &p, &user)
	for in, want := range map[string]string{
		"abc":         "At least 8 characters: 5 to go",
		"Alice.Smith": "✗ That is your username.",
		"abcdefghij":  "10 characters ✓",
	} {
		p = in
		if got := meter(); !strings.HasPrefix(got, want) {
			t.Errorf("meter for %q = %q, want %q", in, got, want)
		}
	}
}
