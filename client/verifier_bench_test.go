package client_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/accountd/accountd/client"
)

// benchSigner is a key set of one key, served over HTTP, and tokens
// signed by it the way the server signs them.
type benchSigner struct {
	url    string
	method jwt.SigningMethod
	key    crypto.Signer
}

func newBenchSigner(b *testing.B, alg string) *benchSigner {
	b.Helper()
	var key crypto.Signer
	var err error
	switch alg {
	case "ES256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "PS256", "RS256":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	case "EdDSA":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		b.Fatal(err)
	}
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: alg, Use: "sig"}}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(set)
	}))
	b.Cleanup(srv.Close)
	return &benchSigner{url: srv.URL + "/.well-known/jwks.json", method: jwt.GetSigningMethod(alg), key: key}
}

func (s *benchSigner) token(b *testing.B, i int) string {
	now := time.Now()
	t := jwt.NewWithClaims(s.method, jwt.MapClaims{
		"iss": "accountd", "sub": "0123456789abcdef0123456789abcdef", "sid": fmt.Sprintf("%032x", i),
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(), "jti": fmt.Sprint(i),
	})
	t.Header["kid"] = "k1"
	tok, err := t.SignedString(s.key)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// BenchmarkVerifier is one Verify on one goroutine: of a token seen
// before (a backend checking a user's token on request after request),
// and of a token seen for the first time (its signature checked), for
// each algorithm.
func BenchmarkVerifier(b *testing.B) {
	for _, alg := range client.Algorithms {
		s := newBenchSigner(b, alg)
		v, err := client.NewVerifier(client.VerifierOptions{JWKSURL: s.url})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(v.Close)
		ctx := context.Background()
		b.Run(alg+"/seen", func(b *testing.B) {
			tok := s.token(b, 0)
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/first", func(b *testing.B) {
			toks := make([]string, 256)
			for i := range toks {
				toks[i] = s.token(b, i)
			}
			// A fresh Verifier for each pass over the tokens: each is
			// then one it has not seen.
			var fresh *client.Verifier
			defer func() { fresh.Close() }()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i%len(toks) == 0 {
					b.StopTimer()
					if fresh != nil {
						fresh.Close()
					}
					var err error
					if fresh, err = client.NewVerifier(client.VerifierOptions{JWKSURL: s.url}); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				if _, err := fresh.Verify(ctx, toks[i%len(toks)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
