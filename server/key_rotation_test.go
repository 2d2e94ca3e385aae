package server_test

import (
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestRotateSigningKey rotates beside a running service, as `accountd
// keys rotate` does: the new key waits for the publish lead (or signs at
// once), older keys retire when it starts and stay published while their
// tokens can live, and the service's tokens keep verifying.
func TestRotateSigningKey(t *testing.T) {
	st := sqltest.NewSQLite(t)
	clock := &testClock{}
	cfg := server.Config{Store: st, MasterKey: newMasterKey(t), Identity: mustIdentity(t), Argon2: cheapArgon2, Now: clock.Now}
	ctx := ctxT(t)
	svc, err := server.NewService(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	if _, err := svc.Signup(ctx, protocol.SignupRequest{Username: "alice", Password: "correct horse battery staple"}); err != nil {
		t.Fatal(err)
	}
	tok, err := svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: "correct horse battery staple"})
	if err != nil {
		t.Fatal(err)
	}

	k, won, err := server.RotateSigningKey(ctx, cfg, false)
	if err != nil || !won {
		t.Fatalf("RotateSigningKey = %v, %v", won, err)
	}
	const lead = 10 * time.Minute // server.Config's default KeyPublishLead
	if got := k.ActiveAt.Sub(k.CreatedAt); got != lead {
		t.Fatalf("the new key signs %v after its creation, want the publish lead %v", got, lead)
	}
	keys, err := st.ListSigningKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("%d keys, %v; want the first and the new one", len(keys), err)
	}
	old := keys[0]
	if !old.RetireAt.Equal(k.ActiveAt) || old.ExpiresAt.Sub(old.RetireAt) != time.Hour+time.Minute {
		t.Fatalf("old key retires %v, expires %v; want %v and a token lifetime plus a minute later", old.RetireAt, old.ExpiresAt, k.ActiveAt)
	}
	if _, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: tok.Token}); err != nil {
		t.Fatalf("a token of the old key after rotation: %v", err)
	}

	k2, won, err := server.RotateSigningKey(ctx, cfg, true)
	if err != nil || !won {
		t.Fatalf("immediate RotateSigningKey = %v, %v", won, err)
	}
	if !k2.ActiveAt.Equal(k2.CreatedAt) || k2.Generation != k.Generation+1 {
		t.Fatalf("immediate key: active %v created %v generation %d (previous %d)", k2.ActiveAt, k2.CreatedAt, k2.Generation, k.Generation)
	}

	bad := cfg
	bad.MasterKey = bad.MasterKey[:31]
	if _, _, err := server.RotateSigningKey(ctx, bad, false); err == nil {
		t.Fatal("a short master key was accepted")
	}
}
