package account

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// benchService is a Service over SQLite signing with alg, with one
// account, "bench", and a token of it.
func benchService(b *testing.B, alg string) (*Service, string) {
	b.Helper()
	mk := make([]byte, 32)
	rand.Read(mk)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	svc, err := New(ctx, Config{Store: sqltest.NewSQLite(b), MasterKey: mk, SigningAlgorithm: alg, Argon2: Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(svc.Close)
	if _, err := svc.Signup(ctx, protocol.SignupRequest{Username: "bench", Password: "correct horse battery staple"}); err != nil {
		b.Fatal(err)
	}
	tok, err := svc.Login(ctx, protocol.LoginRequest{Username: "bench", Password: "correct horse battery staple"})
	if err != nil {
		b.Fatal(err)
	}
	return svc, tok.Token
}

// BenchmarkIssueToken is signing one token, per algorithm.
func BenchmarkIssueToken(b *testing.B) {
	for _, alg := range SigningAlgorithms {
		b.Run(alg, func(b *testing.B) {
			svc, _ := benchService(b, alg)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			a, err := svc.store.GetAccountByUsername(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			sess := store.Session{ID: "0123456789abcdef0123456789abcdef", AccountID: a.ID, CreatedAt: a.CreatedAt, ExpiresAt: a.CreatedAt.Add(24 * time.Hour)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.issue(a, sess); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyTokenSignature is the token's cryptographic check alone,
// per algorithm, without the cache of verified tokens or the session
// lookup.
func BenchmarkVerifyTokenSignature(b *testing.B) {
	for _, alg := range SigningAlgorithms {
		b.Run(alg, func(b *testing.B) {
			svc, tok := benchService(b, alg)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			b.ReportAllocs()
			for b.Loop() {
				var c Claims
				if _, err := svc.parser.ParseWithClaims(tok, &c, svc.keys.Keyfunc(ctx)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
