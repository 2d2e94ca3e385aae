package account_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// Rotation settings for tests. The clock moves only when told, so the
// lead is short only to make the maintenance reload every 100 ms (a
// quarter of the lead, at least 100 ms).
const (
	testRotateEvery = time.Hour
	testLead        = 400 * time.Millisecond
	testMaxAge      = 200 * time.Millisecond
	testTokenLife   = 10 * time.Minute
)

func rotationConfig(st store.Store, master []byte, clock *servertest.Clock) account.Config {
	return account.Config{
		Store: st, MasterKey: master, Argon2: servertest.CheapArgon2, Now: clock.Now,
		KeyRotationInterval: testRotateEvery, KeyPublishLead: testLead, JWKSMaxAge: testMaxAge,
		TokenLifetime: testTokenLife,
	}
}

func jwksKids(svc *account.Service) map[string]bool {
	out := map[string]bool{}
	for _, k := range svc.JWKS() {
		out[k.Kid] = true
	}
	return out
}

// reloadWatch is a store that counts the signing-key reloads that have
// finished, so that a test can wait for the key maintenance's next passes
// rather than for a duration.
type reloadWatch struct {
	store.Store
	reloads atomic.Int64
}

func (w *reloadWatch) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	k, err := w.Store.ListSigningKeys(ctx)
	w.reloads.Add(1)
	return k, err
}

// fullPass waits until the key maintenance has made a whole pass that
// began after the call: of the reloads that finish from now on, the
// second began after this call, and two more finish after any rotation
// its pass decided (a rotation reloads before and after its write).
func (w *reloadWatch) fullPass(tb testing.TB) {
	tb.Helper()
	n := w.reloads.Load() + 4
	waitFor(tb, "a whole pass of the key maintenance", func() bool { return w.reloads.Load() >= n })
}

