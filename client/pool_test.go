package client_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
)

// slowArgon2 makes a login take a few hundred milliseconds of one core,
// like a production hash on a busy machine.
var slowArgon2 = account.Argon2Params{Time: 6, MemoryKiB: 32 << 10, Threads: 1}

// duringLogin is what authenticate calls saw while logins ran beside
// them on one Client.
type duringLogin struct {
	logins, auths  int
	elapsed        time.Duration
	slowestLogin   time.Duration
	fastestLogin   time.Duration
	slowestAuth    time.Duration
	authsInLogin   int // completed while a login was in flight
	authsPerSecond float64
}

// runDuringLogin runs authenticators goroutines calling Authenticate in a
// loop on one Client of maxConns connections while this goroutine logs in
// logins times.
func runDuringLogin(tb testing.TB, maxConns, authenticators, logins int) duringLogin {
	tb.Helper()
	ts := servertest.MustStart(tb, func(c *server.Config) { c.Argon2 = slowArgon2 })
	_, ck := servertest.Keys(tb)
	c, err := client.NewClient(ts.Addr, client.Options{
		Trust:           client.NewKnownServers(filepath.Join(tb.TempDir(), "known_servers")),
		TrustOnFirstUse: true,
		ClientKey:       ck,
		MaxConns:        maxConns,
	})
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.Signup(ctx, "slow", password, ""); err != nil {
		tb.Fatal(err)
	}
	tok, err := c.Login(ctx, "slow", password)
	if err != nil {
		tb.Fatal(err)
	}
	// Open every connection first, so that no handshake is counted.
	var warm sync.WaitGroup
	for range max(maxConns, 1) {
		warm.Go(func() { c.Authenticate(ctx, tok.Token) })
	}
	warm.Wait()

	var (
		mu       sync.Mutex
		inLogin  bool
		r        duringLogin
		firstErr error
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for range authenticators {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				_, err := c.Authenticate(ctx, tok.Token)
				d := time.Since(t0)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				r.auths++
				r.slowestAuth = max(r.slowestAuth, d)
				if inLogin {
					r.authsInLogin++
				}
				mu.Unlock()
			}
		})
	}
	r.fastestLogin = time.Hour
	for range logins {
		mu.Lock()
		inLogin = true
		mu.Unlock()
		t0 := time.Now()
		_, err := c.Login(ctx, "slow", password)
		d := time.Since(t0)
		mu.Lock()
		inLogin = false
		if err != nil && firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		r.logins++
		r.slowestLogin = max(r.slowestLogin, d)
		r.fastestLogin = min(r.fastestLogin, d)
	}
	close(stop)
	wg.Wait()
	r.elapsed = time.Since(start)
	r.authsPerSecond = float64(r.auths) / r.elapsed.Seconds()
	if firstErr != nil {
		tb.Fatal(firstErr)
	}
	return r
}

// TestSlowLoginDoesNotBlockAuthenticate: on one Client, 16 goroutines'
// authenticate calls go on while another goroutine's login waits for its
// password hash. With a single connection (the control) they cannot:
// each waits for the login, which shows the test can tell.
func TestSlowLoginDoesNotBlockAuthenticate(t *testing.T) {
	t.Parallel()
	const authenticators, logins = 16, 3
	pool := runDuringLogin(t, client.DefaultMaxConns, authenticators, logins)
	t.Logf("pool of %d: %+v", client.DefaultMaxConns, pool)
	// On one connection, a goroutine's calls answered while a login is
	// in flight are the one sent before it, and at most one more whose
	// answer, right behind the login's, is counted before the login's
	// caller marks the login over: more than that means authenticate
	// calls went on beside the logins. Counted, not timed, so that a
	// loaded machine cannot decide it.
	most := 2 * authenticators * logins
	if pool.authsInLogin <= most {
		t.Errorf("pool: %d authenticate calls completed during %d logins; one connection allows at most %d, so they waited for the logins", pool.authsInLogin, pool.logins, most)
	}

	serial := runDuringLogin(t, 1, authenticators, logins)
	t.Logf("one connection: %+v", serial)
	if serial.authsInLogin > most {
		t.Errorf("control: %d authenticate calls completed during %d logins on one connection, more than the %d it allows", serial.authsInLogin, serial.logins, most)
	}
	if serial.slowestAuth < serial.fastestLogin/2 {
		t.Errorf("control: on one connection the slowest authenticate took %v, under half the fastest login %v: the scenario does not make logins slow enough to tell", serial.slowestAuth, serial.fastestLogin)
	}
}

// BenchmarkAuthenticateDuringLogin reports the authenticate rate of 16
// goroutines on one Client while another goroutine logs in b.N times,
// with the default pool and with one connection.
func BenchmarkAuthenticateDuringLogin(b *testing.B) {
	for _, bc := range []struct {
		name  string
		conns int
	}{{"pool", client.DefaultMaxConns}, {"one-conn", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			r := runDuringLogin(b, bc.conns, 16, b.N)
			b.ReportMetric(r.authsPerSecond, "auth/s")
			b.ReportMetric(float64(r.slowestAuth.Microseconds())/1000, "max-auth-ms")
			b.ReportMetric(float64(r.slowestLogin.Microseconds())/1000, "max-login-ms")
			b.ReportMetric(float64(r.authsInLogin)/float64(r.logins), "auths/login")
		})
	}
}
