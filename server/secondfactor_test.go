package server_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
)

// totpCode is what an authenticator app shows for secret at t.
func totpCode(tb testing.TB, secret string, t time.Time) string {
	tb.Helper()
	code, err := totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		tb.Fatal(err)
	}
	return code
}

// wrongCode is a well-formed code that is none of the ones valid at t.
func wrongCode(tb testing.TB, secret string, t time.Time) string {
	tb.Helper()
	valid := []string{totpCode(tb, secret, t.Add(-30*time.Second)), totpCode(tb, secret, t), totpCode(tb, secret, t.Add(30*time.Second))}
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !slices.Contains(valid, c) {
			return c
		}
	}
	tb.Fatal("no wrong code")
	return ""
}

// mustSecondFactorRequired logs in and returns the challenge.
func mustSecondFactorRequired(tb testing.TB, c *client.Conn, username string) *client.SecondFactorRequired {
	tb.Helper()
	_, err := c.Login(ctxT(tb), username, goodPassword)
	var sf *client.SecondFactorRequired
	if !errors.As(err, &sf) || !errors.Is(err, client.ErrSecondFactorRequired) {
		tb.Fatalf("login with a factor on = %v, want SecondFactorRequired", err)
	}
	return sf
}

var recoveryCodeRE = regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)

// mustEnrol turns TOTP on for username and returns the secret and the
// recovery codes.
func mustEnrol(tb testing.TB, c *client.Conn, clock *servertest.Clock, username string) (string, []string) {
	tb.Helper()
	ctx := ctxT(tb)
	tok, err := c.Login(ctx, username, goodPassword)
	if err != nil {
		tb.Fatal(err)
	}
	en, err := c.TOTPBegin(ctx, tok.Token, goodPassword)
	if err != nil {
		tb.Fatal(err)
	}
	codes, err := c.TOTPConfirm(ctx, tok.Token, totpCode(tb, en.Secret, clock.Now()))
	if err != nil {
		tb.Fatal(err)
	}
	return en.Secret, codes
}

func TestSecondFactor(t *testing.T) {
	t.Parallel()
	for _, backend := range stores {
		t.Run(backend.name, func(t *testing.T) {
			parallel(t)
			st := backend.open(t)
			ts := mustServe(t, st, func(c *server.Config) {
				c.ServiceName = "Example Chat"
				c.LockAfter = 7
			})
			testSecondFactor(t, ts, st)
			testSecondFactorLock(t, ts, st)
		})
	}
}

