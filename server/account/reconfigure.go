package account

// Reconfigure applies, while the Service runs, the settings of cfg that
// can change without a restart: MinPasswordLength, ThrottleAfter,
// ThrottleMaxDelay, LockAfter, SessionLifetime (for sessions opened from
// now on) and AuditRetention (from the next pruning). Its other fields are
// ignored: they shape state built at New (signing keys, the token parser,
// the hash gate) and need a new Service. Zero fields take their defaults.
// On an error nothing changes. Safe for concurrent use with requests.
func (s *Service) Reconfigure(cfg Config) error {
	next := *s.settings()
	next.MinPasswordLength = cfg.MinPasswordLength
	next.ThrottleAfter = cfg.ThrottleAfter
	next.ThrottleMaxDelay = cfg.ThrottleMaxDelay
	next.LockAfter = cfg.LockAfter
	next.SessionLifetime = cfg.SessionLifetime
	next.AuditRetention = cfg.AuditRetention
	next.SetDefaults()
	if err := next.checkSettings(); err != nil {
		return err
	}
	s.live.Store(&next)
	return nil
}

// settings returns the configuration in force: the one New was given, with
// the changes Reconfigure applied since.
func (s *Service) settings() *Config { return s.live.Load() }
