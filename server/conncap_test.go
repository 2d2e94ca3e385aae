package server_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/servertest"
)

// slowHeaders opens n connections from src to addr, each sending the
// first line of a request and nothing more, as a slow-headers attack
// does; a connection reset while it is made is nil. The connections are
// closed at cleanup.
func slowHeaders(tb testing.TB, addr string, src net.IP, n int) []net.Conn {
	tb.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 5 * time.Second}
	var conns []net.Conn
	for range n {
		c, err := d.Dial("tcp", addr)
		if errors.Is(err, syscall.ECONNRESET) {
			conns = append(conns, nil)
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
		c.Write([]byte("GET /healthz HTTP/1.1\r\n"))
		conns = append(conns, c)
	}
	return conns
}

// serveCapped serves ts's handler on a new loopback listener with ts's
// connection caps and returns its address. The server's header timeout
// (5 s) is lifted: it would close the slow-header connections the caps
// let through, and on a loaded machine opening and checking them can
// take that long.
func serveCapped(tb testing.TB, ts *testServer) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := ts.Server().HTTPServer("")
	hs.ReadHeaderTimeout = time.Minute
	go hs.Serve(ts.Server().Listener(ln))
	tb.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// held counts the connections the server still holds open: a read
// that times out (rather than ending) means the server waits for more.
// The connections are read at once, so the check takes 300 ms however
// many there are.
func held(conns []net.Conn) int {
	var n atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		if c == nil {
			continue
		}
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			var b [1]byte
			if _, err := c.Read(b[:]); errors.Is(err, os.ErrDeadlineExceeded) {
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return int(n.Load())
}

// TestConnectionCaps: connections past the per-IP cap, then past the
// global cap, are closed at accept, before any header is read, while
// slow-header connections hold the others; a plain listener (no caps)
// holds them all. Freed places are taken again.
func TestConnectionCaps(t *testing.T) {
	parallel(t)
	const perIP, total, attempts = 8, 12, 20
	ts := servertest.MustStart(t, func(c *server.Config) { c.MaxConns, c.MaxConnsPerIP = total, perIP })
	addr := serveCapped(t, ts)

	a := slowHeaders(t, addr, sourceIP(2), attempts)
	b := slowHeaders(t, addr, sourceIP(3), attempts)
	heldA, heldB := held(a), held(b)
	t.Logf("capped listener: %d of %d held from one IP, %d of %d from a second (caps %d per IP, %d in all)", heldA, attempts, heldB, attempts, perIP, total)
	if heldA != perIP || heldB != total-perIP {
		t.Fatalf("held %d and %d, want %d (per-IP cap) and %d (the rest of the global cap)", heldA, heldB, perIP, total-perIP)
	}
	for _, c := range a {
		if c != nil {
			c.Close()
		}
	}
	time.Sleep(100 * time.Millisecond) // the server sees the closes
	c := slowHeaders(t, addr, sourceIP(4), attempts)
	if n := held(c); n != perIP {
		t.Fatalf("after the first IP left, a third IP holds %d, want %d", n, perIP)
	}

	// The same attack on the handler served without the caps.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := ts.Server().HTTPServer("")
	hs.ReadHeaderTimeout = time.Minute
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	plain := slowHeaders(t, ln.Addr().String(), sourceIP(5), attempts)
	n := held(plain)
	t.Logf("plain listener: %d of %d held from one IP", n, attempts)
	if n != attempts {
		t.Fatalf("plain listener held %d of %d", n, attempts)
	}
}

// TestIdleConnectionClosed: a connection with no request for the idle
// timeout is closed with 4003, and a client.Client carries on through
// it, repeating even a signup, which the server never received.
func TestIdleConnectionClosed(t *testing.T) {
	t.Parallel()
	// Requests in the busy part come every fifth of it: a loaded machine
	// may delay one by 1.6 s before the connection counts as idle.
	const idle = 2 * time.Second
	ts := servertest.MustStart(t, func(c *server.Config) { c.IdleTimeout = idle })
	ctx := ctxT(t)

	conn := mustDial(t, ts)
	if _, err := conn.Signup(ctx, "first", goodPassword, ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * idle)
	_, err := conn.Login(ctx, "first", goodPassword)
	if !errors.Is(err, client.ErrConnection) || !strings.Contains(err.Error(), "idle") {
		t.Fatalf("a call on a connection idle for %v: %v, want a connection error saying idle", 2*idle, err)
	}

	_, ck := servertest.Keys(t)
	c, err := client.NewClient(ts.Addr, client.Options{
		Trust:           client.NewKnownServers(filepath.Join(t.TempDir(), "known_servers")),
		TrustOnFirstUse: true,
		ClientKey:       ck,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Signup(ctx, "second", goodPassword, ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * idle)
	if _, err := c.Signup(ctx, "third", goodPassword, ""); err != nil {
		t.Fatalf("signup after the server closed the idle connection: %v", err)
	}
	time.Sleep(2 * idle)
	if _, err := c.Login(ctx, "third", goodPassword); err != nil {
		t.Fatalf("login after the server closed the idle connection: %v", err)
	}
	// A connection in use is not closed: requests closer than the idle
	// timeout keep it.
	c2 := mustDial(t, ts)
	for range 8 {
		time.Sleep(idle / 5)
		if _, err := c2.Authenticate(ctx, "x.y.z"); !errors.Is(err, client.ErrInvalidToken) {
			t.Fatalf("a busy connection: %v", err)
		}
	}
}

// TestConnectionCapsTrustedProxy: a trusted proxy carries many clients'
// connections, so the per-IP cap does not apply to it; the global cap
// still does.
func TestConnectionCapsTrustedProxy(t *testing.T) {
	parallel(t)
	const perIP, total, attempts = 4, 10, 16
	proxy := sourceIP(7)
	ts := servertest.MustStart(t, func(c *server.Config) {
		c.MaxConns, c.MaxConnsPerIP = total, perIP
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix(proxy.String() + "/32")}
	})
	conns := slowHeaders(t, serveCapped(t, ts), proxy, attempts)
	if n := held(conns); n != total {
		t.Fatalf("a trusted proxy holds %d of %d connections, want %d (the global cap, not the per-IP %d)", n, attempts, total, perIP)
	}
}
