package account

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/internal/admission"
	"github.com/accountd/accountd/server/internal/argon2id"
	"github.com/accountd/accountd/server/internal/keyring"
	"github.com/accountd/accountd/server/internal/mailer"
	"github.com/accountd/accountd/store"
)

// Service holds the account rules. Create it with New; Close stops its
// background work.
type Service struct {
	cfg Config
	// live is cfg with the changes Reconfigure applied; read the settings
	// it lists there (settings()).
	live  atomic.Pointer[Config]
	store *guardedStore
	keys  *keyring.Ring
	gate  *argon2id.Gate
	// work holds the CPU-bound operations' slots: the hashes' and the
	// server's handshake decryptions.
	work *admission.Gate
	// attempts holds the accounts with a login in progress here.
	attempts inFlight
	log      *slog.Logger
	now      func() time.Time
	// dummies are the hashes to verify against when the username is
	// unknown.
	dummies *dummyHashes
	// verified caches signature checks of tokens seen before.
	verified *verifiedCache
	parser   *jwt.Parser
	metrics  *metrics
	// refusals aggregates the audit events tied to no account.
	refusals tally
	// feed follows the revocation log; view is the session view it
	// keeps coherent.
	feed *feed
	view *sessionView

	// sender and templates are nil while mail is off.
	sender     *mailer.Sender
	templates  *mailer.Templates
	codeKey    []byte
	mailKick   chan struct{}
	mailLimits mailLimiter
	// addressNotices counts, per account, the notices that someone
	// signed up with its address.
	addressNotices mailLimiter

	stop    context.CancelFunc // ends the key maintenance and the tally
	stopped chan struct{}
}

// New checks cfg, loads (or creates) the signing keys and starts their
// maintenance (reloads and rotation by age).
func New(ctx context.Context, cfg Config) (*Service, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:  cfg,
		work: admission.New(admission.Config{Slots: cfg.WorkConcurrency, Wait: cfg.HashWait}),
		log:  cfg.Logger,
		now:  cfg.Now,
		// 16384 entries of about 300 bytes: at most ~5 MB.
		verified: newVerifiedCache(16384),
		codeKey:  codeKey(cfg.MasterKey),
		mailKick: make(chan struct{}, 1),
	}
	var err error
	if s.sender, s.templates, err = newMailer(cfg.Mail); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	s.gate = argon2id.NewGate(s.work.Class("argon2", admission.ClassConfig{Max: cfg.HashConcurrency, Weight: cfg.hashWeight(), Wait: cfg.HashWait, PerKey: cfg.HashesPerClient}))
	s.live.Store(&cfg)
	s.view = newSessionView(time.Now)
	s.store = &guardedStore{s: cfg.Store, timeout: cfg.StoreTimeout, retried: func() { s.metrics.readRetries.Inc() }, ended: s.view.ended}
	s.feed = newFeed(s.store.ListRevocations, cfg.RevocationPoll, cfg.StoreTimeout+revocationSettleMargin, time.Now, cfg.Now, s.view.evict)
	s.keys = keyring.New(keyring.Config{
		Store: s.store, MasterKey: cfg.MasterKey, PreviousMasterKey: cfg.PreviousMasterKey, Algorithm: cfg.SigningAlgorithm,
		Policy: cfg.keyPolicy(), Now: cfg.Now, Rotated: func() { s.metrics.keyRotations.Inc() },
		Refused: func() { s.metrics.keysRefused.Inc() }, Log: cfg.Logger,
	})
	s.metrics = newMetrics(cfg.Metrics, s)
	if p, ok := cfg.Store.(interface{ Stats() sql.DBStats }); ok {
		registerDBStats(cfg.Metrics, p.Stats)
	}
	if err := s.keys.Load(ctx); err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	s.dummies = newDummyHashes(cfg.MasterKey, cfg.Argon2)
	if err := s.dummies.refresh(ctx, s.store); err != nil {
		return nil, fmt.Errorf("count password hash parameters: %w", err)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(SigningAlgorithms),
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
		var wg sync.WaitGroup
		wg.Go(func() { s.runTally(mctx) })
		wg.Go(func() { s.runDummyRefresh(mctx) })
		if s.mailOn() {
			wg.Go(func() { s.runMail(mctx) })
		}
		wg.Go(func() {
			s.feed.run(mctx, func(err error) { s.log.Warn("reading the revocation log failed", "err", err) })
		})
		s.keys.Maintain(mctx, s.log)
		wg.Wait()
	}()
	return s, nil
}

// Close stops the Service's background work (signing-key reloads and
// rotation, the mail sender) and writes the aggregated audit events counted so far. It
// does not close the store.
func (s *Service) Close() {
	s.stop()
	<-s.stopped
}

// Config returns the Service's configuration in force, defaults filled in.
func (s *Service) Config() Config { return *s.settings() }

// Work returns the slots CPU-bound operations share (Config.WorkConcurrency):
// a server runs its handshake decryptions in a class of its own on them.
func (s *Service) Work() *admission.Gate { return s.work }

// Ready reports why the Service cannot serve, or nil: the database must
// answer and a signing key must be loaded.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if !s.keys.CanSign() {
		return errors.New("no signing key loaded")
	}
	return nil
}

// randomID returns 16 random bytes in hex: the ids of accounts, sessions
// and tokens.
func randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func publicAccount(a store.Account) protocol.Account {
	return protocol.Account{ID: a.ID, Username: a.Username, Email: a.Email, PendingEmail: a.PendingEmail, CreatedAt: a.CreatedAt, SecondFactor: a.SecondFactor}
}

// stamp returns now in UTC at the store's precision.
func (s *Service) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }
