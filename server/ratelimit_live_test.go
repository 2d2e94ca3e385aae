package server_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// defaultLimits undoes mustServe's raised rate limit.
func defaultLimits(c *server.Config) { c.RateLimit, c.RateBurst = 0, 0 }

// listEvents and countEvents read the audit log (servertest.Events).
var (
	listEvents  = servertest.Events
	countEvents = servertest.CountEvents
)

// TestRateLimitDefault shows the default per-IP limit (burst 20, then
// 10/s) on a real server whose clock moves only when the test says:
// exactly 20 requests pass, then operations get rate_limited with
// retry_after_ms, one audit event marks the run, and the wait it names is
// enough.
func TestRateLimitDefault(t *testing.T) {
	parallel(t)
	st := sqltest.NewSQLite(t)
	ts := mustServe(t, st, defaultLimits)
	ctx := ctxT(t)
	c := mustDial(t, ts) // the upgrade is one request
	allowed, limited := 1, 0
	var refusal *client.ServerError
	var refusedFrom time.Time // when the refused request was sent
	for i := 0; i < 100 && limited == 0; i++ {
		refusedFrom = time.Now()
		_, err := c.Authenticate(ctx, "not.a.token")
		var se *client.ServerError
		switch {
		case errors.Is(err, client.ErrInvalidToken):
			allowed++
		case errors.As(err, &se) && se.Code == protocol.CodeRateLimited:
			limited++
			refusal = se
		default:
			t.Fatalf("request %d: %v", i, err)
		}
	}
	t.Logf("default limit: %d requests allowed at one instant, then rate_limited with retry_after %v", allowed, refusal.RetryAfter)
	if limited != 1 || allowed != 20 {
		t.Fatalf("%d allowed, then %d limited; want 20 allowed, then limited", allowed, limited)
	}
	if refusal.RetryAfter != 100*time.Millisecond {
		t.Fatalf("retry after %v, want 100ms at 10/s", refusal.RetryAfter)
	}
	// A second refusal in the same run writes no second event. The
	// connection is not read again until the wait the refusal named has
	// passed (by the wall clock, from when the refusal was sent), so a
	// client that asks again at once is paced by it.
	if _, err := c.Authenticate(ctx, "not.a.token"); !errors.As(err, new(*client.ServerError)) {
		t.Fatalf("second refusal: %v", err)
	}
	if took := time.Since(refusedFrom); took < refusal.RetryAfter {
		t.Fatalf("a request right after a refusal was answered %v after the refused one was sent, before its retry_after %v", took, refusal.RetryAfter)
	}
	ev := listEvents(t, st, store.AuthEventFilter{})
	if n := countEvents(ev, store.EventRateLimited, ""); n != 1 {
		t.Fatalf("%d rate_limited events for one run of refusals, want 1", n)
	}
	if e := ev[len(ev)-1]; e.Type != store.EventRateLimited || e.IP != "127.0.0.1" || e.Reason != "authenticate" {
		t.Fatalf("last event %+v, want rate_limited authenticate from 127.0.0.1", e)
	}
	ts.Clock.Advance(refusal.RetryAfter)
	if _, err := c.Authenticate(ctx, "not.a.token"); !errors.Is(err, client.ErrInvalidToken) {
		t.Fatalf("after waiting retry_after: %v", err)
	}
	if _, err := c.Authenticate(ctx, "not.a.token"); !errors.As(err, new(*client.ServerError)) {
		t.Fatalf("a second request after one token refilled: %v, want rate_limited", err)
	}
}

// TestRateLimitHTTP: the HTTP endpoints answer 429 after a pause of a
// second (so that a client that asks again at once is paced by it), with
// a Retry-After that counts from then, and the refusals are counted in
// the metrics (read from another loopback address, which has a bucket of
// its own). The server's clock stands still, so 60 requests at once find
// exactly the burst of 20; at a request every 4 s, a refused one may ask
// again 3 s after its 429.
func TestRateLimitHTTP(t *testing.T) {
	t.Parallel()
	ts := mustServe(t, sqltest.NewSQLite(t), func(c *server.Config) { c.RateLimit, c.RateBurst = 0.25, 20 })
	type answer struct {
		status     int
		retryAfter string
		took       time.Duration
	}
	answers := make([]answer, 60)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			start := time.Now()
			resp, err := http.Get("http://" + ts.Addr + "/healthz")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			answers[i] = answer{resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(start)}
		})
	}
	wg.Wait()
	ok, limited, retryAfter := 0, 0, ""
	var fastest time.Duration
	for _, a := range answers {
		switch a.status {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			if limited == 0 || a.took < fastest {
				fastest = a.took
			}
			limited++
			retryAfter = a.retryAfter
		default:
			t.Fatalf("status %d", a.status)
		}
	}
	t.Logf("HTTP: %d of 60 allowed at one instant, %d answered 429 (the fastest after %v), Retry-After: %s", ok, limited, fastest, retryAfter)
	if ok != 20 || limited != 40 || retryAfter != "3" {
		t.Fatalf("%d ok, %d limited (Retry-After %q); want 20 ok, then 40 answered 429 with Retry-After: 3", ok, limited, retryAfter)
	}
	if fastest < time.Second {
		t.Fatalf("a 429 came after %v, before its pause of 1 s", fastest)
	}
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	defer other.CloseIdleConnections()
	resp, err := other.Get(metricsURL(t, ts))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `accountd_rate_limited_total{scope="ip"} 40` + "\n"; resp.StatusCode != 200 || !strings.Contains(string(body), want) {
		t.Fatalf("/metrics from 127.0.0.2: %d, lacks %q", resp.StatusCode, want)
	}
}
