package server

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
)

// Service holds accountd's account rules: passwords, sessions and tokens.
// It knows nothing about transports, so tests can call it without a
// socket. Safe for concurrent use.
type Service struct {
	cfg   Config
	store store.Store
	keys  *keyRing
	gate  *hashGate
	// limiter is the per-IP request rate limit.
	limiter *ipLimiter
	// attempts holds the accounts with a login in progress here.
	attempts inFlight
	log      *slog.Logger
	now      func() time.Time
	dummy    string // a hash to verify against when the username is unknown
	// verified caches signature checks of tokens seen before.
	verified *verifiedCache
	parser   *jwt.Parser

	metrics *Metrics
	stop    context.CancelFunc // ends the key maintenance
	stopped chan struct{}
}

var usernameRE = regexp.MustCompile(`^[a-z0-9._-]{3,32}$`)

// NewService loads (or creates) the signing keys and returns the rules.
func NewService(ctx context.Context, cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	metrics := newMetrics()
	st := guardStore(cfg.Store, cfg.StoreTimeout, metrics)
	s := &Service{
		cfg:     cfg,
		store:   st,
		gate:    newHashGate(cfg.HashConcurrency, cfg.HashWait),
		limiter: newIPLimiter(cfg.RateLimit, cfg.RateBurst, cfg.RateLimitIPs),
		log:     cfg.Logger,
		now:     cfg.Now,
		metrics: metrics,
		// 16384 entries of about 300 bytes: at most ~5 MB.
		verified: newVerifiedCache(16384),
	}
	s.gate.metrics = s.metrics
	s.keys = &keyRing{store: st, masterKey: cfg.MasterKey, algorithm: cfg.SigningAlgorithm, now: cfg.Now,
		rotation: cfg.rotationPolicy(), metrics: s.metrics}
	if err := s.keys.load(ctx); err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	s.metrics.registerKeyRing(s.keys)
	if p, ok := cfg.Store.(interface{ Stats() sql.DBStats }); ok {
		s.metrics.registerDBStats(p.Stats)
	}
	var err error
	if s.dummy, err = dummyHash(cfg.Argon2); err != nil {
		return nil, err
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"PS256", "RS256"}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(cfg.Now),
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	s.parser = jwt.NewParser(opts...)
	mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.stopped = stop, make(chan struct{})
	go func() {
		defer close(s.stopped)
		s.keys.maintain(mctx, s.log)
	}()
	return s, nil
}

// Close stops the Service's background work (signing-key reloads and
// rotation). It does not close the store.
func (s *Service) Close() {
	s.stop()
	<-s.stopped
}

// Metrics returns the Service's metrics, for counters kept elsewhere in
// the server (rate limits, lockouts).
func (s *Service) Metrics() *Metrics { return s.metrics }

// Ready reports why the Service cannot serve, or nil: the database must
// answer and a signing key must be loaded.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if s.keys.signer(s.now()) == nil {
		return errors.New("no signing key loaded")
	}
	return nil
}

func randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func publicAccount(a store.Account) protocol.Account {
	return protocol.Account{ID: a.ID, Username: a.Username, Email: a.Email, CreatedAt: a.CreatedAt}
}

// normalizeUsername lowercases and checks a username.
func normalizeUsername(u string) (string, error) {
	u = strings.ToLower(u)
	if !usernameRE.MatchString(u) {
		return "", newError(codeBadRequest, "username must be 3 to 32 characters of a-z, 0-9, '.', '_' and '-'")
	}
	return u, nil
}

