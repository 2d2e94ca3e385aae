package server

// Reconfigure applies, while the server runs, the settings of cfg that can
// change without a restart: the identity keys (Identity,
// PreviousIdentity, PreviousIdentityUntil: handshakes that start
// afterwards use them, so an identity rotation needs no restart),
// AllowedOrigins, TrustedProxies, ClientIPHeader, ProxyProtocol,
// RateLimit, RateBurst, ServiceRateLimit and ServiceRateBurst (existing
// buckets keep their tokens), and the rules' live settings
// (account.Service.Reconfigure). Its other fields are ignored. Zero fields
// take their defaults. On an error nothing changes. Safe for concurrent
// use with requests.
func (s *Server) Reconfigure(cfg Config) error {
	next := *s.current()
	next.Identity = cfg.Identity
	next.PreviousIdentity = cfg.PreviousIdentity
	next.PreviousIdentityUntil = cfg.PreviousIdentityUntil
	if err := next.checkIdentity(); err != nil {
		return err
	}
	next.AllowedOrigins = cfg.AllowedOrigins
	next.TrustedProxies = cfg.TrustedProxies
	next.ClientIPHeader = cfg.ClientIPHeader
	next.ProxyProtocol = cfg.ProxyProtocol
	next.RateLimit = cfg.RateLimit
	next.RateBurst = cfg.RateBurst
	next.ServiceRateLimit = cfg.ServiceRateLimit
	next.ServiceRateBurst = cfg.ServiceRateBurst
	next.setDefaults()
	if err := next.checkSettings(); err != nil {
		return err
	}
	if err := s.svc.Reconfigure(cfg.Config); err != nil {
		return err
	}
	next.Config = s.svc.Config()
	s.limiter.setRate(next.RateLimit, next.RateBurst, s.cfg.Now())
	s.serviceLimiter.setRate(next.ServiceRateLimit, next.ServiceRateBurst, s.cfg.Now())
	s.live.Store(&next)
	return nil
}

// current returns the configuration in force: the one New was given, with
// the changes Reconfigure applied since.
func (s *Server) current() *Config { return s.live.Load() }
