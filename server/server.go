package server

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/accountd/accountd/protocol"
)

// Server is accountd's transport: the WebSocket endpoint /ws and the HTTP
// endpoints on the same listener. Safe for concurrent use.
type Server struct {
	svc          *Service
	cfg          Config
	log          *slog.Logger
	transport    *rsa.PrivateKey
	transportDER []byte

	mu       sync.Mutex
	conns    map[*websocket.Conn]*connState
	draining bool
	wg       sync.WaitGroup
	ready    atomic.Bool // the last /readyz answer, to log changes only
}

// New builds the rules (loading signing keys) and the transport. It
// generates the per-start transport key unless cfg.TransportKey is set.
func New(ctx context.Context, cfg Config) (*Server, error) {
	svc, err := NewService(ctx, cfg)
	if err != nil {
		return nil, err
	}
	cfg = svc.cfg
	tk := cfg.TransportKey
	if tk == nil {
		if tk, err = protocol.GenerateTransportKey(); err != nil {
			return nil, fmt.Errorf("generate transport key: %w", err)
		}
	}
	der, err := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	if err != nil {
		return nil, err
	}
	srv := &Server{
		svc: svc, cfg: cfg, log: cfg.Logger,
		transport: tk, transportDER: der,
		conns: make(map[*websocket.Conn]*connState),
	}
	srv.ready.Store(true) // New has just reached the database
	return srv, nil
}

// Service returns the server's rules.
func (s *Server) Service() *Service { return s.svc }

// Handler returns the HTTP handler: /ws, /.well-known/jwks.json,
// /healthz, /readyz and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.serveWS)
	mux.HandleFunc("GET /.well-known/jwks.json", s.serveJWKS)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.serveReady)
	mux.Handle("GET /metrics", s.svc.metrics.handler())
	mux.Handle("/account/", s.consoleHandler())
	return s.limitHTTP(mux)
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

func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(s.cfg.JWKSMaxAge.Seconds())))
	json.NewEncoder(w).Encode(map[string]any{"keys": s.svc.JWKS()})
}

// Shutdown tells every WebSocket connection the server is going away
// (close 1001): an idle connection at once, one with a request in flight
// as soon as its response is written, so that no request is cut mid-way.
// It waits, until ctx ends, for the connections to finish, then cuts
// those left and stops the Service's background work. Call it after
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

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "" && !slices.Contains(headerTokens(r.Header, "Sec-WebSocket-Protocol"), protocol.Subprotocol) {
		http.Error(w, "accountd: subprotocol "+protocol.Subprotocol+" required", http.StatusBadRequest)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:    []string{protocol.Subprotocol},
		OriginPatterns:  s.cfg.AllowedOrigins,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		// Accept has written the HTTP error (426, 403, ...).
		return
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		c.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	st := &connState{c: c}
	s.conns[c] = st
	s.wg.Add(1)
	s.mu.Unlock()
	s.svc.metrics.connOpened()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.svc.metrics.connClosed()
		s.wg.Done()
	}()
	c.SetReadLimit(protocol.MaxFrame)
	s.serveConn(context.WithoutCancel(r.Context()), st, clientIP(r))
}

// headerTokens splits comma-separated header values.
func headerTokens(h http.Header, key string) []string {
	var out []string
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// serveConn runs one connection: the handshake, then requests in order.
// It is the connection's only long-lived goroutine.
func (s *Server) serveConn(ctx context.Context, st *connState, ip string) {
	c := st.c
	defer c.CloseNow()
	sess, err := s.handshake(ctx, c)
	if err != nil {
		s.log.Debug("handshake failed", "ip", ip, "err", err)
		return
	}
	// Keep-alive: a timer, not a goroutine, while the connection is idle.
	var ping *time.Timer
	ping = time.AfterFunc(s.cfg.PingInterval, func() {
		pctx, cancel := context.WithTimeout(ctx, s.cfg.PingInterval)
		defer cancel()
		if err := c.Ping(pctx); err != nil {
			c.Close(websocket.StatusPolicyViolation, "ping timeout")
			return
		}
		ping.Reset(s.cfg.PingInterval)
	})
	defer ping.Stop()
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageBinary {
			c.Close(websocket.StatusProtocolError, "sealed packets are binary")
			return
		}
		plain, err := sess.Open(data)
		if err != nil {
			c.Close(websocket.StatusPolicyViolation, "")
			return
		}
		if !st.begin() {
			// Shutting down: this request came after the connection was
			// told to go away, so it is not started.
			c.Close(websocket.StatusGoingAway, "server shutting down")
			return
		}
		resp := s.handle(ctx, plain, ip)
		out, err := json.Marshal(resp)
		if err != nil {
			s.log.Error("encode response", "err", err)
			c.Close(websocket.StatusInternalError, "")
			return
		}
		sealed, err := sess.Seal(out)
		if err != nil {
			c.Close(websocket.StatusInternalError, "")
			return
		}
		wctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		err = c.Write(wctx, websocket.MessageBinary, sealed)
		cancel()
		if err != nil {
			return
		}
		if st.end() {
			c.Close(websocket.StatusGoingAway, "server shutting down")
			return
		}
	}
}

