package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

type claimsKey struct{}

// WithClaims returns a copy of ctx carrying c, as Middleware stores it.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFrom returns the claims Middleware verified for this request, and
// false when there are none.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// Middleware returns net/http middleware that lets a request through only
// with a valid token in its "Authorization: Bearer" header, and puts the
// token's claims in the request's context (read them with ClaimsFrom). A
// missing or invalid token is answered 401 with a WWW-Authenticate
// header (RFC 6750); a token the Verifier's Authenticator cannot check
// now (the server unreachable) 503. A key set that cannot be fetched
// leaves tokens signed by unknown keys invalid: 401. Neither answer says
// more about the token.
func Middleware(v *Verifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := bearerToken(r)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="accountd"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
			claims, err := v.Verify(r.Context(), token)
			switch {
			case errors.Is(err, ErrVerifierUnavailable):
				http.Error(w, "authentication is unavailable, try again later", http.StatusServiceUnavailable)
				return
			case err != nil:
				w.Header().Set("WWW-Authenticate", `Bearer realm="accountd", error="invalid_token"`)
				http.Error(w, "invalid token", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), claims)))
		})
	}
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
