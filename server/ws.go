package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
)

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	version, ok := protocol.SelectVersion(headerTokens(r.Header, "Sec-WebSocket-Protocol"))
	if r.Header.Get("Upgrade") != "" && !ok {
		http.Error(w, "accountd: subprotocol "+protocol.Subprotocol+" (or "+protocol.SubprotocolOf(2)+") required", http.StatusBadRequest)
		return
	}
	if r.Header.Get("Upgrade") == "" {
		s.allowProbe(w, r) // Accept answers it 426
		version = protocol.Version
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// Only the version chosen above: Accept would otherwise pick by
		// its own order and compare names case-insensitively.
		Subprotocols:    []string{protocol.SubprotocolOf(version)},
		OriginPatterns:  s.current().AllowedOrigins,
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
	st := &connState{c: c, gone: make(chan struct{})}
	s.conns[c] = st
	s.wg.Add(1)
	s.mu.Unlock()
	s.metrics.connOpened()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.metrics.connClosed()
		s.wg.Done()
	}()
	c.SetReadLimit(protocol.MaxFrame)
	s.serveConn(context.WithoutCancel(r.Context()), st, s.clientIP(r), version)
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

// serveConn runs one connection of a protocol version: the handshake,
// then requests in order. It is the connection's only long-lived
// goroutine.
func (s *Server) serveConn(ctx context.Context, st *connState, ip string, version int) {
	c := st.c
	defer c.CloseNow()
	sess, err := s.handshake(ctx, c, ip, version)
	if err != nil {
		s.log.Debug("handshake failed", "ip", ip, "err", err)
		return
	}
	conn := new(account.Connection)
	ctx = account.WithConnection(ctx, conn)
	// Responses and pushes share the packet counter: one writer at a
	// time, sealing and sending in the same order.
	var wmu sync.Mutex
	send := func(plain []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		sealed, err := sess.Seal(plain)
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		return c.Write(wctx, websocket.MessageBinary, sealed)
	}
	pushCtx, stopPush := context.WithCancel(ctx)
	var pushing sync.WaitGroup
	defer func() {
		stopPush()
		if w := conn.Watch(); w != nil {
			w.Close()
		}
		pushing.Wait()
	}()
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
	idle := time.AfterFunc(s.cfg.IdleTimeout, st.closeIdle)
	defer idle.Stop()
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
			// Shutting down or idle-closed: this request came after the
			// connection was closed, so it is not started.
			c.Close(websocket.StatusGoingAway, "server shutting down")
			return
		}
		idle.Stop()
		watching := conn.Watch() != nil
		resp := s.handle(ctx, plain, ip)
		pause := s.refusalPause(conn, resp)
		out, err := json.Marshal(resp)
		// The request may hold a password or a code, the response a token
		// or a generated password: neither outlives its packet.
		clear(plain)
		if err != nil {
			s.log.Error("encode response", "err", err)
			c.Close(websocket.StatusInternalError, "")
			return
		}
		err = send(out)
		clear(out)
		if err != nil {
			return
		}
		if w := conn.Watch(); w != nil && !watching {
			// The pushes start after the response that set them up.
			pushing.Go(func() { s.push(pushCtx, c, w, send) })
		}
		if st.end() {
			c.Close(websocket.StatusGoingAway, "server shutting down")
			return
		}
		if conn.Watch() == nil {
			// A watching connection is not idle: it receives pushes.
			idle.Reset(s.cfg.IdleTimeout)
		}
		// A pause cut short by a close goes back to Read, which returns
		// once the close handshake is done: returning now would cut the
		// connection before its close code is sent.
		wait(ctx, pause, st.gone)
	}
}