// handshake runs the server side of the handshake within HandshakeTimeout;
// past the deadline the connection is closed with CloseHandshakeTimeout.
func (s *Server) handshake(ctx context.Context, c *websocket.Conn) (*protocol.Session, error) {
	timer := time.AfterFunc(s.cfg.HandshakeTimeout, func() {
		c.Close(protocol.CloseHandshakeTimeout, "handshake timeout")
	})
	defer timer.Stop()
	hs, err := protocol.NewServerHandshake(s.cfg.Identity, s.transport, s.transportDER, nil)
	if err != nil {
		c.Close(websocket.StatusInternalError, "")
		return nil, err
	}
	if err := c.Write(ctx, websocket.MessageText, hs.Hello()); err != nil {
		return nil, err
	}
	typ, data, err := c.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		c.Close(websocket.StatusProtocolError, "client_hello must be a text frame")
		return nil, errors.New("binary client_hello")
	}
	reply, sess, err := finishOffStack(hs, data)
	switch {
	case errors.Is(err, protocol.ErrVersion):
		c.Close(protocol.CloseVersion, "unsupported protocol version")
		return nil, err
	case errors.Is(err, protocol.ErrMalformed):
		c.Close(websocket.StatusProtocolError, "malformed client_hello")
		return nil, err
	case err != nil:
		c.Close(websocket.StatusPolicyViolation, "")
		return nil, err
	}
	if !timer.Stop() {
		return nil, errors.New("handshake timeout")
	}
	if err := c.Write(ctx, websocket.MessageText, reply); err != nil {
		return nil, err
	}
	return sess, nil
}

// handle decodes and dispatches one request; it always returns a response.
func (s *Server) handle(ctx context.Context, plain []byte, ip string) *protocol.Response {
	ctx = WithClientIP(ctx, ip)
	req, err := protocol.DecodeRequest(plain)
	if err != nil {
		id := probeID(plain)
		if ok, wait := s.svc.allowRequest(ctx, ip, "bad_request"); !ok {
			werr, _ := toWire(errRateLimited(wait))
			return &protocol.Response{ID: id, Error: werr}
		}
		return &protocol.Response{ID: id, Error: &protocol.Error{Code: protocol.CodeBadRequest, Message: err.Error()}}
	}
	if ok, wait := s.svc.allowRequest(ctx, ip, truncate(req.Op, 32)); !ok {
		werr, _ := toWire(errRateLimited(wait))
		return &protocol.Response{ID: req.ID, Error: werr}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	start := time.Now()
	result, err := s.dispatch(ctx, req)
	resp := &protocol.Response{ID: req.ID}
	if err == nil {
		if resp.Result, err = json.Marshal(result); err != nil {
			resp.Result = nil
		}
	}
	if err != nil {
		werr, internal := toWire(err)
		if internal {
			s.log.Error("operation failed", "op", req.Op, "ip", ip, "err", err)
		}
		resp.Error = werr
	}
	outcome := "ok"
	if resp.Error != nil {
		outcome = resp.Error.Code
	}
	s.svc.metrics.operation(req.Op, outcome, time.Since(start))
	s.log.Debug("request", "op", truncate(req.Op, 32), "ip", ip, "outcome", outcome, "dur", time.Since(start))
	return resp
}

// dispatch decodes the body for the op and calls the rules.
func (s *Server) dispatch(ctx context.Context, req *protocol.Request) (any, error) {
	switch req.Op {
	case protocol.OpSignup:
		var b protocol.SignupRequest
		if err := protocol.DecodeBody(req.Body, &b); err != nil {
			return nil, newError(codeBadRequest, err.Error())
		}
		return s.svc.Signup(ctx, b)
	case protocol.OpLogin:
		var b protocol.LoginRequest
		if err := protocol.DecodeBody(req.Body, &b); err != nil {
			return nil, newError(codeBadRequest, err.Error())
		}
		if b.Username == "" || b.Password == "" {
			return nil, newError(codeBadRequest, "username and password are required")
		}
		return s.svc.Login(ctx, b)
	case protocol.OpAuthenticate, protocol.OpLogout, protocol.OpRefresh:
		var b protocol.TokenRequest
		if err := protocol.DecodeBody(req.Body, &b); err != nil {
			return nil, newError(codeBadRequest, err.Error())
		}
		if b.Token == "" {
			return nil, newError(codeBadRequest, "token is required")
		}
		switch req.Op {
		case protocol.OpAuthenticate:
			return s.svc.Authenticate(ctx, b)
		case protocol.OpLogout:
			return s.svc.Logout(ctx, b)
		default:
			return s.svc.Refresh(ctx, b)
		}
	}
	return nil, newError(protocol.CodeUnsupportedOp, fmt.Sprintf("unsupported op %q", truncate(req.Op, 32)))
}

// probeID returns the id of a request that failed to decode, when it has
// a valid one, so the error response can echo it; else 0.
func probeID(plain []byte) uint64 {
	var probe struct {
		ID uint64 `json:"id"`
	}
	if json.Unmarshal(plain, &probe) == nil && probe.ID <= protocol.MaxRequestID {
		return probe.ID
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// finishOffStack runs the handshake's RSA work on a short-lived goroutine.
// Big-number arithmetic needs a deep stack; run on the connection's own
// goroutine it would grow that stack for as long as the connection lives,
// and an idle connection would keep tens of KiB it no longer uses.
func finishOffStack(hs *protocol.ServerHandshake, clientHello []byte) ([]byte, *protocol.Session, error) {
	type result struct {
		reply []byte
		sess  *protocol.Session
		err   error
	}
	done := make(chan result, 1)
	go func() {
		reply, sess, err := hs.Finish(clientHello)
		done <- result{reply, sess, err}
	}()
	r := <-done
	return r.reply, r.sess, r.err
}
