package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// BenchmarkGetSession is the read every authenticate makes, per dialect.
func BenchmarkGetSession(b *testing.B) {
	for _, bk := range []struct {
		name string
		open func(testing.TB) store.Store
	}{
		{"sqlite", func(tb testing.TB) store.Store { return sqltest.NewSQLite(tb) }},
		{"mysql", func(tb testing.TB) store.Store { return sqltest.NewMySQL(tb) }},
	} {
		b.Run(bk.name, func(b *testing.B) {
			st := bk.open(b)
			ctx := context.Background()
			now := time.Now().UTC()
			a := store.Account{ID: "0123456789abcdef0123456789abcdef", Username: "bench", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
			if err := st.CreateAccount(ctx, a, store.AuthEvent{}); err != nil {
				b.Fatal(err)
			}
			s := store.Session{ID: "fedcba9876543210fedcba9876543210", AccountID: a.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := st.CreateSession(ctx, s, store.AuthEvent{}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := st.GetSession(ctx, s.ID); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