func mustListKeys(tb testing.TB, st store.Store) []store.SigningKey {
	tb.Helper()
	keys, err := st.ListSigningKeys(ctxT(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return keys
}

// TestKeyRotation lets the key maintenance rotate by age: the next key is
// published a lead before it signs, and the old one stays published until
// its last token has expired.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	eachStore(t, testKeyRotation)
}

func testKeyRotation(t *testing.T, st store.Store) {
	clock := servertest.NewClock()
	watch := &reloadWatch{Store: st}
	svc := mustService(t, rotationConfig(watch, servertest.MasterKey(t), clock))
	ctx := ctxT(t)
	mustSignup(t, svc, "alice")
	first := mustLogin(t, svc, "alice")
	k1 := tokenKid(t, first.Token)
	if kids := jwksKids(svc); len(kids) != 1 || !kids[k1] {
		t.Fatalf("JWKS %v, want only the first key %s", kids, k1)
	}

	// Not yet due: a whole pass of the maintenance writes nothing.
	clock.Advance(testRotateEvery - time.Minute)
	watch.fullPass(t)
	if kids, keys := jwksKids(svc), mustListKeys(t, st); len(kids) != 1 || len(keys) != 1 {
		t.Fatalf("rotated before the interval: JWKS %v, %d keys stored", kids, len(keys))
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
	if n := len(mustListKeys(t, st)); n != 2 {
		t.Fatalf("%d keys stored after one rotation, want 2", n)
	}
}

// TestConcurrentRotationOneKey: three instances on one database, all due
// to rotate at the same moment, write one key between them, and all of
// them publish it and then sign with it.
func TestConcurrentRotationOneKey(t *testing.T) {
	t.Parallel()
	st := sqltest.NewMySQL(t)
	clock := servertest.NewClock()
	master := servertest.MasterKey(t)
	var svcs []*account.Service
	for range 3 {
		svcs = append(svcs, mustService(t, rotationConfig(st, master, clock)))
	}
	if keys := mustListKeys(t, st); len(keys) != 1 {
		t.Fatalf("after three starts: %d keys; want 1", len(keys))
	}

	clock.Advance(testRotateEvery)
	// An instance publishes the next key only after its own attempt to
	// write one has ended (won, lost, or not needed after its reload):
	// once all three publish it, none can write another.
	for i, svc := range svcs {
		waitFor(t, "instance to publish the next key", func() bool { return len(jwksKids(svc)) >= 2 })
		t.Logf("instance %d publishes the next key", i)
	}
	keys := mustListKeys(t, st)
	if len(keys) != 2 {
		t.Fatalf("three instances rotating at once wrote %d keys, want 1 (2 in all)", len(keys)-1)
	}
	next := keys[1].ID

	clock.Advance(testLead)
	ctx := ctxT(t)
	mustSignup(t, svcs[0], "bob")
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
	t.Parallel()
	cfg := rotationConfig(sqltest.NewSQLite(t), servertest.MasterKey(t), servertest.NewClock())
	cfg.KeyPublishLead = time.Minute
	cfg.JWKSMaxAge = 5 * time.Minute
	svc, err := account.New(ctxT(t), cfg)
	if err == nil {
		svc.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "publish lead") {
		t.Fatalf("lead 1m with max-age 5m: %v", err)
	}
}

// TestRotateSigningKeys rotates as `accountd keys rotate` does: the new
// key waits for the publish lead (or signs at once), older keys retire
// when it starts and stay published while their tokens can live, a
// second rotation while one is under way writes nothing unless it is
// immediate, and the service's tokens keep verifying.
func TestRotateSigningKeys(t *testing.T) {
	t.Parallel()
	eachStore(t, testRotateSigningKeys)
}

func testRotateSigningKeys(t *testing.T, st store.Store) {
	clock := servertest.NewClock()
	svc := mustService(t, testConfig(t, st, clock))
	ctx := ctxT(t)
	mustSignup(t, svc, "alice")
	tok := mustLogin(t, svc, "alice")

	k, won, err := svc.RotateSigningKeys(ctx, false)
	if err != nil || !won {
		t.Fatalf("RotateSigningKeys = %v, %v", won, err)
	}
	const lead = 10 * time.Minute // account.Config's default KeyPublishLead
	if got := k.ActiveAt.Sub(k.CreatedAt); got != lead {
		t.Fatalf("the new key signs %v after its creation, want the publish lead %v", got, lead)
	}
	keys := mustListKeys(t, st)
	if len(keys) != 2 {
		t.Fatalf("%d keys; want the first and the new one", len(keys))
	}
	// The clock has not moved: both keys have one CreatedAt, so the
	// store's order does not tell them apart.
	old := keys[0]
	if old.ID == k.ID {
		old = keys[1]
	}
	if !old.RetireAt.Equal(k.ActiveAt) || old.ExpiresAt.Sub(old.RetireAt) != time.Hour+time.Minute {
		t.Fatalf("old key retires %v, expires %v; want %v and a token lifetime plus a minute later", old.RetireAt, old.ExpiresAt, k.ActiveAt)
	}
	if _, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: tok.Token}); err != nil {
		t.Fatalf("a token of the old key after rotation: %v", err)
	}

	// A rotation is under way: another one writes nothing and returns
	// the key that is waiting.
	pending, won, err := svc.RotateSigningKeys(ctx, false)
	if err != nil || won || pending.ID != k.ID {
		t.Fatalf("second RotateSigningKeys during the lead = %s, won %v, %v; want %s, not won", pending.ID, won, err, k.ID)
	}
	if n := len(mustListKeys(t, st)); n != 2 {
		t.Fatalf("a second rotation during the lead wrote a key: %d keys", n)
	}

	// An immediate one writes, and signs at once.
	k2, won, err := svc.RotateSigningKeys(ctx, true)
	if err != nil || !won {
		t.Fatalf("immediate RotateSigningKeys = %v, %v", won, err)
	}
	if !k2.ActiveAt.Equal(k2.CreatedAt) || k2.Generation != k.Generation+1 {
		t.Fatalf("immediate key: active %v created %v generation %d (previous %d)", k2.ActiveAt, k2.CreatedAt, k2.Generation, k.Generation)
	}
	if n := len(mustListKeys(t, st)); n != 3 {
		t.Fatalf("%d keys after an immediate rotation, want 3", n)
	}
	if kid := tokenKid(t, mustLogin(t, svc, "alice").Token); kid != k2.ID {
		t.Fatalf("after an immediate rotation tokens are signed by %s, want %s", kid, k2.ID)
	}
	if _, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: tok.Token}); err != nil {
		t.Fatalf("a token of the first key after two rotations: %v", err)
	}

	// Each key written is an audit event naming it; the one not written
	// is not.
	var rotated []string
	for _, e := range listEvents(t, st, store.AuthEventFilter{}) {
		if e.Type == store.EventKeyRotated {
			rotated = append(rotated, e.Reason)
			if e.IP != testIP {
				t.Errorf("key_rotated event %+v: want IP %s", e, testIP)
			}
		}
	}
	if len(rotated) != 2 || rotated[0] != k.ID || rotated[1] != k2.ID {
		t.Fatalf("key_rotated events name %v, want [%s %s]", rotated, k.ID, k2.ID)
	}
}