// normalizeEmail checks a plain address (no display name) and lowercases it.
func normalizeEmail(e string) (string, error) {
	if e == "" {
		return "", nil
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || len(e) > 254 || !strings.Contains(e[strings.LastIndexByte(e, '@'):], ".") {
		return "", newError(codeBadRequest, "email is not a valid address")
	}
	return strings.ToLower(e), nil
}

// Signup creates an account. Without a password it generates one and
// returns it once in the result.
func (s *Service) Signup(ctx context.Context, req protocol.SignupRequest) (*protocol.SignupResult, error) {
	username, err := normalizeUsername(req.Username)
	if err != nil {
		return nil, err
	}
	email, err := normalizeEmail(req.Email)
	if err != nil {
		return nil, err
	}
	password, generated := req.Password, ""
	if password == "" {
		if generated, err = GeneratePassword(); err != nil {
			return nil, err
		}
		password = generated
	} else if err := checkPassword(password, username, s.cfg.MinPasswordLength); err != nil {
		return nil, err
	}
	var hash string
	if err := s.gate.do(ctx, func() { hash, err = HashPassword(password, s.cfg.Argon2) }); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	id, err := randomID()
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	a := store.Account{ID: id, Username: username, Email: email, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateAccount(ctx, a); err != nil {
		var ce *store.ConflictError
		if errors.As(err, &ce) {
			switch ce.Field {
			case "username":
				return nil, newError(codeUsernameTaken, "that username is taken")
			case "email":
				return nil, newError(codeEmailTaken, "that email is already registered")
			}
		}
		return nil, fmt.Errorf("create account: %w", err)
	}
	s.audit(ctx, store.AuthEvent{Type: store.EventSignup, AccountID: a.ID})
	return &protocol.SignupResult{Account: publicAccount(a), GeneratedPassword: generated}, nil
}

// Login checks a username and password and opens a session. An unknown
// username, a wrong password, a disabled account and a throttled or
// locked account all do the same work (one Argon2 verification and one
// database write) and give the same error; the audit log records which it
// was.
//
// Failed logins are counted per account in the store, so the count holds
// across server instances: past ThrottleAfter failures each attempt must
// wait a growing delay, and at LockAfter the account is locked until an
// administrator unlocks it (UnlockAccount).
func (s *Service) Login(ctx context.Context, req protocol.LoginRequest) (*protocol.TokenResult, error) {
	if req.Password == "" || len(req.Password) > 4*MaxPasswordLength {
		s.audit(ctx, store.AuthEvent{Type: store.EventLoginFailed, Reason: store.ReasonWrongPassword})
		return nil, errInvalidCredentials
	}
	a, err := s.store.GetAccountByUsername(ctx, strings.ToLower(req.Username))
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("get account: %w", err)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	hash, refused := s.dummy, store.ReasonUnknownUser
	if found {
		var release func()
		refused, release = s.admit(a, now)
		defer release()
		if refused == "" {
			// An attempt that finished between the read above and the
			// admission has moved the counter: read it again, now that
			// this is the account's only attempt on this instance.
			fresh, err := s.store.GetAccount(ctx, a.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("get account: %w", err)
			}
			if err == nil {
				a = fresh
				refused = s.refusal(a, now)
			} else {
				refused = store.ReasonUnknownUser
			}
		}
		if refused == "" {
			hash = a.PasswordHash
		}
	}
	var ok, rehash bool
	var verr error
	if err := s.gate.do(ctx, func() { ok, rehash, verr = VerifyPassword(req.Password, hash, s.cfg.Argon2) }); err != nil {
		return nil, err
	}
	if refused != "" {
		// Unknown, locked, throttled or disabled: the password was not
		// checked and the account's counter does not move.
		s.audit(ctx, store.AuthEvent{Type: store.EventLoginFailed, Reason: refused, AccountID: a.ID})
		return nil, errInvalidCredentials
	}
	if verr != nil || !ok {
		reason := store.ReasonWrongPassword
		if verr != nil {
			s.log.Error("stored password hash unreadable", "account", a.ID, "err", verr)
			reason = store.ReasonBadHash
		}
		f, err := s.store.RecordLoginFailure(ctx, s.stamp(ctx, store.AuthEvent{Type: store.EventLoginFailed, Reason: reason, AccountID: a.ID}))
		if err != nil {
			return nil, fmt.Errorf("record login failure: %w", err)
		}
		if f.Count == s.cfg.LockAfter {
			s.audit(ctx, store.AuthEvent{Type: store.EventLocked, AccountID: a.ID})
		}
		return nil, errInvalidCredentials
	}
	// Unconditional: another instance may have counted a failure since
	// the account was read.
	if err := s.store.ResetLoginFailures(ctx, a.ID); err != nil {
		return nil, fmt.Errorf("reset login failures: %w", err)
	}
	if rehash {
		s.upgradeHash(ctx, a.ID, req.Password)
	}
	sid, err := randomID()
	if err != nil {
		return nil, err
	}
	sess := store.Session{ID: sid, AccountID: a.ID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionLifetime)}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	s.audit(ctx, store.AuthEvent{Type: store.EventLogin, AccountID: a.ID, SessionID: sess.ID})
	return s.issue(a, sess)
}

// upgradeHash re-hashes a password whose stored parameters are outdated;
// failure only means the upgrade waits for the next login.
func (s *Service) upgradeHash(ctx context.Context, id, password string) {
	var hash string
	var err error
	if gerr := s.gate.do(ctx, func() { hash, err = HashPassword(password, s.cfg.Argon2) }); gerr != nil || err != nil {
		return
	}
	if err := s.store.UpdatePasswordHash(ctx, id, hash, s.now()); err != nil {
		s.log.Warn("password hash upgrade failed", "account", id, "err", err)
	}
}

// issue signs a token for a session: it expires after TokenLifetime, but
// never after the session's absolute end.
func (s *Service) issue(a store.Account, sess store.Session) (*protocol.TokenResult, error) {
	now := s.now().UTC().Truncate(time.Second)
	exp := now.Add(s.cfg.TokenLifetime)
	if sess.ExpiresAt.Before(exp) {
		exp = sess.ExpiresAt.Truncate(time.Second)
	}
	jti, err := randomID()
	if err != nil {
		return nil, err
	}
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:   s.cfg.Issuer,
			Subject:  a.ID,
			IssuedAt: jwt.NewNumericDate(now),
			// Valid from a little before issue, so that another instance
			// (or an outside verifier) whose clock is behind by up to
			// clockLeeway accepts it at once.
			NotBefore: jwt.NewNumericDate(now.Add(-clockLeeway)),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        jti,
		},
		SessionID: sess.ID,
	}
	if s.cfg.Audience != "" {
		c.Audience = jwt.ClaimStrings{s.cfg.Audience}
	}
	tok, err := s.keys.sign(c)
	if err != nil {
		return nil, fmt.Errorf("sign token: %w", err)
	}
	return &protocol.TokenResult{Token: tok, ExpiresAt: exp, SessionID: sess.ID, Account: publicAccount(a)}, nil
}

