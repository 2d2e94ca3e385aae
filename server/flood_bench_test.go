package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/coder/websocket"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
)

// sourceIP returns the loopback address 127.0.0.n: Linux routes all of
// 127/8 to lo, so a dialer bound to it poses as another client IP.
func sourceIP(n int) net.IP { return net.IPv4(127, 0, 0, byte(n)) }

// dialerFrom returns client options whose connections come from src.
func dialerFrom(tb testing.TB, src net.IP) client.Options {
	tb.Helper()
	_, ck := servertest.Keys(tb)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	tb.Cleanup(tr.CloseIdleConnections)
	return client.Options{
		Trust:           client.NewKnownServers(filepath.Join(tb.TempDir(), "known_servers")),
		TrustOnFirstUse: true,
		ClientKey:       ck,
		HTTPClient:      &http.Client{Transport: tr},
	}
}

// flood is attackers on IPs 127.0.0.2 … 127.0.0.(1+ips), each running
// loginConns connections that send wrong-password logins back to back
// and handshakeConns loops that dial, handshake and hang up. It counts
// what the attackers saw.
type flood struct {
	logins, handshakes, busy, limited, failed atomic.Int64
}

func (f *flood) run(ctx context.Context, tb testing.TB, addr string, ips, loginConns, handshakeConns int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i := range ips {
		opts := dialerFrom(tb, sourceIP(2+i))
		for range loginConns {
			wg.Go(func() {
				for ctx.Err() == nil {
					c, err := client.Dial(ctx, addr, opts)
					if err != nil {
						f.failed.Add(1)
						sleepCtx(ctx, 50*time.Millisecond)
						continue
					}
					for ctx.Err() == nil {
						_, err := c.Login(ctx, "victim", fmt.Sprintf("guess number %d wrong", i))
						f.count(err)
						if errors.Is(err, client.ErrConnection) || errors.Is(err, client.ErrServerShuttingDown) {
							break
						}
					}
					c.Close()
				}
			})
		}
		for range handshakeConns {
			wg.Go(func() {
				for ctx.Err() == nil {
					f.count(cheapHandshake(ctx, tb, addr, opts.HTTPClient))
				}
			})
		}
	}
	return &wg
}

// cheapHandshake makes the server decrypt a client_hello and hangs up
// without decrypting the answer: what a flood costs its sender.
func cheapHandshake(ctx context.Context, tb testing.TB, addr string, hc *http.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		return err
	}
	defer ws.CloseNow()
	_, hello, err := ws.Read(ctx)
	if err != nil {
		return err
	}
	_, ck := servertest.Keys(tb)
	hs, err := protocol.NewClientHandshake(protocol.Version, hello, ck, nil)
	if err != nil {
		return err
	}
	if err := ws.Write(ctx, websocket.MessageText, hs.ClientHello()); err != nil {
		return err
	}
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) == protocol.CloseBusy {
		return client.ErrBusy
	} else if err != nil {
		return err
	}
	return errHandshaken
}

// errHandshaken is cheapHandshake's success: the server answered.
var errHandshaken = errors.New("handshake answered")

