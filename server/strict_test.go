package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestPasswordInvalidUTF8Refused: a login whose JSON holds invalid UTF-8
// is refused as a bad request, rather than decoded with U+FFFD in place
// of the bytes (which let two passwords log in as each other).
func TestPasswordInvalidUTF8Refused(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), nil)
	if _, err := ts.Service().Signup(ctxT(t), protocol.SignupRequest{Username: "owner", Password: "correct horse battery \ufffd staple"}); err != nil {
		t.Fatal(err)
	}
	w, sess := mustRawHandshake(t, ts)
	resp := w.roundTrip(t, sess, `{"id":1,"op":"login","body":{"username":"owner","password":"correct horse battery `+"\xff"+` staple"}}`)
	if resp.Error == nil || resp.Error.Code != protocol.CodeBadRequest {
		t.Fatalf("login with invalid UTF-8: %+v, want bad_request", resp)
	}
}

// TestTokenStrictEncoding: a valid token with a CR, LF, space or padding
// inside is refused; the token itself passes.
func TestTokenStrictEncoding(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), nil)
	ctx := ctxT(t)
	if _, err := ts.Service().Signup(ctx, protocol.SignupRequest{Username: "owner", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Service().Login(ctx, protocol.LoginRequest{Username: "owner", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	c := mustDial(t, ts)
	if _, err := c.Authenticate(ctx, tok.Token); err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(tok.Token, '.')
	for _, bad := range []string{
		tok.Token[:i] + "\r\n" + tok.Token[i:],
		tok.Token[:10] + "\n" + tok.Token[10:],
		tok.Token + " ",
		tok.Token + "=",
	} {
		if _, err := c.Authenticate(ctx, bad); !errors.Is(err, client.ErrInvalidToken) {
			t.Errorf("token %q: %v, want invalid_token", bad, err)
		}
	}
}
