package account

import (
	"strings"
	"testing"

	"github.com/accountd/accountd/server/internal/mailer"
)

// TestEveryNoticeRenders: each Notice has a template whose subject and
// both bodies render, name the service and the account, and are told
// apart from one another.
func TestEveryNoticeRenders(t *testing.T) {
	t.Parallel()
	tmpl, err := mailer.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	subjects := map[string]Notice{}
	for _, n := range Notices {
		m, err := tmpl.Render("notice_"+string(n), "owner@example.com", mailer.Data{ServiceName: "Example <Chat>", Username: "alice"})
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if !strings.Contains(m.Subject, "Example <Chat>") || !strings.Contains(m.Text, "alice") || !strings.Contains(m.HTML, "alice") {
			t.Errorf("%s: subject %q, text %q", n, m.Subject, m.Text)
		}
		if strings.Contains(m.HTML, "<Chat>") || !strings.Contains(m.HTML, "Example &lt;Chat&gt;") {
			t.Errorf("%s: the HTML body does not escape the service name:\n%s", n, m.HTML)
		}
		if other, dup := subjects[m.Subject]; dup {
			t.Errorf("%s and %s share the subject %q", n, other, m.Subject)
		}
		subjects[m.Subject] = n
	}
	for _, code := range []string{"verify", "reset"} {
		m, err := tmpl.Render(code, "owner@example.com", mailer.Data{ServiceName: "x", Username: "alice", Code: "01234567", Minutes: 10})
		if err != nil || !strings.Contains(m.Text, "01234567") || !strings.Contains(m.HTML, "01234567") || !strings.Contains(m.Text, "10 minutes") {
			t.Errorf("%s: %+v, %v", code, m, err)
		}
	}
}
