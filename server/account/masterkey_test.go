package account_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/internal/keyring"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
)

// loginTOTP logs username in with goodPassword and a code at the clock's
// time.
func loginTOTP(tb testing.TB, svc *account.Service, clock *servertest.Clock, username, secret string) error {
	tb.Helper()
	ctx := account.WithConnection(ctxT(tb), new(account.Connection))
	res, err := svc.Login(ctx, protocol.LoginRequest{Username: username, Password: goodPassword})
	if err != nil {
		return err
	}
	if res.SecondFactorRequired == nil {
		tb.Fatalf("login %s did not ask for the second factor", username)
	}
	_, err = svc.LoginSecondFactor(ctx, protocol.LoginSecondFactorRequest{Challenge: res.SecondFactorRequired.Challenge, Code: totpCode(tb, secret, clock.Now())})
	return err
}

// TestResealMasterKey rotates the master key as the command does: the
// service runs with the new key and the previous one before any row is
// resealed (a rotation stopped right after the config was written), then
// reseals, then runs with the new key alone. Tokens signed before still
// verify, TOTP factors still open, and a signing key row that no master
// key authenticates is not laundered by the reseal.
func TestResealMasterKey(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := ctxT(t)
		clock := servertest.NewClock()
		before := testConfig(t, st, clock)
		old := mustService(t, before)
		mustSignup(t, old, "alice")
		mustSignup(t, old, "bob")
		mustSignup(t, old, "carol")
		aliceSecret := mustEnrol(t, old, clock, "alice")
		bobSecret := mustEnrol(t, old, clock, "bob")
		tok := mustLogin(t, old, "carol")
		forged := forgedKey(t, clock.Now())
		if err := st.CreateSigningKey(ctx, forged); err != nil {
			t.Fatal(err)
		}
		kids := jwksKids(old)
		old.Close()

		during := before
		during.MasterKey, during.PreviousMasterKey = servertest.MasterKey(t), before.MasterKey
		mid := mustService(t, during)
		clock.Advance(30 * time.Second)
		if _, err := mid.Authenticate(ctx, protocol.TokenRequest{Token: tok.Token}); err != nil {
			t.Fatalf("before any reseal, a token signed under the previous key: %v", err)
		}
		if err := loginTOTP(t, mid, clock, "alice", aliceSecret); err != nil {
			t.Fatalf("before any reseal, TOTP login: %v", err)
		}
		n, err := mid.ResealMasterKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n.SigningKeys.Resealed != len(kids) || n.SigningKeys.Refused != 1 || n.SecretsResealed != 2 || n.SecretsUnreadable != 0 {
			t.Fatalf("reseal = %+v; want %d signing keys resealed, the forged one refused, 2 secrets resealed", n, len(kids))
		}
		if n, err := mid.ResealMasterKey(ctx); err != nil || n.Moved() != 0 || n.SigningKeys.Current != len(kids) || n.SecretsCurrent != 2 {
			t.Fatalf("second reseal = %+v, %v; want nothing moved, %d keys and 2 secrets current", n, err, len(kids))
		}
		mid.Close()

		after := during
		after.PreviousMasterKey = nil
		svc := mustService(t, after)
		clock.Advance(30 * time.Second)
		if got := jwksKids(svc); len(got) != len(kids) || got[forged.ID] {
			t.Fatalf("JWKS after the rotation = %v, want the keys from before %v", got, kids)
		}
		if _, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: tok.Token}); err != nil {
			t.Fatalf("after the rotation, a token signed before it: %v", err)
		}
		if err := loginTOTP(t, svc, clock, "bob", bobSecret); err != nil {
			t.Fatalf("after the rotation, TOTP login: %v", err)
		}
		a, err := st.GetAccountByUsername(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		f, err := st.GetSecondFactor(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keyring.Open(before.MasterKey, "totp secret "+a.ID, f.SealedSecret); err == nil {
			t.Error("a TOTP secret still opens under the previous master key")
		}
		keys, err := st.ListSigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.ID == forged.ID && !bytes.Equal(k.MAC, forged.MAC) {
				t.Error("the forged signing key was given a new MAC")
			}
		}
	})
}

// forgedKey is a signing key row written with database access alone: a
// real key pair, a junk sealed private half and a MAC under no master
// key.
func forgedKey(t *testing.T, now time.Time) store.SigningKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 64)
	rand.Read(junk)
	return store.SigningKey{
		ID: "forged", Algorithm: "PS256", PublicKey: spki, SealedPrivateKey: junk, MAC: junk[:32],
		CreatedAt: now.UTC().Truncate(time.Microsecond), ActiveAt: now.UTC().Truncate(time.Microsecond),
	}
}

// reenrolDuringReseal is a store on which, just before the first reseal
// of a TOTP secret lands, the account's owner begins a new enrolment
// (sealed under the new master key by a server already started with it).
type reenrolDuringReseal struct {
	store.Store
	once    bool
	reenrol func()
}

func (s *reenrolDuringReseal) ResealSecondFactor(ctx context.Context, accountID string, old, sealed []byte) error {
	if !s.once {
		s.once = true
		s.reenrol()
	}
	return s.Store.ResealSecondFactor(ctx, accountID, old, sealed)
}

// TestResealConcurrentEnrolment: a secret that changes between the
// reseal's read and its write is not overwritten with the stale one: the
// reseal reads it again and finds it under the new key already.
func TestResealConcurrentEnrolment(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := ctxT(t)
		clock := servertest.NewClock()
		before := testConfig(t, st, clock)
		old := mustService(t, before)
		mustSignup(t, old, "alice")
		tok := mustLogin(t, old, "alice")
		if _, err := old.TOTPBegin(ctx, protocol.TOTPBeginRequest{Token: tok.Token, Password: goodPassword}); err != nil {
			t.Fatal(err)
		}
		old.Close()

		during := before
		during.MasterKey, during.PreviousMasterKey = servertest.MasterKey(t), before.MasterKey
		other := mustService(t, during)
		var secret string
		wrapped := &reenrolDuringReseal{Store: st, reenrol: func() {
			en, err := other.TOTPBegin(ctx, protocol.TOTPBeginRequest{Token: tok.Token, Password: goodPassword})
			if err != nil {
				t.Errorf("enrolment during the reseal: %v", err)
				return
			}
			secret = en.Secret
		}}
		during.Store = wrapped
		mid := mustService(t, during)
		n, err := mid.ResealMasterKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n.SecretsResealed != 0 || n.SecretsCurrent != 1 {
			t.Fatalf("reseal = %+v; want the secret re-read and found current", n)
		}
		after := during
		after.Store, after.PreviousMasterKey = st, nil
		svc := mustService(t, after)
		if _, err := svc.TOTPConfirm(ctx, protocol.TOTPConfirmRequest{Token: tok.Token, Code: totpCode(t, secret, clock.Now())}); err != nil {
			t.Fatalf("confirming the enrolment begun during the reseal: %v", err)
		}
	})
}
