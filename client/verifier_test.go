package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/servertest"
)

// mustToken signs up username on ts and returns a fresh token.
func mustToken(tb testing.TB, c *client.Client, username string) *client.Token {
	tb.Helper()
	ctx := ctxT(tb)
	if _, err := c.SignupWith(ctx, client.SignupRequest{Username: username, Password: password}); err != nil {
		tb.Fatal(err)
	}
	tok, err := c.Login(ctx, username, password)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func mustVerifier(tb testing.TB, opts client.VerifierOptions) *client.Verifier {
	tb.Helper()
	v, err := client.NewVerifier(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(v.Close)
	return v
}

func jwksURL(tb testing.TB, ts *servertest.Server) string {
	tb.Helper()
	u, err := client.JWKSAddress(ts.Addr)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// TestVerifierChecks: a good token passes with its claims; every claim
// the Verifier checks, when wrong, makes it ErrInvalidToken.
func TestVerifierChecks(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, func(c *server.Config) { c.Audience = "shop" })
	c := mustClient(t, ts.Addr)
	tok := mustToken(t, c, "alice")
	ctx := ctxT(t)
	url := jwksURL(t, ts)

	good := mustVerifier(t, client.VerifierOptions{JWKSURL: url, Audience: "shop"})
	claims, err := good.Verify(ctx, tok.Token)
	if err != nil {
		t.Fatalf("verify a fresh token: %v", err)
	}
	if claims.Subject != tok.Account.ID || claims.SessionID != tok.SessionID || claims.Issuer != "accountd" || claims.KeyID == "" {
		t.Errorf("claims %+v, want sub %s sid %s iss accountd and a kid", claims, tok.Account.ID, tok.SessionID)
	}
	if claims.Account != nil {
		t.Errorf("Account set without an Authenticator: %+v", claims.Account)
	}
	if !claims.ExpiresAt.After(claims.IssuedAt) {
		t.Errorf("exp %v not after iat %v", claims.ExpiresAt, claims.IssuedAt)
	}

	parts := strings.Split(tok.Token, ".")
	payload := []byte(parts[1])
	payload[len(payload)/2] ^= 1
	tampered := parts[0] + "." + string(payload) + "." + parts[2]
	hs256, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "accountd", "sub": tok.Account.ID, "sid": tok.SessionID, "aud": "shop",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	}).SignedString([]byte("a guessed secret"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		opts  client.VerifierOptions
		token string
	}{
		{"tampered payload", client.VerifierOptions{JWKSURL: url, Audience: "shop"}, tampered},
		{"HS256 instead of the server's algorithm", client.VerifierOptions{JWKSURL: url, Audience: "shop"}, hs256},
		{"other issuer", client.VerifierOptions{JWKSURL: url, Audience: "shop", Issuer: "elsewhere"}, tok.Token},
		{"other audience", client.VerifierOptions{JWKSURL: url, Audience: "bank"}, tok.Token},
		{"expired", client.VerifierOptions{JWKSURL: url, Audience: "shop", Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}, tok.Token},
		{"not yet valid", client.VerifierOptions{JWKSURL: url, Audience: "shop", Now: func() time.Time { return time.Now().Add(-10 * time.Minute) }}, tok.Token},
		{"not a JWT", client.VerifierOptions{JWKSURL: url, Audience: "shop"}, "not-a-token"},
		{"over 8192 bytes", client.VerifierOptions{JWKSURL: url, Audience: "shop"}, strings.Repeat("a", 8193)},
	} {
		v := mustVerifier(t, tc.opts)
		if _, err := v.Verify(ctx, tc.token); !errors.Is(err, client.ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", tc.name, err)
		}
	}
}

// TestVerifierAlgorithms: a server configured for any of the signing
// algorithms is verified.
func TestVerifierAlgorithms(t *testing.T) {
	t.Parallel()
	for _, alg := range client.Algorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			ts := servertest.MustStart(t, func(c *server.Config) { c.SigningAlgorithm = alg })
			c := mustClient(t, ts.Addr)
			tok := mustToken(t, c, "user")
			v := mustVerifier(t, client.VerifierOptions{JWKSURL: jwksURL(t, ts)})
			if _, err := v.Verify(ctxT(t), tok.Token); err != nil {
				t.Fatalf("verify an %s token: %v", alg, err)
			}
			parsed, _, err := jwt.NewParser().ParseUnverified(tok.Token, jwt.MapClaims{})
			if err != nil {
				t.Fatal(err)
			}
			if got := parsed.Method.Alg(); got != alg {
				t.Errorf("token algorithm %s, want %s", got, alg)
			}
		})
	}
}

