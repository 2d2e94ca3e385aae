package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// headerTransport adds headers to every request, as a proxy in front of
// the server would.
type headerTransport struct{ h http.Header }

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.h {
		r.Header[k] = v
	}
	return http.DefaultTransport.RoundTrip(r)
}

// dialWithHeaders connects through a client that adds h to the upgrade.
func dialWithHeaders(tb testing.TB, ts *testServer, h http.Header) *client.Conn {
	tb.Helper()
	_, ck := mustKeys(tb)
	c, err := client.Dial(ctxT(tb), ts.Addr, client.Options{
		Trust:           client.NewKnownServers(filepath.Join(tb.TempDir(), "known_servers")),
		TrustOnFirstUse: true,
		ClientKey:       ck,
		HTTPClient:      &http.Client{Transport: headerTransport{h}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// signupIP signs up user through a connection whose upgrade carries h and
// returns the IP the audit log recorded for the signup.
func signupIP(t *testing.T, ts *testServer, st store.Store, user string, h http.Header) string {
	t.Helper()
	c := dialWithHeaders(t, ts, h)
	if _, err := c.Signup(ctxT(t), user, goodPassword, ""); err != nil {
		t.Fatal(err)
	}
	for _, e := range listEvents(t, st, store.AuthEventFilter{}) {
		if e.Type == store.EventSignup && e.AccountID != "" {
			a, err := st.GetAccount(ctxT(t), e.AccountID)
			if err == nil && a.Username == user {
				return e.IP
			}
		}
	}
	t.Fatalf("no signup event for %s", user)
	return ""
}

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// TestTrustedProxyAudit: behind a trusted proxy the audit log records the
// client the proxy names (the rightmost hop that is not itself a trusted
// proxy); from any other peer a forwarding header is ignored.
func TestTrustedProxyAudit(t *testing.T) {
	t.Parallel()
	xff := func(v string) http.Header { return http.Header{"X-Forwarded-For": {v}} }
	fwd := func(v string) http.Header { return http.Header{"Forwarded": {v}} }
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		header  string
		h       http.Header
		want    string
	}{
		{"trusted, one hop", prefixes("127.0.0.1/32"), "", xff("203.0.113.7"), "203.0.113.7"},
		{"trusted, forged left part skipped", prefixes("127.0.0.0/8", "10.0.0.0/8"), "", xff("198.51.100.1, 203.0.113.7, 10.1.2.3"), "203.0.113.7"},
		{"trusted, two header lines", prefixes("127.0.0.1/32"), "", http.Header{"X-Forwarded-For": {"198.51.100.1", "203.0.113.8"}}, "203.0.113.8"},
		{"trusted, IPv6 with port", prefixes("127.0.0.1/32"), "", xff("[2001:db8::5]:4711"), "2001:db8::5"},
		{"trusted, garbage hop stops at the proxy", prefixes("127.0.0.1/32"), "", xff("203.0.113.7, nonsense"), "127.0.0.1"},
		{"untrusted peer, forged header ignored", prefixes("10.0.0.0/8"), "", xff("203.0.113.9"), "127.0.0.1"},
		{"no trusted proxies, forged header ignored", nil, "", xff("203.0.113.9"), "127.0.0.1"},
		{"Forwarded", prefixes("127.0.0.1/32"), server.HeaderForwarded, fwd(`for=192.0.2.60;proto=https, for="[2001:db8:cafe::17]:4711"`), "2001:db8:cafe::17"},
		{"Forwarded mode ignores X-Forwarded-For", prefixes("127.0.0.1/32"), server.HeaderForwarded, xff("203.0.113.7"), "127.0.0.1"},
		{"X-Forwarded-For mode ignores Forwarded", prefixes("127.0.0.1/32"), "", fwd("for=203.0.113.7"), "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parallel(t)
			st := sqltest.NewSQLite(t)
			ts := mustServe(t, st, func(c *server.Config) {
				c.TrustedProxies, c.ClientIPHeader = tc.trusted, tc.header
			})
			if got := signupIP(t, ts, st, "proxied", tc.h); got != tc.want {
				t.Errorf("audit IP = %q, want %q (headers %v)", got, tc.want, tc.h)
			}
		})
	}
}

// getHealth sends GET /healthz with X-Forwarded-For xff and returns the
// status.
func getHealth(t *testing.T, addr, xff string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxT(t), "GET", "http://"+addr+"/healthz", nil)
	req.Header.Set("X-Forwarded-For", xff)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTrustedProxyLimits: behind a trusted proxy each client has its own
// bucket, and the rate_limited event names the client; a peer that is
// not trusted cannot escape its bucket by forging the header. The clock
// is stopped, so no token comes back during the test.
func TestTrustedProxyLimits(t *testing.T) {
	parallel(t)
	limit := func(trusted []netip.Prefix) func(*server.Config) {
		return func(c *server.Config) { c.RateLimit, c.RateBurst, c.TrustedProxies = 1, 2, trusted }
	}
	st := sqltest.NewSQLite(t)
	ts := mustServe(t, st, limit(prefixes("127.0.0.1/32")))
	for i, want := range []int{200, 200, 429} {
		if got := getHealth(t, ts.Addr, "203.0.113.1"); got != want {
			t.Fatalf("client A request %d: status %d, want %d", i+1, got, want)
		}
	}
	if got := getHealth(t, ts.Addr, "203.0.113.2"); got != 200 {
		t.Fatalf("client B, first request: status %d, want 200 (its own bucket)", got)
	}
	ev := listEvents(t, st, store.AuthEventFilter{})
	if len(ev) != 1 || ev[0].Type != store.EventRateLimited || ev[0].IP != "203.0.113.1" {
		t.Fatalf("audit log = %+v, want one rate_limited event for 203.0.113.1", ev)
	}

	st2 := sqltest.NewSQLite(t)
	untrusted := mustServe(t, st2, limit(prefixes("10.0.0.0/8")))
	for i, want := range []int{200, 200, 429, 429} {
		if got := getHealth(t, untrusted.Addr, fmt.Sprintf("203.0.113.%d", i+1)); got != want {
			t.Fatalf("untrusted peer, forged header %d: status %d, want %d", i+1, got, want)
		}
	}
	ev = listEvents(t, st2, store.AuthEventFilter{})
	if len(ev) != 1 || ev[0].IP != "127.0.0.1" {
		t.Fatalf("audit log = %+v, want one rate_limited event for 127.0.0.1", ev)
	}
}

// servePROXY starts a server behind ProxyListener and returns its address.
func servePROXY(t *testing.T, st store.Store, edit func(*server.Config)) string {
	t.Helper()
	ts := mustServe(t, st, edit)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := ts.Server().HTTPServer("")
	go hs.Serve(ts.Server().ProxyListener(ln))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// rawGet sends a PROXY v1 line (when not empty) and GET /healthz on one
// connection and returns the status line, or the read error.
func rawGet(t *testing.T, addr, proxyLine string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "%sGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", proxyLine)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSpace(line)
}

// TestProxyProtocol: a trusted balancer's PROXY header sets the client IP
// (limits and audit); an untrusted peer's PROXY header ends its
// connection, while its plain requests are served; with the setting off
// the header is not parsed at all.
func TestProxyProtocol(t *testing.T) {
	parallel(t)
	const hdr = "PROXY TCP4 203.0.113.50 127.0.0.1 40000 8080\r\n"
	st := sqltest.NewSQLite(t)
	addr := servePROXY(t, st, func(c *server.Config) {
		c.RateLimit, c.RateBurst, c.TrustedProxies, c.ProxyProtocol = 1, 1, prefixes("127.0.0.1/32"), true
	})
	if got := rawGet(t, addr, hdr); !strings.Contains(got, " 200 ") {
		t.Fatalf("trusted PROXY request: %q, want 200", got)
	}
	if got := rawGet(t, addr, hdr); !strings.Contains(got, " 429 ") {
		t.Fatalf("second trusted PROXY request from the same client: %q, want 429", got)
	}
	if got := rawGet(t, addr, ""); !strings.Contains(got, " 200 ") {
		t.Fatalf("the balancer's own request: %q, want 200 (another bucket)", got)
	}
	ev := listEvents(t, st, store.AuthEventFilter{})
	if len(ev) != 1 || ev[0].IP != "203.0.113.50" {
		t.Fatalf("audit log = %+v, want one rate_limited event for 203.0.113.50", ev)
	}

	untrusted := servePROXY(t, sqltest.NewSQLite(t), func(c *server.Config) {
		c.TrustedProxies, c.ProxyProtocol = prefixes("10.0.0.0/8"), true
	})
	if got := rawGet(t, untrusted, hdr); strings.Contains(got, " 200 ") {
		t.Fatalf("untrusted peer's PROXY header was accepted: %q", got)
	}
	if got := rawGet(t, untrusted, ""); !strings.Contains(got, " 200 ") {
		t.Fatalf("untrusted peer's plain request: %q, want 200", got)
	}

	off := servePROXY(t, sqltest.NewSQLite(t), func(c *server.Config) { c.TrustedProxies = prefixes("127.0.0.1/32") })
	if got := rawGet(t, off, hdr); !strings.Contains(got, " 400 ") {
		t.Fatalf("PROXY header with the setting off: %q, want 400 (not HTTP)", got)
	}
}

// TestReconfigureOrigins: a server started without allowed origins refuses
// a cross-origin upgrade; after Reconfigure allows the origin, the same
// upgrade is accepted, and a rate change applies to the next request.
func TestReconfigureOrigins(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), nil)
	upgrade := func() int {
		req, _ := http.NewRequestWithContext(ctxT(t), "GET", "http://"+ts.Addr+"/ws", nil)
		req.Header.Set("Origin", "https://a.example")
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Sec-WebSocket-Protocol", "accountd.v2")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := upgrade(); got != http.StatusForbidden {
		t.Fatalf("cross-origin upgrade before: %d, want 403", got)
	}
	cfg := ts.Config
	cfg.AllowedOrigins = []string{"https://a.example", "https://b.example"}
	if err := ts.Server().Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if got := upgrade(); got != http.StatusSwitchingProtocols {
		t.Fatalf("cross-origin upgrade after Reconfigure: %d, want 101", got)
	}
	cfg.RateLimit, cfg.RateBurst = 1, 1
	if err := ts.Server().Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if a, b := getHealth(t, ts.Addr, ""), getHealth(t, ts.Addr, ""); a != 200 || b != 429 {
		t.Fatalf("after lowering the rate to burst 1: statuses %d, %d; want 200, 429", a, b)
	}
	cfg.ClientIPHeader = "X-Real-IP"
	if err := ts.Server().Reconfigure(cfg); err == nil {
		t.Fatal("Reconfigure accepted client IP header X-Real-IP")
	}
}
