package server

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/internal/admission"
)

// Server is accountd's transport: the WebSocket endpoint /ws and the HTTP
// endpoints on the same listener, in front of the account rules.
type Server struct {
	svc *account.Service
	cfg Config
	// live is cfg with the changes Reconfigure applied; read the settings
	// it lists there (current()).
	live         atomic.Pointer[Config]
	log          *slog.Logger
	transport    *rsa.PrivateKey
	transportDER []byte
	limiter      *ipLimiter
	hashLimiter  *ipLimiter
	// handshakes admits handshake RSA decryptions, fairly across IPs, on
	// the slots they share with the password hashes (Service.Work).
	handshakes *admission.Class
	// serviceLimiter is the request rate per service key.
	serviceLimiter *ipLimiter
	metrics        *metrics

	mu       sync.Mutex
	conns    map[*websocket.Conn]*connState
	draining bool
	wg       sync.WaitGroup
	ready    atomic.Bool // the last /readyz answer, to log changes only
}

// New builds the rules (loading signing keys) and the transport. It
// generates the per-start transport key unless cfg.TransportKey is set.
// The rules' metrics go to the server's registry (cfg.Metrics is
// replaced).
func New(ctx context.Context, cfg Config) (*Server, error) {
	m := newMetrics()
	cfg.Metrics = m.reg
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	svc, err := account.New(ctx, cfg.Config)
	if err != nil {
		return nil, err
	}
	cfg.Config = svc.Config()
	tk := cfg.TransportKey
	if tk == nil {
		if tk, err = protocol.GenerateTransportKey(); err != nil {
			svc.Close()
			return nil, fmt.Errorf("generate transport key: %w", err)
		}
	}
	der, err := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	if err != nil {
		svc.Close()
		return nil, err
	}
	srv := &Server{
		svc: svc, cfg: cfg, log: cfg.Logger,
		transport: tk, transportDER: der,
		limiter:     newIPLimiter(cfg.RateLimit, cfg.RateBurst, cfg.RateLimitIPs),
		hashLimiter: newIPLimiter(cfg.HashRate, cfg.HashBurst, cfg.RateLimitIPs),
		handshakes:  svc.Work().Class("handshake", admission.ClassConfig{Max: cfg.HandshakeConcurrency, Wait: cfg.HandshakeWait, PerKey: cfg.HandshakesPerClient}),
		// Keyed by service key id; the table holds far more keys than any
		// installation has.
		serviceLimiter: newIPLimiter(cfg.ServiceRateLimit, cfg.ServiceRateBurst, 1<<12),
		metrics:        m,
		conns:          make(map[*websocket.Conn]*connState),
	}
	srv.live.Store(&cfg)
	srv.ready.Store(true) // New has just reached the database
	return srv, nil
}

// Service returns the server's rules.
func (s *Server) Service() *account.Service { return s.svc }

// Handler returns the public HTTP handler: /ws, /.well-known/jwks.json,
// /healthz and /readyz, behind the per-IP rate limit. The metrics are
// not on it (MetricsHandler): they are for the operator, not the
// internet.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.serveWS)
	mux.HandleFunc("GET /.well-known/jwks.json", s.serveJWKS)
	mux.HandleFunc("GET /healthz", serveHealth)
	mux.HandleFunc("GET /readyz", s.serveReady)
	if !s.cfg.DisableConsole {
		mux.Handle("/account/", s.consoleHandler())
	}
	return s.limitHTTP(mux)
}

// MetricsHandler returns the handler of GET /metrics (Prometheus text
// format), to serve on an address of its own (accountd serve
// --metrics-listen).
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.handler())
	return mux
}

// HTTPServer returns an *http.Server for addr with the timeouts set.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Shutdown tells every WebSocket connection the server is going away
// (close 1001): an idle connection at once, one with a request in flight
// as soon as its response is written, so that no request is cut mid-way.
// It waits, until ctx ends, for the connections to finish, then cuts
// those left and stops the rules' background work. Call it after
// http.Server.Shutdown has stopped new connections.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	states := make([]*connState, 0, len(s.conns))
	for _, st := range s.conns {
		states = append(states, st)
	}
	s.mu.Unlock()
	for _, st := range states {
		st.goAway()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		for _, st := range states {
			st.c.CloseNow()
		}
		err = ctx.Err()
	}
	s.svc.Close()
	return err
}
