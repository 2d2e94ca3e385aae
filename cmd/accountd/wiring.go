package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/setup"
	"github.com/accountd/accountd/store"
)

// serverConfig is the one mapping from the sealed config and this
// instance's serve options to the server's (and, in its Config, the
// account rules') configuration.
func serverConfig(cfg *setup.Config, db store.Store, opts serveOptions, log *slog.Logger) server.Config {
	s := cfg.Server
	c := server.Config{
		Config: account.Config{
			Store:               db,
			MasterKey:           cfg.MasterKey,
			PreviousMasterKey:   cfg.PreviousMasterKey,
			Issuer:              s.Issuer,
			Audience:            s.Audience,
			ServiceName:         s.ServiceName,
			TokenLifetime:       time.Duration(s.TokenLifetime),
			SessionLifetime:     time.Duration(s.SessionLifetime),
			SigningAlgorithm:    s.SigningAlgorithmOrLegacy(),
			MinPasswordLength:   s.MinPasswordLength,
			LockAfter:           s.LockAfter,
			ThrottleAfter:       s.ThrottleAfter,
			ThrottleMaxDelay:    time.Duration(s.ThrottleMaxDelay),
			AuditRetention:      time.Duration(s.AuditRetention),
			StoreTimeout:        opts.dbTimeout,
			KeyRotationInterval: opts.keyRotation,
			KeyPublishLead:      opts.keyLead,
			JWKSMaxAge:          opts.jwksMaxAge,
			HashesPerClient:     opts.hashesPerClient,
			Logger:              log,
			Mail: account.MailConfig{
				Host: s.SMTPHost, Port: s.SMTPPort, Username: s.SMTPUsername, Password: s.SMTPPassword,
				From: s.SMTPFrom, TLS: s.SMTPTLS, TemplatesDir: s.MailTemplates,
			},
			RequireVerifiedEmail: s.RequireVerifiedEmail,
		},
		Identity:              cfg.IdentityKey,
		PreviousIdentity:      cfg.PreviousIdentityKey,
		PreviousIdentityUntil: cfg.PreviousIdentityUntil,
		AllowedOrigins:        s.AllowedOrigins,
		RateLimit:             s.RateLimit,
		RateBurst:             s.RateBurst,
		ClientIPHeader:        s.ClientIPHeader,
		ProxyProtocol:         s.ProxyProtocol,
		DisableConsole:        s.DisableConsole,
		ServiceRateLimit:      float64(s.ServiceRateLimit),
		ServiceRateBurst:      s.ServiceRateBurst,

		HashRate:            opts.hashRate,
		HashBurst:           opts.hashBurst,
		HandshakesPerClient: opts.handshakesPerClient,
		MaxConns:            opts.maxConns,
		MaxConnsPerIP:       opts.maxConnsPerIP,
		IdleTimeout:         opts.idleTimeout,
	}
	// The sealed config's Validate parsed these already.
	c.TrustedProxies, _ = setup.ParseTrustedProxies(s.TrustedProxies)
	if a := s.Argon2; a != nil {
		c.Argon2 = account.Argon2Params{Time: a.Time, MemoryKiB: a.MemoryKiB, Threads: a.Threads}
	}
	if opts.rateLimit > 0 {
		c.RateLimit = opts.rateLimit
	}
	if opts.rateBurst > 0 {
		c.RateBurst = opts.rateBurst
	}
	if opts.hashConcurrency > 0 {
		c.HashConcurrency = opts.hashConcurrency
	}
	return c
}

// checkSettings checks cfg's settings against the server's own bounds,
// which setup does not know all of.
func checkSettings(cfg *setup.Config) error {
	return serverConfig(cfg, nil, defaultServeOptions(), nil).ValidateSettings()
}

// effectiveSettings returns cfg's settings with every default the server
// would apply filled in: serverConfig read backwards.
func effectiveSettings(cfg *setup.Config) *setup.Config {
	c := serverConfig(cfg, nil, defaultServeOptions(), nil).WithDefaults()
	out := *cfg
	out.Server = setup.ServerSettings{
		TokenLifetime:     setup.Duration(c.TokenLifetime),
		SessionLifetime:   setup.Duration(c.SessionLifetime),
		Issuer:            c.Issuer,
		Audience:          c.Audience,
		AllowedOrigins:    c.AllowedOrigins,
		SigningAlgorithm:  c.SigningAlgorithm,
		MinPasswordLength: c.MinPasswordLength,
		Argon2:            &setup.Argon2Params{Time: c.Argon2.Time, MemoryKiB: c.Argon2.MemoryKiB, Threads: c.Argon2.Threads},
		RateLimit:         c.RateLimit,
		RateBurst:         c.RateBurst,
		ServiceRateLimit:  int(c.ServiceRateLimit),
		ServiceRateBurst:  c.ServiceRateBurst,
		LockAfter:         c.LockAfter,
		AuditRetention:    setup.Duration(c.AuditRetention),
		ThrottleAfter:     c.ThrottleAfter,
		ThrottleMaxDelay:  setup.Duration(c.ThrottleMaxDelay),
		TrustedProxies:    cfg.Server.TrustedProxies,
		ClientIPHeader:    c.ClientIPHeader,
		ProxyProtocol:     c.ProxyProtocol,
		DisableConsole:    c.DisableConsole,
		ServiceName:       c.ServiceName,
		// Mail has no defaults to show but the ones the settings name.
		SMTPHost:             cfg.Server.SMTPHost,
		SMTPPort:             cfg.Server.SMTPPort,
		SMTPUsername:         cfg.Server.SMTPUsername,
		SMTPPassword:         cfg.Server.SMTPPassword,
		SMTPFrom:             cfg.Server.SMTPFrom,
		SMTPTLS:              cfg.Server.SMTPTLS,
		MailTemplates:        cfg.Server.MailTemplates,
		RequireVerifiedEmail: c.RequireVerifiedEmail,
	}
	if out.Listen == "" {
		out.Listen = setup.DefaultListen
	}
	return &out
}

// openService unlocks the sealed config and opens the account rules on
// its database, for an admin command; close releases them.
func (c *common) openService(ctx context.Context, opts serveOptions) (*account.Service, func(), error) {
	cfg, _, err := c.unlock()
	if err != nil {
		return nil, nil, err
	}
	return openService(ctx, cfg, opts)
}

// openService opens the configured database (migrated) and the account
// rules on it, for the admin commands; close releases both.
func openService(ctx context.Context, cfg *setup.Config, opts serveOptions) (svc *account.Service, close func(), err error) {
	db, err := openStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err = account.New(ctx, serverConfig(cfg, db, opts, log).Config)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return svc, func() { svc.Close(); db.Close() }, nil
}
