package account_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// unconfirmedStore answers CreateAccount and CreateSession with
// store.ErrOutcomeUnknown, after writing (applied) or not, and can make
// the reads that follow fail.
type unconfirmedStore struct {
	store.Store
	applied   bool
	readsFail bool // the reads after an unconfirmed write fail
	settling  bool // an unconfirmed write was answered
}

var errUnconfirmed = fmt.Errorf("commit sent, no answer: %w: %w", store.ErrOutcomeUnknown, store.ErrUnavailable)

func (u *unconfirmedStore) CreateAccount(ctx context.Context, a store.Account, e store.AuthEvent) error {
	if u.applied {
		if err := u.Store.CreateAccount(ctx, a, e); err != nil {
			return err
		}
	}
	u.settling = true
	return errUnconfirmed
}

func (u *unconfirmedStore) CreateSession(ctx context.Context, s store.Session, e store.AuthEvent) error {
	if u.applied {
		if err := u.Store.CreateSession(ctx, s, e); err != nil {
			return err
		}
	}
	u.settling = true
	return errUnconfirmed
}

func (u *unconfirmedStore) GetAccount(ctx context.Context, id string) (store.Account, error) {
	if u.readsFail && u.settling {
		return store.Account{}, fmt.Errorf("read: %w", store.ErrUnavailable)
	}
	return u.Store.GetAccount(ctx, id)
}

func (u *unconfirmedStore) GetSession(ctx context.Context, id string) (store.Session, error) {
	if u.readsFail && u.settling {
		return store.Session{}, fmt.Errorf("read: %w", store.ErrUnavailable)
	}
	return u.Store.GetSession(ctx, id)
}

// TestUnconfirmedWrites: a signup or login whose commit the store could
// not confirm is settled by reading back what it wrote: success when the
// write is there, unavailable (safe to retry) when it certainly is not,
// outcome_unknown when the read fails too.
func TestUnconfirmedWrites(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name               string
		applied, readsFail bool
		want               error // nil, store.ErrUnavailable or store.ErrOutcomeUnknown
	}{
		{"written", true, false, nil},
		{"not written", false, false, store.ErrUnavailable},
		{"read back fails", true, true, store.ErrOutcomeUnknown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			real := sqltest.NewSQLite(t)
			u := &unconfirmedStore{Store: real}
			svc := mustService(t, testConfig(t, u, servertest.NewClock()))
			ctx := ctxT(t)
			check := func(op string, err error) {
				t.Helper()
				switch {
				case tt.want == nil && err != nil:
					t.Fatalf("%s: %v, want success", op, err)
				case tt.want != nil && !errors.Is(err, tt.want):
					t.Fatalf("%s: %v, want %v", op, err, tt.want)
				case errors.Is(tt.want, store.ErrUnavailable) && errors.Is(err, store.ErrOutcomeUnknown):
					t.Fatalf("%s: %v, want a plain unavailable", op, err)
				}
			}
			u.applied, u.readsFail, u.settling = tt.applied, tt.readsFail, false
			_, err := svc.Signup(ctx, protocol.SignupRequest{Username: "una", Password: goodPassword})
			check("signup", err)
			// The login's own session write, over an account that exists.
			u.applied, u.readsFail, u.settling = true, false, false
			if _, err := svc.Signup(ctx, protocol.SignupRequest{Username: "lou", Password: goodPassword}); err != nil {
				t.Fatal(err)
			}
			u.applied, u.readsFail, u.settling = tt.applied, tt.readsFail, false
			tok, err := svc.Login(ctx, protocol.LoginRequest{Username: "lou", Password: goodPassword})
			check("login", err)
			if tt.want == nil {
				if _, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: tok.Token}); err != nil {
					t.Fatalf("the settled login's token: %v", err)
				}
			}
		})
	}
}