func testSecondFactor(t *testing.T, ts *testServer, st store.Store) {
	ctx := ctxT(t)
	c := mustDial(t, ts)
	clock := ts.Clock
	if _, err := c.Signup(ctx, "alice", goodPassword, ""); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Login(ctx, "alice", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := c.Authenticate(ctx, tok.Token); err != nil || !slices.Equal(id.AMR, []string{"pwd"}) || id.AAL != 1 {
		t.Fatalf("authenticate a password login = %+v, %v; want amr [pwd], aal 1", id, err)
	}

	// Enrolment: the password first; nothing in force before confirm.
	if _, err := c.TOTPBegin(ctx, tok.Token, "not the password at all"); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Fatalf("TOTPBegin with a wrong password = %v, want ErrInvalidCredentials", err)
	}
	en, err := c.TOTPBegin(ctx, tok.Token, goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	key, err := otp.NewKeyFromURL(en.URI)
	if err != nil {
		t.Fatalf("otpauth URI %q: %v", en.URI, err)
	}
	if key.Issuer() != "Example Chat" || key.AccountName() != "alice" || key.Secret() != en.Secret ||
		key.Algorithm() != otp.AlgorithmSHA1 || key.Digits() != otp.DigitsSix || key.Period() != 30 || len(en.Secret) != 32 {
		t.Errorf("enrolment = %q (issuer %q, account %q, %v, %v digits, %d s), secret %d chars; want Example Chat, alice, SHA1, 6, 30 s, 160 bits",
			en.URI, key.Issuer(), key.AccountName(), key.Algorithm(), key.Digits(), key.Period(), len(en.Secret))
	}
	if _, err := c.Login(ctx, "alice", goodPassword); err != nil {
		t.Fatalf("login with an enrolment pending = %v, want a token", err)
	}
	if _, err := c.TOTPConfirm(ctx, tok.Token, wrongCode(t, en.Secret, clock.Now())); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Fatalf("TOTPConfirm with a wrong code = %v", err)
	}
	enrolStep := clock.Now()
	recovery, err := c.TOTPConfirm(ctx, tok.Token, totpCode(t, en.Secret, enrolStep))
	if err != nil {
		t.Fatal(err)
	}
	if len(recovery) != 10 || len(slices.Compact(slices.Sorted(slices.Values(recovery)))) != 10 {
		t.Fatalf("recovery codes = %d (%d distinct), want 10", len(recovery), len(slices.Compact(slices.Sorted(slices.Values(recovery)))))
	}
	for _, rc := range recovery {
		if !recoveryCodeRE.MatchString(rc) {
			t.Fatalf("recovery code %q is not four groups of four base32 characters", rc)
		}
	}
	if _, err := c.TOTPBegin(ctx, tok.Token, goodPassword); !errors.Is(err, client.ErrBadRequest) {
		t.Errorf("TOTPBegin with the factor on = %v, want ErrBadRequest", err)
	}

	// The code that confirmed the factor cannot log in.
	sf := mustSecondFactorRequired(t, c, "alice")
	if !slices.Equal(sf.Methods, []string{"totp", "recovery_code"}) || !sf.ExpiresAt.Equal(clock.Now().Add(5*time.Minute).Truncate(time.Microsecond)) {
		t.Errorf("challenge = %+v, want totp and recovery_code for 5 min", sf)
	}
	if _, err := c.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{Code: totpCode(t, en.Secret, enrolStep)}); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Fatalf("login with the enrolment's code = %v, want ErrInvalidCredentials", err)
	}

	// A code of the next step logs in once, with amr ["pwd", "otp"].
	clock.Advance(30 * time.Second)
	code := totpCode(t, en.Secret, clock.Now())
	two, err := c.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{Code: code})
	if err != nil {
		t.Fatalf("login with a fresh code: %v", err)
	}
	id, err := c.Authenticate(ctx, two.Token)
	if err != nil || !slices.Equal(id.AMR, []string{"pwd", "otp"}) || id.AAL != 2 {
		t.Fatalf("authenticate a two-factor login = %+v, %v; want amr [pwd otp], aal 2", id, err)
	}
	verifyAMR(t, ts, two.Token, []string{"pwd", "otp"}, 2)
	refreshed, err := c.Refresh(ctx, two.Token)
	if err != nil {
		t.Fatal(err)
	}
	verifyAMR(t, ts, refreshed.Token, []string{"pwd", "otp"}, 2)
	if _, err := c.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{Code: code}); !errors.Is(err, client.ErrChallengeExpired) {
		t.Errorf("a used challenge answered again = %v, want ErrChallengeExpired", err)
	}
	sf = mustSecondFactorRequired(t, c, "alice")
	if _, err := c.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{Code: code}); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Errorf("the same code again = %v, want ErrInvalidCredentials", err)
	}

	// Two steps later, the previous step's code is accepted, once.
	clock.Advance(60 * time.Second)
	prev := totpCode(t, en.Secret, clock.Now().Add(-30*time.Second))
	if _, err := c.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{Code: prev}); err != nil {
		t.Fatalf("a code from the previous step: %v", err)
	}
	sf = mustSecondFactorRequired(t, c, "alice")
	if _, err := c.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{Code: prev}); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Errorf("the previous step's code twice = %v, want ErrInvalidCredentials", err)
	}

	// A recovery code, in the forms the clients show, works once.
	for _, bad := range []string{strings.ReplaceAll(recovery[0], "-", "_"), recovery[0] + "-", " " + recovery[0], strings.ReplaceAll(recovery[0], "-", "")[:15]} {
		if _, err := c.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{RecoveryCode: bad}); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Errorf("recovery code %q = %v, want ErrInvalidCredentials", bad, err)
		}
	}
	clock.Advance(time.Hour) // the challenge is spent, the account throttled
	sf = mustSecondFactorRequired(t, c, "alice")
	spaced := strings.ToUpper(strings.ReplaceAll(recovery[0], "-", " "))
	byRecovery, err := c.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{RecoveryCode: spaced})
	if err != nil {
		t.Fatalf("recovery code %q: %v", spaced, err)
	}
	verifyAMR(t, ts, byRecovery.Token, []string{"pwd", "otp"}, 2)
	sf = mustSecondFactorRequired(t, c, "alice")
	if _, err := c.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{RecoveryCode: recovery[0]}); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Errorf("a recovery code twice = %v, want ErrInvalidCredentials", err)
	}

	// A challenge belongs to its connection, and dies after 5 minutes.
	other := mustDial(t, ts)
	clock.Advance(30 * time.Second)
	if _, err := other.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{Code: totpCode(t, en.Secret, clock.Now())}); !errors.Is(err, client.ErrChallengeExpired) {
		t.Errorf("a challenge answered on another connection = %v, want ErrChallengeExpired", err)
	}
	clock.Advance(5 * time.Minute)
	if _, err := c.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{Code: totpCode(t, en.Secret, clock.Now())}); !errors.Is(err, client.ErrChallengeExpired) {
		t.Errorf("a challenge answered after 5 minutes = %v, want ErrChallengeExpired", err)
	}
	if _, err := c.LoginSecondFactor(ctx, "not-a-challenge", client.SecondFactorAnswer{Code: "123456"}); !errors.Is(err, client.ErrChallengeExpired) {
		t.Errorf("an unknown challenge = %v, want ErrChallengeExpired", err)
	}

	// New recovery codes need the password and a code; the old ones stop.
	clock.Advance(30 * time.Second)
	if _, err := c.RegenerateRecoveryCodes(ctx, byRecovery.Token, goodPassword, wrongCode(t, en.Secret, clock.Now())); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Errorf("regenerate with a wrong code = %v, want ErrInvalidCredentials", err)
	}
	fresh, err := c.RegenerateRecoveryCodes(ctx, byRecovery.Token, goodPassword, recovery[1])
	if err != nil || len(fresh) != 10 {
		t.Fatalf("regenerate with a recovery code = %d codes, %v", len(fresh), err)
	}
	sf = mustSecondFactorRequired(t, c, "alice")
	if _, err := c.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{RecoveryCode: recovery[2]}); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Errorf("an old recovery code after regenerate = %v, want ErrInvalidCredentials", err)
	}

	// Turning it off needs the password and a code; neither alone does.
	clock.Advance(30 * time.Second)
	now := clock.Now()
	if err := c.TOTPDisable(ctx, byRecovery.Token, "not the password at all", totpCode(t, en.Secret, now)); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Errorf("disable with a wrong password = %v, want ErrInvalidCredentials", err)
	}
	if err := c.TOTPDisable(ctx, byRecovery.Token, goodPassword, wrongCode(t, en.Secret, now)); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Errorf("disable with a wrong code = %v, want ErrInvalidCredentials", err)
	}
	clock.Advance(30 * time.Second) // past the throttle the failures above started
	if err := c.TOTPDisable(ctx, byRecovery.Token, goodPassword, totpCode(t, en.Secret, clock.Now())); err != nil {
		t.Fatalf("disable: %v", err)
	}
	if tok, err := c.Login(ctx, "alice", goodPassword); err != nil || tok.Token == "" {
		t.Fatalf("login after disable = %v, want a token", err)
	}

	a, err := st.GetAccountByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	ev := servertest.Events(t, st, store.AuthEventFilter{AccountID: a.ID})
	for _, want := range []struct {
		typ, reason string
		n           int
	}{
		{store.EventSecondFactorEnabled, "", 1},
		{store.EventSecondFactorDisabled, store.ReasonSelf, 1},
		{store.EventRecoveryCodeUsed, "", 2},
		{store.EventRecoveryCodesRegenerated, "", 1},
		{store.EventLogin, "pwd+otp", 3},
		{store.EventLoginFailed, store.ReasonChallengeDead, 3},
	} {
		if got := servertest.CountEvents(ev, want.typ, want.reason); got != want.n {
			t.Errorf("%d %s/%s events, want %d", got, want.typ, want.reason, want.n)
		}
	}
	if got := servertest.CountEvents(ev, store.EventLoginFailed, store.ReasonWrongCode); got < 9 {
		t.Errorf("%d wrong_code failures audited, want at least 9", got)
	}
}

