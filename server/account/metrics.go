package account

import (
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Service's Prometheus metrics. Labels take values from
// closed lists in the code only, never from a request.
type metrics struct {
	rateLimited  *prometheus.CounterVec
	lockouts     prometheus.Counter
	keyRotations prometheus.Counter
	keysRefused  prometheus.Counter
	readRetries  prometheus.Counter
	mailSent     prometheus.Counter
	mailFailures prometheus.Counter
	mailDropped  prometheus.Counter
}

// Rate-limit scopes (the "scope" label of accountd_rate_limited_total).
const (
	ScopeIP = "ip"
	// ScopeMail: a client's mail-sending requests per hour.
	ScopeMail = "mail"
)

func newMetrics(reg prometheus.Registerer, s *Service) *metrics {
	m := &metrics{
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accountd_rate_limited_total", Help: "Requests refused by a rate limit, by scope."}, []string{"scope"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "accountd_lockouts_total", Help: "Login attempts refused because the account is locked out."}),
		keyRotations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "accountd_signing_key_rotations_total", Help: "Signing keys this instance created."}),
		keysRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "accountd_signing_keys_refused_total", Help: "Signing-key rows refused: MAC wrong, or missing with a private half that does not open under the master key."}),
		readRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "accountd_db_read_retries_total", Help: "Database reads run again after failing on a broken connection."}),
		mailSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "accountd_mail_sent_total", Help: "Mails the SMTP server accepted from this instance."}),
		mailFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "accountd_mail_failures_total", Help: "Failed mail sends (each is retried) and mails that could not be queued."}),
		mailDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "accountd_mail_dropped_total", Help: "Queued mails with nothing left to send when their turn came: the account or its address gone, no verified address for a reset, the account's code limit reached, or its owner told within the hour that someone signed up with its address."}),
	}
	gate := s.gate
	reg.MustRegister(m.rateLimited, m.lockouts, m.keyRotations, m.keysRefused, m.readRetries, m.mailSent, m.mailFailures, m.mailDropped,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "accountd_argon2_in_flight", Help: "Argon2 password hashes running now."},
			func() float64 { return float64(gate.Running()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "accountd_argon2_waiting", Help: "Requests waiting for an Argon2 slot now (the gate's queue)."},
			func() float64 { return float64(gate.Waiting()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "accountd_argon2_busy_total", Help: "Requests answered busy because no Argon2 slot freed in time."},
			func() float64 { return float64(gate.Refusals()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "accountd_signing_keys_published", Help: "Signing keys in the JWKS now."},
			func() float64 { return float64(len(s.keys.JWKS())) }),
	)
	// Exported from the start, at zero.
	m.rateLimited.WithLabelValues(ScopeIP)
	m.rateLimited.WithLabelValues(ScopeMail)
	return m
}

// registerDBStats exports the database pool's statistics (sql.DBStats) as
// accountd_db_* metrics.
func registerDBStats(reg prometheus.Registerer, stats func() sql.DBStats) {
	gauge := func(name, help string, v func(sql.DBStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "accountd_db_" + name, Help: help},
			func() float64 { return v(stats()) })
	}
	counter := func(name, help string, v func(sql.DBStats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "accountd_db_" + name, Help: help},
			func() float64 { return v(stats()) })
	}
	reg.MustRegister(
		gauge("max_open_connections", "Most connections the pool may open.", func(s sql.DBStats) float64 { return float64(s.MaxOpenConnections) }),
		gauge("open_connections", "Connections open now, in use or idle.", func(s sql.DBStats) float64 { return float64(s.OpenConnections) }),
		gauge("in_use_connections", "Connections in use now.", func(s sql.DBStats) float64 { return float64(s.InUse) }),
		gauge("idle_connections", "Idle connections now.", func(s sql.DBStats) float64 { return float64(s.Idle) }),
		counter("wait_count_total", "Times a query waited for a free connection.", func(s sql.DBStats) float64 { return float64(s.WaitCount) }),
		counter("wait_duration_seconds_total", "Time spent waiting for a free connection.", func(s sql.DBStats) float64 { return s.WaitDuration.Seconds() }),
		counter("max_idle_closed_total", "Connections closed because the idle pool was full.", func(s sql.DBStats) float64 { return float64(s.MaxIdleClosed) }),
		counter("max_idle_time_closed_total", "Connections closed for idling too long.", func(s sql.DBStats) float64 { return float64(s.MaxIdleTimeClosed) }),
		counter("max_lifetime_closed_total", "Connections closed at their maximum lifetime.", func(s sql.DBStats) float64 { return float64(s.MaxLifetimeClosed) }),
	)
}
