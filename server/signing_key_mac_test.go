package server_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestForgedSigningKeyRow: with write access to the database alone, an
// attacker adds a signing_keys row holding their own public key (a junk
// sealed private half, no MAC, or a MAC made up) and signs a token for a
// real session with it. The server publishes neither row, refuses the
// token, logs the rows and counts them; its own key still works.
func TestForgedSigningKeyRow(t *testing.T) {
	parallel(t)
	st := sqltest.NewSQLite(t)
	var logs lockedBuffer
	ts := mustServe(t, st, func(c *server.Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	ctx := ctxT(t)
	if _, err := ts.Service().Signup(ctx, protocol.SignupRequest{Username: "owner", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Service().Login(ctx, protocol.LoginRequest{Username: "owner", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}

	evil, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&evil.PublicKey)
	now := ts.Clock.Now().UTC().Truncate(time.Microsecond)
	for _, k := range []store.SigningKey{
		{ID: "evil-nomac", Algorithm: "PS256", PublicKey: spki, SealedPrivateKey: []byte("junk"), CreatedAt: now.Add(-time.Hour), ActiveAt: now.Add(-time.Hour)},
		{ID: "evil-mac", Algorithm: "PS256", PublicKey: spki, SealedPrivateKey: []byte("junk"), CreatedAt: now.Add(-time.Hour), ActiveAt: now.Add(-time.Hour), MAC: make([]byte, 32)},
	} {
		if err := st.CreateSigningKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	ts.Stop()
	ts.MustRestart()

	for _, k := range ts.Service().JWKS() {
		if strings.HasPrefix(k.Kid, "evil") {
			t.Errorf("forged key %s published in the JWKS", k.Kid)
		}
	}
	claims := account.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "accountd", Subject: tok.Account.ID,
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
		SessionID: tok.SessionID,
	}
	c := mustDial(t, ts)
	for _, kid := range []string{"evil-nomac", "evil-mac"} {
		forged := jwt.NewWithClaims(jwt.SigningMethodPS256, claims)
		forged.Header["kid"] = kid
		s, err := forged.SignedString(evil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Authenticate(ctx, s); !errors.Is(err, client.ErrInvalidToken) {
			t.Errorf("token signed by the forged row %s: %v, want invalid_token", kid, err)
		}
	}
	if _, err := c.Authenticate(ctx, tok.Token); err != nil {
		t.Fatalf("the server's own token: %v", err)
	}
	for _, kid := range []string{"evil-nomac", "evil-mac"} {
		if n := strings.Count(logs.String(), "SIGNING KEY REFUSED"); n < 2 || !strings.Contains(logs.String(), "kid="+kid) {
			t.Errorf("log lacks the refusal of %s (%d refusals logged)", kid, n)
		}
	}
	if _, body := httpGet(t, metricsURL(t, ts)); !strings.Contains(body, "\naccountd_signing_keys_refused_total 2\n") {
		t.Errorf("/metrics lacks accountd_signing_keys_refused_total 2")
	}
}
