package mailer_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accountd/accountd/server/internal/mailer"
)

// TestTemplatesOverride: a file in the operator's folder replaces the
// built-in template of its name; the others stay; a template that does
// not parse, lacks its subject line or names an unknown field is
// refused when loaded, not when a mail is due.
func TestTemplatesOverride(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "verify.txt"), []byte("Subject: Code for {{.Username}}\n\nYour code: {{.Code}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tmpl, err := mailer.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tmpl.Render("verify", "a@example.com", mailer.Data{Username: "alice", Code: "12345678"})
	if err != nil || m.Subject != "Code for alice" || m.Text != "Your code: 12345678\n" {
		t.Fatalf("overridden verify = %+v, %v", m, err)
	}
	if !strings.Contains(m.HTML, "12345678") {
		t.Errorf("the built-in HTML body stays: %q", m.HTML)
	}
	if m, err := tmpl.Render("reset", "a@example.com", mailer.Data{ServiceName: "S", Code: "1"}); err != nil || !strings.Contains(m.Subject, "password reset") {
		t.Errorf("built-in reset = %+v, %v", m, err)
	}
	for name, body := range map[string]string{
		"reset.txt":  "Subject: x\n\n{{.Code",
		"verify.txt": "no subject line {{.Code}}",
		"x.txt":      "Subject: x\n\n{{.Password}}",
	} {
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := mailer.LoadTemplates(bad); err == nil {
			t.Errorf("%s %q was loaded", name, body)
		}
	}
}

// TestNewSenderRefuses: a sender needs a host, a from address that
// parses, and a known TLS mode.
func TestNewSenderRefuses(t *testing.T) {
	t.Parallel()
	for _, c := range []mailer.Config{
		{From: "a@example.com"},
		{Host: "smtp.example.com"},
		{Host: "smtp.example.com", From: "not an address"},
		{Host: "smtp.example.com", From: "a@example.com", TLS: "ssl"},
	} {
		if _, err := mailer.NewSender(c); err == nil {
			t.Errorf("NewSender(%+v) accepted", c)
		}
	}
}

// TestSendRefusesInjectedRecipient: a recipient carrying a line break
// (a header injection attempt) is refused before any connection.
func TestSendRefusesInjectedRecipient(t *testing.T) {
	t.Parallel()
	s, err := mailer.NewSender(mailer.Config{Host: "127.0.0.1", Port: 1, From: "a@example.com", TLS: mailer.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"a@example.com\r\nBcc: x@evil.example", "a@example.com\nBcc: x@evil.example", "Evil <a@example.com>, x@evil.example"} {
		err := s.Send(t.Context(), mailer.Message{To: to, Subject: "s", Text: "t"})
		if err == nil || !strings.Contains(err.Error(), "recipient") {
			t.Errorf("Send to %q = %v, want the recipient refused", to, err)
		}
	}
}