// TestSigningKeys follows each key's state through rotations, and checks
// that the key SigningKeys reports as signing is the one whose kid the
// Service's tokens carry.
func TestSigningKeys(t *testing.T) {
	t.Parallel()
	eachStore(t, testSigningKeys)
}

func testSigningKeys(t *testing.T, st store.Store) {
	clock := servertest.NewClock()
	svc := mustService(t, testConfig(t, st, clock))
	ctx := ctxT(t)
	mustSignup(t, svc, "alice")
	const (
		signing    = "signing"
		pending    = "published, not signing yet"
		verifying  = "verifies only"
		superseded = "superseded, never signs"
		expired    = "expired"
	)
	// check compares every key's state and that tokens are signed, and
	// verified, by the key in state "signing".
	check := func(step string, want map[string]string) {
		t.Helper()
		keys, err := svc.SigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		signer := ""
		for _, k := range keys {
			got[k.Key.ID] = k.State
			if k.State == signing {
				signer = k.Key.ID
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d keys %v, want %d", step, len(got), got, len(want))
		}
		for id, s := range want {
			if got[id] != s {
				t.Errorf("%s: key %s is %q, want %q", step, id, got[id], s)
			}
		}
		tok := mustLogin(t, svc, "alice")
		if kid := tokenKid(t, tok.Token); kid != signer {
			t.Fatalf("%s: tokens carry kid %s, SigningKeys says %s signs", step, kid, signer)
		}
		if _, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: tok.Token}); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	rotate := func(immediate bool) string {
		t.Helper()
		k, won, err := svc.RotateSigningKeys(ctx, immediate)
		if err != nil || !won {
			t.Fatalf("RotateSigningKeys(immediate %v) = %v, %v", immediate, won, err)
		}
		return k.ID
	}

	keys := mustListKeys(t, st)
	if len(keys) != 1 {
		t.Fatalf("%d keys at start, want 1", len(keys))
	}
	k1 := keys[0].ID
	check("at start", map[string]string{k1: signing})
	k2 := rotate(false)
	check("after a rotation", map[string]string{k1: signing, k2: pending})
	clock.Advance(10 * time.Minute) // the default publish lead
	check("after the lead", map[string]string{k1: verifying, k2: signing})
	k3 := rotate(false)
	k4 := rotate(true)
	check("after an immediate rotation during a lead", map[string]string{k1: verifying, k2: verifying, k3: superseded, k4: signing})
	// Past the token lifetime plus leeway after every retirement.
	clock.Advance(2 * time.Hour)
	check("two hours later", map[string]string{k1: expired, k2: expired, k3: expired, k4: signing})
}