// testSecondFactorLock: 5 wrong codes kill a challenge, and wrong codes
// count toward the account's lock (LockAfter 7) like wrong passwords.
func testSecondFactorLock(t *testing.T, ts *testServer, st store.Store) {
	ctx := ctxT(t)
	c := mustDial(t, ts)
	clock := ts.Clock
	if _, err := c.Signup(ctx, "bob", goodPassword, ""); err != nil {
		t.Fatal(err)
	}
	secret, _ := mustEnrol(t, c, clock, "bob")
	clock.Advance(30 * time.Second)
	sf := mustSecondFactorRequired(t, c, "bob")
	for i := range 5 {
		if _, err := c.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{Code: wrongCode(t, secret, clock.Now())}); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Fatalf("wrong code %d = %v, want ErrInvalidCredentials", i+1, err)
		}
	}
	if _, err := c.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{Code: totpCode(t, secret, clock.Now())}); !errors.Is(err, client.ErrChallengeExpired) {
		t.Fatalf("the right code after 5 wrong ones = %v, want ErrChallengeExpired", err)
	}
	a, err := st.GetAccountByUsername(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if a.Failures.Count != 5 {
		t.Fatalf("failures after 5 wrong codes = %d, want 5", a.Failures.Count)
	}
	for i := range 2 {
		clock.Advance(time.Hour) // past the throttle's delay
		sf = mustSecondFactorRequired(t, c, "bob")
		if _, err := c.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{Code: wrongCode(t, secret, clock.Now())}); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Fatalf("wrong code %d = %v", 6+i, err)
		}
	}
	clock.Advance(time.Hour)
	if _, err := c.Login(ctx, "bob", goodPassword); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Fatalf("login after 7 wrong codes with LockAfter 7 = %v, want ErrInvalidCredentials (locked)", err)
	}
	ev := servertest.Events(t, st, store.AuthEventFilter{AccountID: a.ID})
	if servertest.CountEvents(ev, store.EventLocked, "") != 1 || servertest.CountEvents(ev, store.EventLoginFailed, store.ReasonLocked) != 1 {
		t.Errorf("events = %v, want one lock and one login refused as locked", ev)
	}
}

// verifyAMR checks a token with an independent JOSE library against the
// server's published JWKS, and its amr and aal claims.
func verifyAMR(t *testing.T, ts *testServer, raw string, amr []string, aal int) {
	t.Helper()
	resp, err := http.Get("http://" + ts.Addr + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.PS256, jose.RS256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in the JWKS", tok.Headers[0].KeyID)
	}
	var claims josejwt.Claims
	var extra struct {
		AMR []string `json:"amr"`
		AAL int      `json:"aal"`
	}
	if err := tok.Claims(keys[0].Key, &claims, &extra); err != nil {
		t.Fatalf("token does not verify against the JWKS: %v", err)
	}
	if !slices.Equal(extra.AMR, amr) || extra.AAL != aal {
		t.Errorf("token amr %v, aal %d; want %v, %d", extra.AMR, extra.AAL, amr, aal)
	}
}
