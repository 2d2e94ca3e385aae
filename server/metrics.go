package server

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the transport's Prometheus metrics. They share one registry
// with the account rules' metrics (a registry per Server, so several
// servers in one process do not clash), served at GET /metrics. Every name
// starts with "accountd_"; label values come from closed lists only.
type metrics struct {
	reg              *prometheus.Registry
	connections      prometheus.Gauge
	connectionsTotal prometheus.Counter
	operations       *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	handshakesBusy   prometheus.Counter
	openConns        prometheus.Gauge
	connRefused      prometheus.Counter
	pushed           prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "accountd_connections", Help: "WebSocket connections open now."}),
		connectionsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "accountd_connections_total", Help: "WebSocket connections accepted."}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accountd_operations_total",
			Help: "Operations answered, by op and outcome (ok or the error code)."}, []string{"op", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "accountd_operation_duration_seconds",
			Help:    "Time to answer an operation, by op.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15}}, []string{"op"}),
		handshakesBusy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "accountd_handshakes_busy_total", Help: "Handshakes closed busy (4002): no decryption slot freed in time, or the IP already had one waiting."}),
	}
	m.openConns = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "accountd_tcp_connections", Help: "TCP connections open now on the capped listener."})
	m.connRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "accountd_tcp_connections_refused_total", Help: "TCP connections closed at accept: over the global or the per-IP cap."})
	m.pushed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "accountd_revocations_pushed_total", Help: "Revoked sessions pushed to watching service connections (one per session and connection)."})
	m.reg.MustRegister(m.connections, m.connectionsTotal, m.operations, m.duration, m.handshakesBusy, m.openConns, m.connRefused, m.pushed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

func (m *metrics) connOpened() { m.connections.Inc(); m.connectionsTotal.Inc() }

func (m *metrics) connClosed() { m.connections.Dec() }

func (m *metrics) revocationsPushed(n int) { m.pushed.Add(float64(n)) }

// operation records one answered operation: outcome is "ok" or the error
// code sent to the client. An op not in the table counts as "unknown", so
// a client cannot create label values.
func (m *metrics) operation(op string, known bool, outcome string, d time.Duration) {
	if !known {
		op = "unknown"
	}
	m.operations.WithLabelValues(op, outcome).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
}
