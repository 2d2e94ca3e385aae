package client_test

import (
	"testing"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server/servertest"
)

// TestSignupWith: the request struct's empty password asks the server
// for a generated one, which then logs in.
func TestSignupWith(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	c := mustClient(t, ts.Addr)
	ctx := ctxT(t)
	r, err := c.SignupWith(ctx, client.SignupRequest{Username: "gen", Email: "gen@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if r.GeneratedPassword == "" || r.Account.PendingEmail != "gen@example.org" {
		t.Fatalf("signup without a password: %+v, want a generated password and the email pending", r)
	}
	if _, err := c.Login(ctx, "gen", r.GeneratedPassword); err != nil {
		t.Errorf("login with the generated password: %v", err)
	}
}