// TestVerifierSeenTokens: a token verified once is still checked against
// the clock at every use, and a token that differs from it in one byte
// is not taken for it.
func TestVerifierSeenTokens(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	tok := mustToken(t, mustClient(t, ts.Addr), "carol")
	var skew atomic.Int64
	v := mustVerifier(t, client.VerifierOptions{JWKSURL: jwksURL(t, ts),
		Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	ctx := ctxT(t)
	for i := range 3 {
		if _, err := v.Verify(ctx, tok.Token); err != nil {
			t.Fatalf("verify #%d: %v", i+1, err)
		}
	}
	parts := strings.Split(tok.Token, ".")
	sig := []byte(parts[2])
	sig[len(sig)/2] ^= 1
	if _, err := v.Verify(ctx, parts[0]+"."+parts[1]+"."+string(sig)); !errors.Is(err, client.ErrInvalidToken) {
		t.Errorf("a seen token with one signature byte changed: %v, want ErrInvalidToken", err)
	}
	skew.Store(int64(2 * time.Hour))
	if _, err := v.Verify(ctx, tok.Token); !errors.Is(err, client.ErrInvalidToken) {
		t.Errorf("a seen token after its expiry: %v, want ErrInvalidToken", err)
	}
	skew.Store(int64(-10 * time.Minute))
	if _, err := v.Verify(ctx, tok.Token); !errors.Is(err, client.ErrInvalidToken) {
		t.Errorf("a seen token before its nbf: %v, want ErrInvalidToken", err)
	}
	skew.Store(0)
	if _, err := v.Verify(ctx, tok.Token); err != nil {
		t.Errorf("the seen token back in its window: %v", err)
	}
}

// TestVerifierFetchesUnknownKey: a token signed by a key the cached set
// does not have makes the Verifier fetch the set again, once.
func TestVerifierFetchesUnknownKey(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	c := mustClient(t, ts.Addr)
	tok := mustToken(t, c, "bob")
	var fetches atomic.Int32
	// The first fetch sees a set without the key, as a Verifier started
	// before a key rotation would.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fetches.Add(1) == 1 {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"keys":[]}`))
			return
		}
		resp, err := http.Get(jwksURL(t, ts))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		var buf strings.Builder
		_, _ = io.Copy(&buf, resp.Body)
		w.Write([]byte(buf.String()))
	}))
	t.Cleanup(proxy.Close)
	v := mustVerifier(t, client.VerifierOptions{JWKSURL: proxy.URL + "/.well-known/jwks.json"})
	if _, err := v.Verify(ctxT(t), tok.Token); err != nil {
		t.Fatalf("verify with a key set fetched before the key existed: %v", err)
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches of the key set, want 2 (the first, and one for the unknown kid)", n)
	}
	if _, err := v.Verify(ctxT(t), tok.Token); err != nil {
		t.Fatal(err)
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches after a second token with a known kid, want still 2", n)
	}
}

