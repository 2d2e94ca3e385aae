package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// benchServer is a server over a store with one logged-in account.
func benchServer(b *testing.B, st store.Store) (*Server, string) {
	b.Helper()
	ctx := context.Background()
	_, identity, _ := ed25519.GenerateKey(rand.Reader)
	master := make([]byte, 32)
	rand.Read(master)
	srv, err := New(ctx, Config{
		Config:   account.Config{Store: st, MasterKey: master, Argon2: account.Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}},
		Identity: identity, RateLimit: 1e9, RateBurst: 1e9,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Shutdown(ctx) })
	if _, err := srv.svc.Signup(ctx, protocol.SignupRequest{Username: "bench", Password: "correct horse battery staple"}); err != nil {
		b.Fatal(err)
	}
	tok, err := srv.svc.Login(ctx, protocol.LoginRequest{Username: "bench", Password: "correct horse battery staple"})
	if err != nil {
		b.Fatal(err)
	}
	return srv, tok.Token
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

// BenchmarkDispatchRefresh is one refresh request from decoded plaintext
// to encoded response (token check, session read, signing the new token,
// the audit row), 16 at a time, against each store.
func BenchmarkDispatchRefresh(b *testing.B) {
	for _, bk := range []struct {
		name string
		open func(testing.TB) store.Store
	}{
		{"sqlite", func(tb testing.TB) store.Store { return sqltest.NewSQLite(tb) }},
		{"mysql", func(tb testing.TB) store.Store { return sqltest.NewMySQL(tb) }},
	} {
		b.Run(bk.name, func(b *testing.B) {
			srv, tok := benchServer(b, bk.open(b))
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				token := tok
				for pb.Next() {
					body, _ := json.Marshal(protocol.TokenRequest{Token: token})
					req, _ := json.Marshal(protocol.Request{ID: 1, Op: protocol.OpRefresh, Body: body})
					resp := srv.handle(ctx, req, "127.0.0.1")
					if resp.Error != nil {
						b.Fatal(resp.Error)
					}
					var r protocol.TokenResult
					if err := json.Unmarshal(resp.Result, &r); err != nil {
						b.Fatal(err)
					}
					token = r.Token
				}
			})
		})
	}
}
