package server

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/accountd/accountd/server/account"
)

// Listener wraps ln so that connections past the caps are closed as soon
// as they are accepted, before a byte is read: at most MaxConns at once,
// and at most MaxConnsPerIP from one client IP (IPv6: one /64). Serve the
// server's handler on it (HTTPServer's Serve).
func (s *Server) Listener(ln net.Listener) net.Listener {
	return &capListener{Listener: ln, max: s.cfg.MaxConns, perIP: s.cfg.MaxConnsPerIP, byIP: make(map[string]int), m: s.metrics,
		proxy: func(c net.Conn) bool {
			ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
			return err == nil && trusted(s.current().TrustedProxies, ap.Addr().Unmap())
		}}
}

// capListener is Server.Listener's wrapper. Safe for concurrent use.
type capListener struct {
	net.Listener
	max, perIP int
	m          *metrics
	// proxy reports a connection from a trusted proxy: it carries many
	// clients, so only the global cap applies to it (their own addresses
	// are limited per request, once the headers name them).
	proxy func(net.Conn) bool

	mu    sync.Mutex
	total int
	byIP  map[string]int
}

// Accept returns the next connection within the caps; those past them
// are closed at once and counted, and Accept waits for the next.
func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := connKey(c)
		if l.proxy(c) {
			key = ""
		}
		if l.admit(key) {
			return &cappedConn{Conn: c, release: func() { l.release(key) }}, nil
		}
		l.m.connRefused.Inc()
		if tc, ok := c.(*net.TCPConn); ok {
			// Reset rather than linger: a refused client gets no
			// TIME_WAIT on the server's side.
			tc.SetLinger(0)
		}
		c.Close()
	}
}

func connKey(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return account.ClientKey(host)
}

func (l *capListener) admit(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || (key != "" && l.byIP[key] >= l.perIP) {
		return false
	}
	l.total++
	if key != "" {
		l.byIP[key]++
	}
	l.m.openConns.Set(float64(l.total))
	return true
}

func (l *capListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if key == "" {
		return
	}
	if l.byIP[key]--; l.byIP[key] <= 0 {
		delete(l.byIP, key)
	}
	l.m.openConns.Set(float64(l.total))
}

// cappedConn gives its place back when closed, once.
type cappedConn struct {
	net.Conn
	closed  atomic.Bool
	release func()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	if !c.closed.Swap(true) {
		c.release()
	}
	return err
}
