package server

import (
	"database/sql"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/accountd/accountd/protocol"
)

// Metrics are the Prometheus metrics of one Service and its Server, in a
// registry of their own (so several servers in one process do not clash),
// served at GET /metrics. Every name starts with "accountd_". Labels take
// values from closed lists only (operation names, error codes, scopes the
// code passes), never from what a client sends. The methods are safe for
// concurrent use and do nothing on a nil *Metrics.
type Metrics struct {
	reg *prometheus.Registry

	connections      prometheus.Gauge
	connectionsTotal prometheus.Counter
	operations       *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	hashInFlight     prometheus.Gauge
	hashWaiting      prometheus.Gauge
	hashBusy         prometheus.Counter
	rateLimited      *prometheus.CounterVec
	lockouts         prometheus.Counter
	keyRotations     prometheus.Counter
	readRetries      prometheus.Counter
}

// knownOps are the operation label values; anything else counts as
// "unknown", so a client cannot create label values.
var knownOps = map[string]bool{
	protocol.OpSignup: true, protocol.OpLogin: true, protocol.OpAuthenticate: true,
	protocol.OpLogout: true, protocol.OpRefresh: true,
}

func newMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.connections = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "accountd_connections", Help: "WebSocket connections open now."})
	m.connectionsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "accountd_connections_total", Help: "WebSocket connections accepted."})
	m.operations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "accountd_operations_total",
		Help: "Operations answered, by op and outcome (ok or the error code)."}, []string{"op", "outcome"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "accountd_operation_duration_seconds",
		Help:    "Time to answer an operation, by op.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15}}, []string{"op"})
	m.hashInFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "accountd_argon2_in_flight", Help: "Argon2 password hashes running now."})
	m.hashWaiting = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "accountd_argon2_waiting", Help: "Requests waiting for an Argon2 slot now (the gate's queue)."})
	m.hashBusy = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "accountd_argon2_busy_total", Help: "Requests answered busy because no Argon2 slot freed in time."})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "accountd_rate_limited_total", Help: "Requests refused by a rate limit, by scope."}, []string{"scope"})
	m.lockouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "accountd_lockouts_total", Help: "Login attempts refused because the account is locked out."})
	m.keyRotations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "accountd_signing_key_rotations_total", Help: "Signing keys this instance created."})
	m.readRetries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "accountd_db_read_retries_total", Help: "Database reads run again after failing on a broken connection."})
	for _, c := range []prometheus.Collector{
		m.connections, m.connectionsTotal, m.operations, m.duration, m.hashInFlight, m.hashWaiting,
		m.hashBusy, m.rateLimited, m.lockouts, m.keyRotations, m.readRetries,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		f(c)
	}
	return m
}

// registerKeyRing exports how many signing keys this instance publishes.
func (m *Metrics) registerKeyRing(r *keyRing) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "accountd_signing_keys_published", Help: "Signing keys in the JWKS now."},
		func() float64 { return float64(len(r.jwks())) }))
}

// registerDBStats exports the database pool's statistics (sql.DBStats) as
// accountd_db_* metrics.
func (m *Metrics) registerDBStats(stats func() sql.DBStats) {
	gauge := func(name, help string, v func(sql.DBStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "accountd_db_" + name, Help: help},
			func() float64 { return v(stats()) })
	}
	counter := func(name, help string, v func(sql.DBStats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "accountd_db_" + name, Help: help},
			func() float64 { return v(stats()) })
	}
	for _, c := range []prometheus.Collector{
		gauge("max_open_connections", "Most connections the pool may open.", func(s sql.DBStats) float64 { return float64(s.MaxOpenConnections) }),
		gauge("open_connections", "Connections open now, in use or idle.", func(s sql.DBStats) float64 { return float64(s.OpenConnections) }),
		gauge("in_use_connections", "Connections in use now.", func(s sql.DBStats) float64 { return float64(s.InUse) }),
		gauge("idle_connections", "Idle connections now.", func(s sql.DBStats) float64 { return float64(s.Idle) }),
		counter("wait_count_total", "Times a query waited for a free connection.", func(s sql.DBStats) float64 { return float64(s.WaitCount) }),
		counter("wait_duration_seconds_total", "Time spent waiting for a free connection.", func(s sql.DBStats) float64 { return s.WaitDuration.Seconds() }),
		counter("max_idle_closed_total", "Connections closed because the idle pool was full.", func(s sql.DBStats) float64 { return float64(s.MaxIdleClosed) }),
		counter("max_idle_time_closed_total", "Connections closed for idling too long.", func(s sql.DBStats) float64 { return float64(s.MaxIdleTimeClosed) }),
		counter("max_lifetime_closed_total", "Connections closed at their maximum lifetime.", func(s sql.DBStats) float64 { return float64(s.MaxLifetimeClosed) }),
	} {
		m.reg.MustRegister(c)
	}
}

// handler serves the registry in the Prometheus text format.
func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry returns the registry, for callers that add metrics of their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// connOpened and connClosed track open WebSocket connections.
func (m *Metrics) connOpened() {
	if m != nil {
		m.connections.Inc()
		m.connectionsTotal.Inc()
	}
}

func (m *Metrics) connClosed() {
	if m != nil {
		m.connections.Dec()
	}
}

// operation records one answered operation: outcome is "ok" or the error
// code sent to the client.
func (m *Metrics) operation(op, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	if !knownOps[op] {
		op = "unknown"
	}
	m.operations.WithLabelValues(op, outcome).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
}

// RateLimited counts a request refused by a rate limit. scope names the
// limit (for example "ip" or "account"); it must come from a fixed list in
// the code, never from a request.
func (m *Metrics) RateLimited(scope string) {
	if m != nil {
		m.rateLimited.WithLabelValues(scope).Inc()
	}
}

// LockedOut counts a login attempt refused because the account is locked
// out after repeated failures.
func (m *Metrics) LockedOut() {
	if m != nil {
		m.lockouts.Inc()
	}
}

func (m *Metrics) readRetried() {
	if m != nil {
		m.readRetries.Inc()
	}
}

func (m *Metrics) keyRotated() {
	if m != nil {
		m.keyRotations.Inc()
	}
}

// hashWait, hashRunning and hashRefused follow the Argon2 gate.
func (m *Metrics) hashWait(delta float64) {
	if m != nil {
		m.hashWaiting.Add(delta)
	}
}

func (m *Metrics) hashRunning(delta float64) {
	if m != nil {
		m.hashInFlight.Add(delta)
	}
}

func (m *Metrics) hashRefused() {
	if m != nil {
		m.hashBusy.Inc()
	}
}
