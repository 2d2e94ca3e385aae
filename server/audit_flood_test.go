package server_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// lockedBuffer is a bytes.Buffer safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAuditFloodAggregated: 49 IPs send garbage tokens and logins for
// unknown users. Each IP's first refusal of each kind is a row (and a log
// line) at once; the rest are one row per IP and kind, with their count,
// when the interval ends (here: at shutdown), so the audit log grows by
// at most two rows per IP and kind whatever the flood's size. Wrong
// passwords for a real account stay one row per decision.
func TestAuditFloodAggregated(t *testing.T) {
	parallel(t)
	const (
		tokensPerIP = 20
		loginsPerIP = 5
	)
	st := sqltest.NewSQLite(t)
	var logs lockedBuffer
	ts := mustServe(t, st, func(c *server.Config) {
		c.AuditAggregateInterval = time.Hour
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		// Every refusal must be one of the two counted here: on a loaded
		// machine the hash and handshake queues must not answer busy.
		c.HashWait, c.HandshakeWait = time.Minute, time.Minute
	})
	// Longer than ctxT: a flood of over a thousand requests may take a
	// while on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := ts.Service().Signup(ctx, protocol.SignupRequest{Username: "owner", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, floodingIPs)
	for i := range floodingIPs {
		wg.Go(func() {
			c, err := client.Dial(ctx, ts.Addr, dialerFrom(t, sourceIP(2+i)))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for range tokensPerIP {
				if _, err := c.Authenticate(ctx, "eyJhbGciOiJQUzI1NiJ9.e30.c2lnbmF0dXJl"); !errors.Is(err, client.ErrInvalidToken) {
					errs <- err
					return
				}
			}
			for range loginsPerIP {
				if _, err := c.Login(ctx, "nobody", "some password"); !errors.Is(err, client.ErrInvalidCredentials) {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c := mustDial(t, ts)
	for range 3 {
		if _, err := c.Login(ctx, "owner", "not the password"); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}

	during := listEvents(t, st, store.AuthEventFilter{Limit: 100000})
	refusals := floodingIPs * (tokensPerIP + loginsPerIP)
	t.Logf("%d refusals in %v (%.0f/s, each one row before aggregation); %d rows written during the flood (%.0f/s)",
		refusals, took, float64(refusals)/took.Seconds(), len(during), float64(len(during))/took.Seconds())
	if n := countEvents(during, store.EventTokenRejected, "authenticate"); n != floodingIPs {
		t.Errorf("during the flood: %d token_rejected rows, want %d (one per IP)", n, floodingIPs)
	}
	if n := countEvents(during, store.EventLoginFailed, store.ReasonUnknownUser); n != floodingIPs {
		t.Errorf("during the flood: %d unknown_user rows, want %d (one per IP)", n, floodingIPs)
	}
	if n := countEvents(during, store.EventLoginFailed, store.ReasonWrongPassword); n != 3 {
		t.Errorf("%d wrong_password rows for a real account, want 3 (one per decision)", n)
	}
	if n := strings.Count(logs.String(), "msg=\"auth event\" type=token_rejected"); n != floodingIPs {
		t.Errorf("%d token_rejected log lines, want %d (one per IP)", n, floodingIPs)
	}

	ts.Stop()
	after := listEvents(t, st, store.AuthEventFilter{Limit: 100000})
	counted := map[string]int64{}
	rows := map[string]int{}
	for _, e := range after {
		if e.AccountID != "" {
			continue
		}
		n := max(e.Count, 1)
		counted[e.Type+"/"+e.Reason] += n
		rows[e.Type+"/"+e.Reason]++
		if e.Count > 0 && strings.Contains(e.IP, ":") {
			t.Errorf("aggregated row with a port or IPv6 address: %q", e.IP)
		}
	}
	for kind, want := range map[string]int{
		store.EventTokenRejected + "/authenticate":             floodingIPs * tokensPerIP,
		store.EventLoginFailed + "/" + store.ReasonUnknownUser: floodingIPs * loginsPerIP,
	} {
		if counted[kind] != int64(want) || rows[kind] != 2*floodingIPs {
			t.Errorf("%s after the interval: %d rows counting %d refusals, want %d rows counting %d", kind, rows[kind], counted[kind], 2*floodingIPs, want)
		}
	}
	if n := strings.Count(logs.String(), "msg=\"auth events aggregated\""); n != 2*floodingIPs {
		t.Errorf("%d aggregated log lines, want %d", n, 2*floodingIPs)
	}
}
