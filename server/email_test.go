package server_test

import (
	"errors"
	"testing"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestEmailRefusesControlAndFormatCharacters: emails with C0 or C1
// controls, bidirectional overrides, zero-width or other format
// characters, or line separators are refused at signup; the plain one is
// taken.
func TestEmailRefusesControlAndFormatCharacters(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), nil)
	c := mustDial(t, ts)
	ctx := ctxT(t)
	for i, email := range []string{
		"a\x1b[2J@example.com",
		"a\u0085@example.com",
		"a\u009b@example.com",
		"moc.elpmaxe@\u202eb",
		"a\u200b@example.com",
		"a\u2066b@example.com",
		"a\ufeff@example.com",
		"a\u061c@example.com",
		"a\u2028@example.com",
	} {
		_, err := c.Signup(ctx, "user"+string(rune('a'+i)), goodPassword, email)
		if !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("signup with email %q: %v, want bad_request", email, err)
		}
	}
	if _, err := c.Signup(ctx, "plain", goodPassword, "zoë@example.com"); err != nil {
		t.Fatalf("signup with a plain email: %v", err)
	}
}
