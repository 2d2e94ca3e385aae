package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// VerifierOptions configure NewVerifier.
type VerifierOptions struct {
	// JWKSURL is where the server publishes its keys; JWKSAddress derives
	// it from the server's address. Required. Use https across a network
	// you do not trust: the key set is not protected by the server's
	// identity key the way protocol calls are (Authenticator is).
	JWKSURL string
	// HTTPClient fetches the key set. Default http.DefaultClient.
	HTTPClient *http.Client
	// Issuer is the "iss" a token must carry. Default "accountd", the
	// server's default.
	Issuer string
	// Audience, when set, must be in the token's "aud" (set it when the
	// server's audience setting is set).
	Audience string
	// Leeway is how far "exp" and "nbf" may be off for clocks that
	// disagree. Default 0: the server already sets "nbf" a minute early.
	Leeway time.Duration
	// RefreshInterval is how often the key set is fetched again in the
	// background. Default 5 minutes. A token signed by a key the
	// Verifier has not seen fetches it at once, at most once per
	// UnknownKeyInterval.
	RefreshInterval time.Duration
	// UnknownKeyInterval bounds the fetches that tokens naming unknown
	// keys cause, so that forged tokens cannot make the Verifier hammer
	// the server. Default 10 s.
	UnknownKeyInterval time.Duration
	// Authenticator, when set, is asked after a good signature whether
	// the token's session is still live (logout and revocation take
	// effect at once, on every instance); without it a revoked token
	// stays valid here until it expires. Usually a *Client.
	Authenticator Authenticator
	// RevocationCacheTTL is how long an Authenticator's answer about a
	// token is reused. Default 5 s; the Verifier then learns of a
	// logout at most this late. Negative: never reused.
	RevocationCacheTTL time.Duration
	// Revocations, when set, is the server's revocation feed: a token
	// whose session it names as revoked is refused, without asking the
	// server (a logout reaches the feed within about 50 ms, from any
	// instance). While the feed has not heard from the server for its
	// LostAfter, tokens are refused with ErrVerifierUnavailable (fail
	// closed), unless FailOpen is set. It is checked before the
	// Authenticator, when both are set.
	Revocations *RevocationFeed
	// FailOpen accepts tokens on their signature and claims alone while
	// the revocation feed is lost, instead of refusing them.
	FailOpen bool
	// Now is the clock "exp" and "nbf" are checked against. Default
	// time.Now.
	Now func() time.Time
}

// Authenticator checks a token with the server; *Client and *Conn are
// Authenticators.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*Identity, error)
}

// Claims is what a verified token says.
type Claims struct {
	// Subject is the account id ("sub").
	Subject string
	// SessionID is the session the token belongs to ("sid").
	SessionID string
	// ID is the token's own id ("jti").
	ID        string
	Issuer    string
	Audience  []string
	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
	// KeyID names the key that signed the token ("kid").
	KeyID string
	// AMR says how the session's login was authenticated ("amr", RFC
	// 8176): ["pwd"], or ["pwd", "otp"] with a second factor. AAL is the
	// assurance level that makes ("aal"): 1, or 2 with a second factor.
	// A token without them (from a server before the second factor)
	// reads as ["pwd"], 1.
	AMR []string
	AAL int
	// Account is the account behind the token, as the server's
	// authenticate returned it: set only when the Verifier has an
	// Authenticator.
	Account *Account
}

// Algorithms are the JWS algorithms a Verifier accepts (SPEC.md §8):
// the server signs with ES256 by default, or PS256, RS256 or EdDSA by
// configuration, and publishes the keys of two algorithms while it
// changes from one to the other.
var Algorithms = []string{"ES256", "PS256", "RS256", "EdDSA"}

// ErrVerifierUnavailable wraps a failure to decide about a token that is
// not the token's fault: the key set or the Authenticator could not be
// reached. Middleware answers it with 503, not 401.
var ErrVerifierUnavailable = errors.New("client: token cannot be checked now")

// Verifier checks accountd tokens locally: signature against the
// server's key set (cached, refreshed in the background and when a token
// names a key it has not seen), algorithm, issuer, audience, expiry and
// not-before; with a RevocationFeed, that the session is not revoked;
// and, with an Authenticator, that the server still calls the session
// live. A token seen before skips the signature check (see
// verifiedTokens for why that is safe); its time claims are checked
// again, and so is its session. Safe for concurrent use; Close stops its
// background refresh.
type Verifier struct {
	opts   VerifierOptions
	keys   keyfunc.Keyfunc
	parser *jwt.Parser
	cancel context.CancelFunc
	seen   *verifiedTokens

	mu      sync.Mutex
	revoked map[[32]byte]revocationEntry
}

type revocationEntry struct {
	account *Account
	err     error // nil, or ErrInvalidToken
	until   time.Time
}

// maxRevocationEntries bounds the revocation cache: a backend's live
// tokens over a few seconds, not an attacker's stream of junk tokens.
const maxRevocationEntries = 1 << 16

// JWKSAddress turns a server address, as Dial takes it, into the URL of
// its key set: ws:// becomes http://, wss:// https://.
func JWKSAddress(server string) (string, error) {
	wsURL, _, err := ServerAddress(server)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(wsURL)
	if err != nil {
		return "", err
	}
	u.Scheme = map[string]string{"ws": "http", "wss": "https"}[u.Scheme]
	u.Path = "/.well-known/jwks.json"
	return u.String(), nil
}

