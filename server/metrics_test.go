package server_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func httpGet(tb testing.TB, url string) (int, string) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestMetricsAndReady drives what the metrics count (operations, a
// throttled and a locked-out login) and reads them back from /metrics.
func TestMetricsAndReady(t *testing.T) {
	parallel(t)
	var logs syncBuffer
	master := servertest.MasterKey(t)
	ts := mustServe(t, sqltest.NewMySQL(t), func(c *server.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.MasterKey = master
		c.ThrottleAfter, c.LockAfter = 1, 2
	})
	c := mustDial(t, ts)
	ctx := ctxT(t)
	if _, err := c.Signup(ctx, "mia", goodPassword, ""); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Login(ctx, "mia", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "a wrong password for mia"
	c.Login(ctx, "mia", wrong)        // failure 1: the next attempt must wait 1 s
	c.Login(ctx, "mia", wrong)        // throttled: the clock has not moved
	ts.Clock.Advance(time.Second)     //
	c.Login(ctx, "mia", wrong)        // failure 2: locked (LockAfter 2)
	c.Login(ctx, "mia", goodPassword) // refused: locked out

	if code, body := httpGet(t, "http://"+ts.Addr+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %q with the database up", code, body)
	}
	code, body := httpGet(t, metricsURL(t, ts))
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		"accountd_connections 1\n",
		"accountd_connections_total 1\n",
		`accountd_operations_total{op="signup",outcome="ok"} 1` + "\n",
		`accountd_operations_total{op="login",outcome="ok"} 1` + "\n",
		`accountd_operations_total{op="login",outcome="invalid_credentials"} 4` + "\n",
		`accountd_operation_duration_seconds_count{op="login"} 5` + "\n",
		"accountd_argon2_in_flight 0\n",
		"accountd_argon2_waiting 0\n",
		"accountd_argon2_busy_total 0\n",
		`accountd_rate_limited_total{scope="ip"} 0` + "\n",
		"accountd_lockouts_total 1\n",
		"accountd_signing_keys_published 1\n",
		"accountd_db_max_open_connections 32\n",
		"accountd_db_open_connections ",
		"accountd_db_wait_count_total ",
		"accountd_db_read_retries_total 0\n",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// No secret in the logs: not the password, the token, or the master key.
	for name, secret := range map[string]string{
		"password":          goodPassword,
		"token":             tok.Token,
		"token signature":   tok.Token[strings.LastIndexByte(tok.Token, '.')+1:],
		"master key base64": base64.StdEncoding.EncodeToString(master),
	} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the %s is in the logs", name)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"request"`) {
		t.Errorf("debug logs lack the request lines; logs:\n%s", logs.String())
	}
}

// TestMetricsArgon2Queue: with one hashing slot and slow hashes, the gate's
// queue shows in the metrics while signups wait.
func TestMetricsArgon2Queue(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), func(c *server.Config) {
		c.Argon2 = account.Argon2Params{Time: 3, MemoryKiB: 32 * 1024, Threads: 1}
		c.HashConcurrency = 1
		c.HashWait = time.Minute
	})
	const clients = 4
	var wg sync.WaitGroup
	for i := range clients {
		c := mustDial(t, ts)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 3 {
				c.Signup(ctxT(t), fmt.Sprintf("queued%d-%d", i, n), goodPassword, "")
			}
		}()
	}
	waitFor(t, "one hash running and others queued", func() bool {
		_, body := httpGet(t, metricsURL(t, ts))
		return strings.Contains(body, "accountd_argon2_in_flight 1\n") &&
			!strings.Contains(body, "accountd_argon2_waiting 0\n")
	})
	wg.Wait()
	_, body := httpGet(t, metricsURL(t, ts))
	for _, want := range []string{"accountd_argon2_in_flight 0\n", "accountd_argon2_waiting 0\n",
		`accountd_operations_total{op="signup",outcome="ok"} 12` + "\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("after the load, /metrics lacks %q", want)
		}
	}
}

// metricsURL serves the server's metrics handler on a loopback port of
// its own, as --metrics-listen does, and returns its /metrics URL.
func metricsURL(tb testing.TB, ts *testServer) string {
	tb.Helper()
	m := httptest.NewServer(ts.Server().MetricsHandler())
	tb.Cleanup(m.Close)
	return m.URL + "/metrics"
}

// TestMetricsNotPublic: the public listener does not serve /metrics.
func TestMetricsNotPublic(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), nil)
	if code, _ := httpGet(t, "http://"+ts.Addr+"/metrics"); code != http.StatusNotFound {
		t.Fatalf("/metrics on the public listener = %d, want 404", code)
	}
	if code, _ := httpGet(t, metricsURL(t, ts)); code != http.StatusOK {
		t.Fatalf("/metrics on its own listener = %d", code)
	}
}
