package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestEmailMigration: migration 8 moves the addresses stored before,
// never checked, to the pending email, and its down step moves them back
// (unless another account has verified one meanwhile); both dialects.
func TestEmailMigration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		open func(testing.TB) *sqlstore.DB
	}{
		{"sqlite", sqltest.NewSQLite},
		{"mysql", sqltest.NewMySQL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := tc.open(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := sqlstore.MigrateTo(ctx, db, 7); err != nil {
				t.Fatalf("down to 7: %v", err)
			}
			at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			old := store.Account{ID: "0123456789abcdef0123456789abcdef", Username: "old", Email: "old@example.com", PasswordHash: "$x", CreatedAt: at, UpdatedAt: at}
			if err := sqlstore.CreateAccountAtSchema7(ctx, db, old); err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("up to 8: %v", err)
			}
			if email, pending, err := sqlstore.AccountEmails(ctx, db, old.ID); err != nil || email != "" || pending != "old@example.com" {
				t.Fatalf("after 8: email %q, pending %q, %v; want the address pending", email, pending, err)
			}
			if err := sqlstore.MigrateTo(ctx, db, 7); err != nil {
				t.Fatalf("down to 7 again: %v", err)
			}
			if email, pending, err := sqlstore.AccountEmails(ctx, db, old.ID); err != nil || email != "old@example.com" || pending != "" {
				t.Fatalf("after the down step: email %q, pending %q, %v; want the address back", email, pending, err)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("up to 8 again: %v", err)
			}
		})
	}
}