// handshake runs the server side of the handshake within HandshakeTimeout;
// past the deadline the connection is closed with CloseHandshakeTimeout.
// Its RSA decryption waits for a slot of the handshake gate, shared fairly
// across client IPs; refused one, the connection is closed with
// CloseBusy.
func (s *Server) handshake(ctx context.Context, c *websocket.Conn, ip string, version int) (*protocol.Session, error) {
	timer := time.AfterFunc(s.cfg.HandshakeTimeout, func() {
		c.Close(protocol.CloseHandshakeTimeout, "handshake timeout")
	})
	defer timer.Stop()
	hs, err := protocol.NewServerHandshake(version, s.identity(), s.transport, s.transportDER, nil)
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
	var reply []byte
	var sess *protocol.Session
	if gerr := s.handshakes.Do(ctx, rateKey(ip), func() { reply, sess, err = finishOffStack(hs, data) }); gerr != nil {
		s.metrics.handshakesBusy.Inc()
		c.Close(protocol.CloseBusy, "server busy")
		return nil, gerr
	}
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

// identity returns what a handshake starting now proves: the identity
// key, and the previous one until its overlap ends. The clock decides per
// connection, so the overlap ends without a reload.
func (s *Server) identity() protocol.ServerIdentity {
	cfg := s.current()
	id := protocol.ServerIdentity{Key: cfg.Identity}
	if cfg.PreviousIdentity != nil && s.cfg.Now().Before(cfg.PreviousIdentityUntil) {
		id.Previous, id.PreviousUntil = cfg.PreviousIdentity, cfg.PreviousIdentityUntil
	}
	return id
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

// connState is what Shutdown needs to know of a connection: whether a
// request is in flight, so that it is answered before the connection is
// told to go away.
type connState struct {
	c *websocket.Conn

	mu      sync.Mutex
	busy    bool
	closing bool
	// gone is closed when closing is set.
	gone chan struct{}
}

// markClosing sets closing. Caller holds st.mu.
func (st *connState) markClosing() {
	if !st.closing {
		st.closing = true
		close(st.gone)
	}
}

// begin marks a request in flight; it reports false when the server is
// shutting down and the request must not start.
func (st *connState) begin() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closing {
		return false
	}
	st.busy = true
	return true
}

// end marks the request answered; it reports true when the connection
// must now be closed because the server is shutting down.
func (st *connState) end() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.busy = false
	return st.closing
}

// closeIdle closes the connection with CloseIdle unless a request is in
// flight or it is closing already; no request starts after it.
func (st *connState) closeIdle() {
	st.mu.Lock()
	if st.busy || st.closing {
		st.mu.Unlock()
		return
	}
	st.markClosing()
	st.mu.Unlock()
	st.c.Close(protocol.CloseIdle, "idle timeout")
}

// goAway closes an idle connection with 1001 now, and marks a busy one to
// be closed once its response is written.
func (st *connState) goAway() {
	st.mu.Lock()
	st.markClosing()
	busy := st.busy
	st.mu.Unlock()
	if !busy {
		go st.c.Close(websocket.StatusGoingAway, "server shutting down")
	}
}

// push sends a watching connection what its revocation watch hands out,
// until the watch or the connection ends.
func (s *Server) push(ctx context.Context, c *websocket.Conn, w *account.Watch, send func([]byte) error) {
	for {
		p, err := w.Next(ctx)
		if err != nil {
			if errors.Is(err, account.ErrWatchBehind) {
				c.Close(protocol.CloseWatchBehind, "revocation watcher fell behind")
			} else if ctx.Err() == nil {
				c.Close(websocket.StatusGoingAway, "server shutting down")
			}
			return
		}
		body, err := json.Marshal(p)
		if err != nil {
			c.Close(websocket.StatusInternalError, "")
			return
		}
		plain, err := json.Marshal(protocol.Push{Push: protocol.PushRevocations, Body: body})
		if err != nil {
			c.Close(websocket.StatusInternalError, "")
			return
		}
		if err := send(plain); err != nil {
			return
		}
		s.metrics.revocationsPushed(len(p.Revoked))
	}
}
