package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

func BenchmarkHashPassword(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple", DefaultArgon2); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPassword(b *testing.B) {
	h, err := HashPassword("correct horse battery staple", DefaultArgon2)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := VerifyPassword("correct horse battery staple", h, DefaultArgon2); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// benchServer is a server over a store with one logged-in account.
func benchServer(b *testing.B, st store.Store) (*Server, string) {
	b.Helper()
	_, id, _ := ed25519.GenerateKey(rand.Reader)
	mk := make([]byte, 32)
	rand.Read(mk)
	ctx := context.Background()
	srv, err := New(ctx, Config{Store: st, MasterKey: mk, Identity: id, Argon2: Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1},
		Limits: Limits{RateLimit: 1e9, RateBurst: 1e9}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := srv.svc.Signup(ctx, protocol.SignupRequest{Username: "bench", Password: "correct horse battery staple"}); err != nil {
		b.Fatal(err)
	}
	tok, err := srv.svc.Login(ctx, protocol.LoginRequest{Username: "bench", Password: "correct horse battery staple"})
	if err != nil {
		b.Fatal(err)
	}
	return srv, tok.Token
}

func BenchmarkIssueToken(b *testing.B) {
	srv, _ := benchServer(b, sqltest.NewSQLite(b))
	ctx := context.Background()
	a, err := srv.svc.store.GetAccountByUsername(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	sess := store.Session{ID: "0123456789abcdef0123456789abcdef", AccountID: a.ID, CreatedAt: a.CreatedAt, ExpiresAt: a.CreatedAt.Add(24 * time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := srv.svc.issue(a, sess); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyTokenSignature is the token's cryptographic check alone
// (PS256 with a 3072-bit key), without the session lookup.
func BenchmarkVerifyTokenSignature(b *testing.B) {
	srv, tok := benchServer(b, sqltest.NewSQLite(b))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		var c Claims
		if _, err := srv.svc.parser.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) { return srv.svc.keys.verificationKey(ctx, t) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDispatchAuthenticate is one authenticate request from decoded
// plaintext to encoded response: JSON, token check and the session and
// account reads, against each store.
func BenchmarkDispatchAuthenticate(b *testing.B) {
	for _, bk := range []struct {
		name string
		open func(testing.TB) store.Store
	}{
		{"sqlite", func(tb testing.TB) store.Store { return sqltest.NewSQLite(tb) }},
		{"mysql", func(tb testing.TB) store.Store { return sqltest.NewMySQL(tb) }},
	} {
		b.Run(bk.name, func(b *testing.B) {
			srv, tok := benchServer(b, bk.open(b))
			body, _ := json.Marshal(protocol.TokenRequest{Token: tok})
			req, _ := json.Marshal(protocol.Request{ID: 1, Op: protocol.OpAuthenticate, Body: body})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				resp := srv.handle(ctx, req, "127.0.0.1")
				if resp.Error != nil {
					b.Fatal(resp.Error)
				}
				if _, err := json.Marshal(resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
