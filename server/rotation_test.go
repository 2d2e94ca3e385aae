package server_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// Rotation settings for tests: what production does in minutes, in
// seconds.
const (
	testRotateEvery = time.Hour
	testLead        = 2 * time.Second
	testMaxAge      = time.Second
	testTokenLife   = 10 * time.Minute
)

func rotationConfig(st store.Store, master []byte, clock *testClock) server.Config {
	return server.Config{
		Store: st, MasterKey: master, Identity: nil, Argon2: cheapArgon2, Now: clock.Now,
		KeyRotationInterval: testRotateEvery, KeyPublishLead: testLead, JWKSMaxAge: testMaxAge,
		TokenLifetime: testTokenLife,
	}
}

func mustService(tb testing.TB, cfg server.Config) *server.Service {
	tb.Helper()
	if cfg.Identity == nil {
		cfg.Identity = mustIdentity(tb)
	}
	svc, err := server.NewService(ctxT(tb), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(svc.Close)
	return svc
}

// tokenKid returns the "kid" header of a JWT.
func tokenKid(tb testing.TB, token string) string {
	tb.Helper()
	head, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		tb.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(head, &h); err != nil {
		tb.Fatal(err)
	}
	return h.Kid
}

func jwksKids(svc *server.Service) map[string]bool {
	out := map[string]bool{}
	for _, k := range svc.JWKS() {
		out[k.Kid] = true
	}
	return out
}

// waitFor polls cond every 50 ms for up to 20 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustLogin(tb testing.TB, svc *server.Service, username string) *protocol.TokenResult {
	tb.Helper()
	tok, err := svc.Login(ctxT(tb), protocol.LoginRequest{Username: username, Password: goodPassword})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func TestKeyRotation(t *testing.T) {
	for _, backend := range []struct {
		name string
		open func(testing.TB) store.Store
	}{
		{"sqlite", func(tb testing.TB) store.Store { return sqltest.NewSQLite(tb) }},
		{"mysql", func(tb testing.TB) store.Store { return sqltest.NewMySQL(tb) }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			testKeyRotation(t, backend.open(t))
		})
	}
}

func testKeyRotation(t *testing.T, st store.Store) {
	clock := &testClock{}
	svc := mustService(t, rotationConfig(st, newMasterKey(t), clock))
	ctx := ctxT(t)
	if _, err := svc.Signup(ctx, protocol.SignupRequest{Username: "alice", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	first := mustLogin(t, svc, "alice")
	k1 := tokenKid(t, first.Token)
	if kids := jwksKids(svc); len(kids) != 1 || !kids[k1] {
		t.Fatalf("JWKS %v, want only the first key %s", kids, k1)
	}

	// Not yet due: nothing happens.
	clock.Advance(testRotateEvery - time.Minute)
	time.Sleep(3 * testLead / 4)
	if kids := jwksKids(svc); len(kids) != 1 {
		t.Fatalf("rotated before the interval: JWKS %v", kids)
	}

	// Due: the next key is published, but the old one still signs.
	clock.Advance(time.Minute)
	waitFor(t, "the next key in the JWKS", func() bool { return len(jwksKids(svc)) == 2 })
	var k2 string
	for kid := range jwksKids(svc) {
		if kid != k1 {
			k2 = kid
		}
	}
	before := mustLogin(t, svc, "alice")
	if kid := tokenKid(t, before.Token); kid != k1 {
		t.Fatalf("a token issued during the lead is signed by %s, want the old key %s", kid, k1)
	}

	// After the lead the new key signs; the old one is still published
	// and its tokens still verify.
	clock.Advance(testLead)
	after := mustLogin(t, svc, "alice")
	if kid := tokenKid(t, after.Token); kid != k2 {
		t.Fatalf("a token issued after the lead is signed by %s, want the new key %s", kid, k2)
	}
	if kids := jwksKids(svc); !kids[k1] || !kids[k2] {
		t.Fatalf("JWKS %v after the switch, want both keys", kids)
	}
	if _, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: before.Token}); err != nil {
		t.Fatalf("a token of the old key after the switch: %v", err)
	}

	// Once every token of the old key has expired, it is unpublished.
	clock.Advance(testTokenLife + time.Minute + time.Second)
	if kids := jwksKids(svc); kids[k1] || !kids[k2] {
		t.Fatalf("JWKS %v after the old key's tokens expired, want only %s", kids, k2)
	}
	if _, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: mustLogin(t, svc, "alice").Token}); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentRotationOneKey: three instances on one database, all due
// to rotate at the same moment, write one key between them, and all of
// them publish it and then sign with it.
func TestConcurrentRotationOneKey(t *testing.T) {
	st := sqltest.NewMySQL(t)
	clock := &testClock{}
	master := newMasterKey(t)
	var svcs []*server.Service
	for range 3 {
		svcs = append(svcs, mustService(t, rotationConfig(st, master, clock)))
	}
	keys, err := st.ListSigningKeys(ctxT(t))
	if err != nil || len(keys) != 1 {
		t.Fatalf("after three starts: %d keys, %v; want 1", len(keys), err)
	}

	clock.Advance(testRotateEvery)
	for i, svc := range svcs {
		waitFor(t, "instance to publish the next key", func() bool { return len(jwksKids(svc)) >= 2 })
		t.Logf("instance %d publishes the next key", i)
	}
	// Let any instance that lost the race finish its attempt.
	time.Sleep(2 * time.Second)
	keys, err = st.ListSigningKeys(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("three instances rotating at once wrote %d keys, want 1 (2 in all)", len(keys))
	}
	next := keys[1].ID

	clock.Advance(testLead)
	ctx := ctxT(t)
	if _, err := svcs[0].Signup(ctx, protocol.SignupRequest{Username: "bob", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	for i, svc := range svcs {
		tok := mustLogin(t, svc, "bob")
		if kid := tokenKid(t, tok.Token); kid != next {
			t.Errorf("instance %d signs with %s after the lead, want %s", i, kid, next)
		}
		for j, other := range svcs {
			if _, err := other.Authenticate(ctx, protocol.TokenRequest{Token: tok.Token}); err != nil {
				t.Errorf("token of instance %d at instance %d: %v", i, j, err)
			}
		}
	}
}

// TestRotationConfigChecked: a lead shorter than the JWKS cache max-age
// would let a verifier see a token before the key that signed it.
func TestRotationConfigChecked(t *testing.T) {
	cfg := rotationConfig(sqltest.NewSQLite(t), newMasterKey(t), &testClock{})
	cfg.Identity = mustIdentity(t)
	cfg.KeyPublishLead = time.Minute
	cfg.JWKSMaxAge = 5 * time.Minute
	if _, err := server.NewService(ctxT(t), cfg); err == nil || !strings.Contains(err.Error(), "publish lead") {
		t.Fatalf("lead 1m with max-age 5m: %v", err)
	}
}
