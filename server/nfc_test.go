package server_test

import (
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/internal/argon2id"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestPasswordNFC: a password is one password whichever Unicode form it
// is typed in; an account whose hash was made from the raw, decomposed
// bytes (before normalization) still logs in with them, and its hash is
// re-made so the composed form works too.
func TestPasswordNFC(t *testing.T) {
	parallel(t)
	const composed = "Am\u00e9lie's long passphrase"    // é as one code point
	const decomposed = "Ame\u0301lie's long passphrase" // e + combining acute
	st := sqltest.NewSQLite(t)
	ts := mustServe(t, st, nil)
	ctx := ctxT(t)
	if _, err := ts.Service().Signup(ctx, protocol.SignupRequest{Username: "new", Password: decomposed}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Service().Login(ctx, protocol.LoginRequest{Username: "new", Password: composed}); err != nil {
		t.Fatalf("composed form of a password signed up decomposed: %v", err)
	}

	raw, err := argon2id.Hash(decomposed, servertest.CheapArgon2)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := st.CreateAccount(ctx, store.Account{ID: "0123456789abcdef0123456789abcdef", Username: "old", PasswordHash: raw, CreatedAt: now, UpdatedAt: now}, store.AuthEvent{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Service().Login(ctx, protocol.LoginRequest{Username: "old", Password: decomposed}); err != nil {
		t.Fatalf("a hash of the raw bytes no longer verifies: %v", err)
	}
	if _, err := ts.Service().Login(ctx, protocol.LoginRequest{Username: "old", Password: composed}); err != nil {
		t.Fatalf("after the rehash, the composed form: %v", err)
	}
}