// verify checks a token's signature and claims, then that its session is
// live and its account enabled: a database check on every call, so a
// logout at any instance is seen by all of them at once.
func (s *Service) verify(ctx context.Context, token string) (store.Account, store.Session, error) {
	if token == "" || len(token) > 8192 {
		return store.Account{}, store.Session{}, errInvalidToken
	}
	c, err := s.verifySignature(ctx, token)
	if err != nil {
		return store.Account{}, store.Session{}, err
	}
	// From here on the token's signature is good: a rejection carries
	// its session id, for the audit log.
	rejected := store.Session{ID: c.SessionID, AccountID: c.Subject}
	sess, a, err := s.store.GetSessionAccount(ctx, c.SessionID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, rejected, errInvalidToken
	}
	if err != nil {
		return store.Account{}, store.Session{}, fmt.Errorf("get session: %w", err)
	}
	if sess.Revoked() || !s.now().Before(sess.ExpiresAt) || sess.AccountID != c.Subject || a.Disabled {
		return store.Account{}, rejected, errInvalidToken
	}
	return a, sess, nil
}

// verifySignature checks a token's signature and claims. A token verified
// before skips the signature check (see verifiedCache) but not the time
// claims, and only while its signing key is still in the ring.
func (s *Service) verifySignature(ctx context.Context, token string) (Claims, error) {
	now := s.now()
	if v, ok := s.verified.get(token); ok && s.keys.has(v.kid) {
		if !now.Before(v.expiresAt) || now.Before(v.notBefore) {
			return Claims{}, errInvalidToken
		}
		return v.claims, nil
	}
	var c Claims
	t, err := s.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		return s.keys.verificationKey(ctx, t)
	})
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return Claims{}, err
		}
		return Claims{}, errInvalidToken
	}
	if c.ExpiresAt == nil || c.NotBefore == nil {
		return Claims{}, errInvalidToken
	}
	kid, _ := t.Header["kid"].(string)
	s.verified.put(token, verifiedToken{claims: c, kid: kid, expiresAt: c.ExpiresAt.Time, notBefore: c.NotBefore.Time})
	return c, nil
}

// Authenticate returns the account and session behind a valid token.
func (s *Service) Authenticate(ctx context.Context, req protocol.TokenRequest) (*protocol.AuthenticateResult, error) {
	a, sess, err := s.verifyAudited(ctx, req.Token, protocol.OpAuthenticate)
	if err != nil {
		return nil, err
	}
	return &protocol.AuthenticateResult{
		Account: publicAccount(a),
		Session: protocol.SessionInfo{ID: sess.ID, CreatedAt: sess.CreatedAt, ExpiresAt: sess.ExpiresAt},
	}, nil
}

// Logout revokes the session behind a valid token, at once.
func (s *Service) Logout(ctx context.Context, req protocol.TokenRequest) (*protocol.LogoutResult, error) {
	a, sess, err := s.verifyAudited(ctx, req.Token, protocol.OpLogout)
	if err != nil {
		return nil, err
	}
	if err := s.store.RevokeSession(ctx, sess.ID, s.now()); err != nil {
		return nil, fmt.Errorf("revoke session: %w", err)
	}
	s.audit(ctx, store.AuthEvent{Type: store.EventLogout, AccountID: a.ID, SessionID: sess.ID})
	return &protocol.LogoutResult{SessionID: sess.ID}, nil
}

// Refresh issues a new token for the session behind a valid token; it
// never extends the session's absolute lifetime.
func (s *Service) Refresh(ctx context.Context, req protocol.TokenRequest) (*protocol.TokenResult, error) {
	a, sess, err := s.verifyAudited(ctx, req.Token, protocol.OpRefresh)
	if err != nil {
		return nil, err
	}
	res, err := s.issue(a, sess)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, store.AuthEvent{Type: store.EventRefresh, AccountID: a.ID, SessionID: sess.ID})
	return res, nil
}

// JWKS returns the public keys that verify live tokens.
func (s *Service) JWKS() []JWK { return s.keys.jwks() }