// NewVerifier returns a Verifier and fetches the key set once. A server
// that cannot be reached now is no error: its keys are fetched on the
// first token and then in the background.
func NewVerifier(opts VerifierOptions) (*Verifier, error) {
	if opts.JWKSURL == "" {
		return nil, errors.New("client: verifier: JWKSURL is required")
	}
	if u, err := url.Parse(opts.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: verifier: JWKSURL %q is not an http(s) URL", opts.JWKSURL)
	}
	if opts.Issuer == "" {
		opts.Issuer = "accountd"
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = 5 * time.Minute
	}
	if opts.UnknownKeyInterval <= 0 {
		opts.UnknownKeyInterval = 10 * time.Second
	}
	if opts.RevocationCacheTTL == 0 {
		opts.RevocationCacheTTL = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	keys, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{opts.JWKSURL}, keyfunc.Override{
		Client:            opts.HTTPClient,
		HTTPTimeout:       10 * time.Second,
		RefreshInterval:   opts.RefreshInterval,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(opts.UnknownKeyInterval), 1),
		// A token must not wait long for a fetch it is not allowed yet.
		RateLimitWaitMax: time.Second,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				slog.Default().WarnContext(ctx, "client: fetch JWKS", "url", u, "err", err)
			}
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("client: verifier: %w", err)
	}
	opts2 := []jwt.ParserOption{
		jwt.WithValidMethods(Algorithms),
		jwt.WithIssuer(opts.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithTimeFunc(opts.Now),
	}
	if opts.Audience != "" {
		opts2 = append(opts2, jwt.WithAudience(opts.Audience))
	}
	return &Verifier{
		opts:    opts,
		keys:    keys,
		parser:  jwt.NewParser(opts2...),
		cancel:  cancel,
		seen:    newVerifiedTokens(),
		revoked: make(map[[32]byte]revocationEntry),
	}, nil
}

// Close stops the background refresh of the key set.
func (v *Verifier) Close() { v.cancel() }

// tokenClaims are the claims the server sets (SPEC.md §8).
type tokenClaims struct {
	jwt.RegisteredClaims
	SessionID string   `json:"sid"`
	AMR       []string `json:"amr"`
	AAL       int      `json:"aal"`
}

// Verify checks a token and returns its claims. A token that is not
// valid (bad signature, unknown key, wrong algorithm, issuer or
// audience, expired, not yet valid, or revoked) is ErrInvalidToken, with
// the reason in the message; a check that could not be made is
// ErrVerifierUnavailable.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if len(token) > maxTokenBytes {
		return nil, fmt.Errorf("%w: over %d bytes", ErrInvalidToken, maxTokenBytes)
	}
	key, now := verifiedKey(token), v.opts.Now()
	c, ok := v.seen.get(key, now, v.opts.Leeway)
	if !ok {
		var err error
		if c, err = v.verifySignature(ctx, token); err != nil {
			return nil, err
		}
		v.seen.put(key, c, now, now.Add(v.opts.RefreshInterval))
	}
	if f := v.opts.Revocations; f != nil {
		if !f.Current() && !v.opts.FailOpen {
			return nil, fmt.Errorf("%w: the revocation feed is lost", ErrVerifierUnavailable)
		}
		if f.Revoked(c.SessionID) {
			return nil, fmt.Errorf("%w: its session was revoked", ErrInvalidToken)
		}
	}
	if v.opts.Authenticator != nil {
		var err error
		if c.Account, err = v.authenticate(ctx, token); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// verifySignature checks token's signature, algorithm and claims.
func (v *Verifier) verifySignature(ctx context.Context, token string) (*Claims, error) {
	var tc tokenClaims
	parsed, err := v.parser.ParseWithClaims(token, &tc, v.keys.KeyfuncCtx(ctx))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if tc.Subject == "" || tc.SessionID == "" {
		return nil, fmt.Errorf("%w: no sub or sid claim", ErrInvalidToken)
	}
	c := &Claims{
		Subject:   tc.Subject,
		SessionID: tc.SessionID,
		ID:        tc.ID,
		Issuer:    tc.Issuer,
		Audience:  tc.Audience,
		ExpiresAt: tc.ExpiresAt.Time,
		AMR:       tc.AMR,
		AAL:       tc.AAL,
	}
	if len(c.AMR) == 0 || c.AAL == 0 {
		c.AMR, c.AAL = []string{"pwd"}, 1
	}
	if tc.IssuedAt != nil {
		c.IssuedAt = tc.IssuedAt.Time
	}
	if tc.NotBefore != nil {
		c.NotBefore = tc.NotBefore.Time
	}
	c.KeyID, _ = parsed.Header["kid"].(string)
	return c, nil
}

// maxTokenBytes is SPEC.md §8's bound on a token.
const maxTokenBytes = 8192

// authenticate asks the Authenticator, or reuses its recent answer.
func (v *Verifier) authenticate(ctx context.Context, token string) (*Account, error) {
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	v.mu.Lock()
	e, ok := v.revoked[key]
	v.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.account, e.err
	}
	id, err := v.opts.Authenticator.Authenticate(ctx, token)
	switch {
	case errors.Is(err, ErrInvalidToken):
		err = fmt.Errorf("%w: the server refused it: %s", ErrInvalidToken, err)
		e = revocationEntry{err: err}
	case err != nil:
		return nil, fmt.Errorf("%w: authenticate: %w", ErrVerifierUnavailable, err)
	default:
		e = revocationEntry{account: &id.Account}
	}
	if v.opts.RevocationCacheTTL > 0 {
		e.until = now.Add(v.opts.RevocationCacheTTL)
		v.mu.Lock()
		if len(v.revoked) >= maxRevocationEntries {
			for k, old := range v.revoked {
				if !now.Before(old.until) {
					delete(v.revoked, k)
				}
			}
			if len(v.revoked) >= maxRevocationEntries {
				clear(v.revoked)
			}
		}
		v.revoked[key] = e
		v.mu.Unlock()
	}
	return e.account, e.err
}
