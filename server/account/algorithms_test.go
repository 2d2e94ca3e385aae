package account_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// tokenAlg returns the "alg" header of a JWT.
func tokenAlg(tb testing.TB, token string) string {
	tb.Helper()
	head, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		tb.Fatal(err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(head, &h); err != nil {
		tb.Fatal(err)
	}
	return h.Alg
}

// joseVerify checks token against svc's JWKS as published, with go-jose:
// an implementation that shares no code with the server's.
func joseVerify(tb testing.TB, svc *account.Service, token string) error {
	tb.Helper()
	published, err := json.Marshal(map[string]any{"keys": svc.JWKS()})
	if err != nil {
		tb.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(published, &set); err != nil {
		tb.Fatalf("go-jose refuses the JWKS %s: %v", published, err)
	}
	tok, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.PS256, jose.RS256, jose.EdDSA})
	if err != nil {
		return err
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		return fmt.Errorf("kid %s not in the JWKS", tok.Headers[0].KeyID)
	}
	if keys[0].Algorithm != tok.Headers[0].Algorithm {
		tb.Fatalf("the JWKS says key %s is %s, the token says %s", keys[0].KeyID, keys[0].Algorithm, tok.Headers[0].Algorithm)
	}
	var claims josejwt.Claims
	var extra struct {
		SID string `json:"sid"`
	}
	if err := tok.Claims(keys[0].Key, &claims, &extra); err != nil {
		return err
	}
	if claims.Subject == "" || extra.SID == "" {
		tb.Fatalf("token lacks sub or sid: %+v", claims)
	}
	return nil
}

// TestSigningAlgorithmChange: an instance restarted with another signing
// algorithm keeps signing with the current key; the next rotation writes
// a key of the new algorithm, which every instance publishes a lead
// before it signs and which every instance then signs with; during the
// overlap the JWKS holds both keys and tokens of both verify, here and
// with an independent JOSE library.
func TestSigningAlgorithmChange(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) { testSigningAlgorithmChange(t, st, "PS256", "ES256") })
	for _, c := range []struct{ from, to string }{{"ES256", "EdDSA"}, {"EdDSA", "RS256"}} {
		t.Run(c.from+"-"+c.to, func(t *testing.T) {
			t.Parallel()
			testSigningAlgorithmChange(t, sqltest.NewSQLite(t), c.from, c.to)
		})
	}
}

func testSigningAlgorithmChange(t *testing.T, st store.Store, from, to string) {
	clock := servertest.NewClock()
	master := servertest.MasterKey(t)
	cfgA := rotationConfig(st, master, clock)
	cfgA.SigningAlgorithm = from
	a := mustService(t, cfgA)
	mustSignup(t, a, "alice")
	old := mustLogin(t, a, "alice").Token
	if alg := tokenAlg(t, old); alg != from {
		t.Fatalf("first token signed with %s, want %s", alg, from)
	}
	oldKid := tokenKid(t, old)

	// Another instance (or this one, restarted) with the new setting.
	cfgB := cfgA
	cfgB.SigningAlgorithm = to
	b := mustService(t, cfgB)
	if n := len(mustListKeys(t, st)); n != 1 {
		t.Fatalf("%d keys after a start with another algorithm, want 1: the change waits for the rotation", n)
	}
	if tok := mustLogin(t, b, "alice").Token; tokenAlg(t, tok) != from || tokenKid(t, tok) != oldKid {
		t.Fatalf("before the rotation the new instance signs with %s (%s), want the current key %s (%s)",
			tokenKid(t, tok), tokenAlg(t, tok), oldKid, from)
	}

	next, won, err := b.RotateSigningKeys(ctxT(t), false)
	if err != nil || !won {
		t.Fatalf("rotate: won %v, %v", won, err)
	}
	if next.Algorithm != to {
		t.Fatalf("the rotation wrote a %s key, want %s", next.Algorithm, to)
	}
	waitFor(t, "the first instance to publish the next key", func() bool { return jwksKids(a)[next.ID] })
	for name, svc := range map[string]*account.Service{"first": a, "second": b} {
		if kid := tokenKid(t, mustLogin(t, svc, "alice").Token); kid != oldKid {
			t.Fatalf("the %s instance signs with %s during the lead, want the old key %s", name, kid, oldKid)
		}
	}

	clock.Advance(testLead)
	var fresh []string
	for name, svc := range map[string]*account.Service{"first": a, "second": b} {
		tok := mustLogin(t, svc, "alice").Token
		if kid, alg := tokenKid(t, tok), tokenAlg(t, tok); kid != next.ID || alg != to {
			t.Fatalf("the %s instance signs with %s (%s) after the lead, want %s (%s)", name, kid, alg, next.ID, to)
		}
		fresh = append(fresh, tok)
	}
	for name, svc := range map[string]*account.Service{"first": a, "second": b} {
		if kids := jwksKids(svc); len(kids) != 2 || !kids[oldKid] || !kids[next.ID] {
			t.Fatalf("the %s instance publishes %v during the overlap, want %s and %s", name, kids, oldKid, next.ID)
		}
		for _, tok := range append([]string{old}, fresh...) {
			if _, err := svc.Authenticate(ctxT(t), protocol.TokenRequest{Token: tok}); err != nil {
				t.Errorf("the %s instance refuses a %s token during the overlap: %v", name, tokenAlg(t, tok), err)
			}
			if err := joseVerify(t, svc, tok); err != nil {
				t.Errorf("go-jose refuses a %s token against the %s instance's JWKS: %v", tokenAlg(t, tok), name, err)
			}
		}
	}

	// Once the old key's tokens have expired it is unpublished.
	clock.Advance(testTokenLife + time.Minute + time.Second)
	if kids := jwksKids(a); kids[oldKid] || !kids[next.ID] {
		t.Fatalf("JWKS %v after the old key's tokens expired, want only %s", kids, next.ID)
	}
}

// TestDefaultSigningAlgorithm: a config that names no algorithm signs
// with ES256.
func TestDefaultSigningAlgorithm(t *testing.T) {
	t.Parallel()
	svc := mustService(t, testConfig(t, sqltest.NewSQLite(t), servertest.NewClock()))
	mustSignup(t, svc, "alice")
	tok := mustLogin(t, svc, "alice").Token
	if alg := tokenAlg(t, tok); alg != "ES256" {
		t.Fatalf("token signed with %s, want ES256", alg)
	}
	if err := joseVerify(t, svc, tok); err != nil {
		t.Fatal(err)
	}
}