// TestVerifierRevocation: with an Authenticator, a logged-out token is
// refused (once the short cache has expired) and the account is given.
func TestVerifierRevocation(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	c := mustClient(t, ts.Addr)
	tok := mustToken(t, c, "carol")
	ctx := ctxT(t)
	url := jwksURL(t, ts)
	uncached := mustVerifier(t, client.VerifierOptions{JWKSURL: url, Authenticator: c, RevocationCacheTTL: -1})
	cached := mustVerifier(t, client.VerifierOptions{JWKSURL: url, Authenticator: c, RevocationCacheTTL: time.Hour})
	for name, v := range map[string]*client.Verifier{"uncached": uncached, "cached": cached} {
		claims, err := v.Verify(ctx, tok.Token)
		if err != nil {
			t.Fatalf("%s: verify a live token: %v", name, err)
		}
		if claims.Account == nil || claims.Account.Username != "carol" {
			t.Fatalf("%s: Account %+v, want carol", name, claims.Account)
		}
	}
	if err := c.Logout(ctx, tok.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := uncached.Verify(ctx, tok.Token); !errors.Is(err, client.ErrInvalidToken) {
		t.Errorf("uncached: verify a logged-out token: %v, want ErrInvalidToken", err)
	}
	// Within its cache lifetime the answer before the logout stands: the
	// price of not asking the server on every request.
	if _, err := cached.Verify(ctx, tok.Token); err != nil {
		t.Errorf("cached: verify a logged-out token within the cache lifetime: %v, want the cached answer", err)
	}

	down := mustVerifier(t, client.VerifierOptions{JWKSURL: url, Authenticator: failingAuthenticator{}})
	if _, err := down.Verify(ctx, mustLogin(t, c, "carol").Token); !errors.Is(err, client.ErrVerifierUnavailable) || errors.Is(err, client.ErrInvalidToken) {
		t.Errorf("verify with the server unreachable: %v, want ErrVerifierUnavailable only", err)
	}
}

func mustLogin(tb testing.TB, c *client.Client, username string) *client.Token {
	tb.Helper()
	tok, err := c.Login(ctxT(tb), username, password)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

type failingAuthenticator struct{}

func (failingAuthenticator) Authenticate(context.Context, string) (*client.Identity, error) {
	return nil, client.ErrConnection
}

// TestMiddleware: the handler sees the claims of a good token; a missing
// or bad token is 401 and an unreachable server 503, before the handler.
func TestMiddleware(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	c := mustClient(t, ts.Addr)
	tok := mustToken(t, c, "dave")
	url := jwksURL(t, ts)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, ok := client.ClaimsFrom(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		w.Write([]byte(claims.Subject))
	})
	good := httptest.NewServer(client.Middleware(mustVerifier(t, client.VerifierOptions{JWKSURL: url}))(handler))
	t.Cleanup(good.Close)
	down := httptest.NewServer(client.Middleware(mustVerifier(t, client.VerifierOptions{JWKSURL: url, Authenticator: failingAuthenticator{}}))(handler))
	t.Cleanup(down.Close)

	for _, tc := range []struct {
		name, url, auth string
		status          int
		body            string
	}{
		{"good token", good.URL, "Bearer " + tok.Token, 200, tok.Account.ID},
		{"lowercase scheme", good.URL, "bearer " + tok.Token, 200, tok.Account.ID},
		{"no header", good.URL, "", 401, "authentication required\n"},
		{"basic auth", good.URL, "Basic YTpi", 401, "authentication required\n"},
		{"bad token", good.URL, "Bearer " + tok.Token + "x", 401, "invalid token\n"},
		{"server unreachable", down.URL, "Bearer " + tok.Token, 503, "authentication is unavailable, try again later\n"},
	} {
		req, _ := http.NewRequestWithContext(ctxT(t), "GET", tc.url, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var buf strings.Builder
		_, _ = io.Copy(&buf, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || buf.String() != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, buf.String(), tc.status, tc.body)
		}
		if tc.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q, want a Bearer challenge", tc.name, resp.Header.Get("WWW-Authenticate"))
		}
	}
}