func (f *flood) count(err error) {
	switch {
	case err == nil:
	case errors.Is(err, errHandshaken):
		f.handshakes.Add(1)
	case errors.Is(err, client.ErrInvalidCredentials):
		f.logins.Add(1)
	case errors.Is(err, client.ErrBusy):
		f.busy.Add(1)
	case errors.Is(err, client.ErrRateLimited):
		f.limited.Add(1)
	default:
		f.failed.Add(1)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// legitLogins dials from 127.0.0.1 and logs in n times, one every gap,
// each on a fresh connection (handshake included), returning each
// login's and each handshake's latency and how many logins were busy.
func legitLogins(ctx context.Context, tb testing.TB, addr string, n int, gap time.Duration) (logins, handshakes []time.Duration, busy int) {
	return legitLoginsFrom(ctx, tb, addr, n, gap, func(int) net.IP { return sourceIP(1) })
}

// legitLoginsFrom is legitLogins with the i-th login from src(i).
func legitLoginsFrom(ctx context.Context, tb testing.TB, addr string, n int, gap time.Duration, src func(i int) net.IP) (logins, handshakes []time.Duration, busy int) {
	for i := range n {
		opts := dialerFrom(tb, src(i))
		start := time.Now()
		c, err := client.Dial(ctx, addr, opts)
		if err != nil {
			tb.Fatalf("legitimate dial: %v", err)
		}
		mid := time.Now()
		_, err = c.Login(ctx, "owner", goodPassword)
		end := time.Now()
		c.Close()
		switch {
		case errors.Is(err, client.ErrBusy):
			busy++
		case err != nil:
			tb.Errorf("legitimate login after %v: %v", end.Sub(mid), err)
		}
		handshakes = append(handshakes, mid.Sub(start))
		logins = append(logins, end.Sub(mid))
		sleepCtx(ctx, gap)
	}
	return logins, handshakes, busy
}

func p50(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestFloodSource is not a test: BenchmarkLoginUnderFlood runs the test
// binary again with ACCOUNTD_FLOOD_ADDR set to flood that server from a
// process of its own, as an attacker would, until it is killed. Without
// the variable it returns at once.
func TestFloodSource(t *testing.T) {
	addr := os.Getenv("ACCOUNTD_FLOOD_ADDR")
	if addr == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var f flood
	wg := f.run(ctx, t, addr, 49, 4, 2)
	for ctx.Err() == nil {
		sleepCtx(ctx, time.Second)
		fmt.Printf("logins=%d handshakes=%d busy=%d limited=%d failed=%d\n",
			f.logins.Load(), f.handshakes.Load(), f.busy.Load(), f.limited.Load(), f.failed.Load())
	}
	wg.Wait()
}

// startFlood runs TestFloodSource against addr in another process and
// returns a function that stops it and returns the last counts it
// printed.
func startFlood(tb testing.TB, addr string) (stop func() string) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFloodSource$", "-test.v=false")
	cmd.Env = append(os.Environ(), "ACCOUNTD_FLOOD_ADDR="+addr)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return func() string {
		cmd.Process.Kill()
		cmd.Wait()
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		return lines[len(lines)-1]
	}
}

// BenchmarkLoginUnderFlood measures a legitimate client's login and
// handshake latency while 49 other loopback IPs, in another process,
// flood wrong-password logins and handshakes, and then quiet, against a
// server with the production Argon2 parameters and the default limits.
// The legitimate clients are 16 users on IPs of their own
// (127.0.0.101…116), logging in once each, 3 s apart: under a fair gate
// a client that hashes more often than each flooding IP gets served is
// one of the heavy ones. It reports the medians (ms), how often a
// legitimate client was busy, and prints the attackers' counts.
func BenchmarkLoginUnderFlood(b *testing.B) {
	ts := servertest.MustStart(b, func(c *server.Config) {
		c.Argon2 = account.DefaultArgon2
		c.RateLimit, c.RateBurst, c.HashRate, c.HashBurst = 0, 0, 0, 0
		c.HashesPerClient, c.HandshakesPerClient = 0, 0
		c.Now = time.Now
		if f := os.Getenv("ACCOUNTD_FLOOD_LOG"); f != "" {
			w, err := os.Create(f)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { w.Close() })
			c.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	for _, u := range []string{"owner", "victim"} {
		if _, err := ts.Service().Signup(ctx, protocol.SignupRequest{Username: u, Password: goodPassword}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		stop := startFlood(b, ts.Addr)
		sleepCtx(ctx, 5*time.Second)
		start := time.Now()
		floodLogin, floodHS, busy := legitLoginsFrom(ctx, b, ts.Addr, 16, 3*time.Second, func(i int) net.IP { return sourceIP(101 + i) })
		secs := time.Since(start).Seconds()
		counts := stop()
		b.Logf("attackers, %.0f s of flood: %s", secs+5, counts)
		sleepCtx(ctx, 5*time.Second)
		quietLogin, quietHS, _ := legitLoginsFrom(ctx, b, ts.Addr, 16, 500*time.Millisecond, func(i int) net.IP { return sourceIP(121 + i) })
		b.Logf("quiet logins %v\nflood logins %v\nquiet handshakes %v\nflood handshakes %v", quietLogin, floodLogin, quietHS, floodHS)
		b.ReportMetric(float64(p50(quietLogin))/1e6, "quiet-login-p50-ms")
		b.ReportMetric(float64(p50(floodLogin))/1e6, "flood-login-p50-ms")
		b.ReportMetric(float64(p50(quietHS))/1e6, "quiet-handshake-p50-ms")
		b.ReportMetric(float64(p50(floodHS))/1e6, "flood-handshake-p50-ms")
		b.ReportMetric(float64(p50(floodLogin))/float64(p50(quietLogin)), "flood/quiet-login-p50")
		b.ReportMetric(float64(busy), "legit-busy")
	}
}
