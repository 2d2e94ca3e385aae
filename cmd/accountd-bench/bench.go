package main

import (
	"context"
	crand "crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/accountd/accountd/client"
)

type benchOptions struct {
	server, spawn, spawnDB, spawnDSN string
	serverB, serviceKey              string
	spawnCPUs                        string
	pid                              int
	concurrency                      string
	duration, warmup                 time.Duration
	maxOps, idle, sessions           int
	json, limits                     bool
	scenarios                        []string
}

// Result is one scenario run at one concurrency.
type Result struct {
	Scenario    string         `json:"scenario"`
	Concurrency int            `json:"concurrency,omitempty"`
	IdleConns   int            `json:"idle_conns,omitempty"`
	Ops         int            `json:"ops,omitempty"`
	Seconds     float64        `json:"seconds,omitempty"`
	OpsPerSec   float64        `json:"ops_per_sec,omitempty"`
	P50MS       float64        `json:"p50_ms,omitempty"`
	P95MS       float64        `json:"p95_ms,omitempty"`
	P99MS       float64        `json:"p99_ms,omitempty"`
	MaxMS       float64        `json:"max_ms,omitempty"`
	Errors      map[string]int `json:"errors,omitempty"`
	// ServerRSSBytes is the server's peak resident set during the run
	// (sampled every 50 ms), when its pid is known.
	ServerRSSBytes int64 `json:"server_rss_bytes,omitempty"`
	// ServerRSSBeforeBytes is the server's RSS before the run.
	ServerRSSBeforeBytes int64 `json:"server_rss_before_bytes,omitempty"`
	// LimitPerSec is the machine's limit for this scenario (Argon2id
	// hashes/s for login, RSA-3072 OAEP decryptions/s for handshake),
	// measured just before and just after the run and averaged, with
	// --limits; Ratio is OpsPerSec / LimitPerSec.
	LimitPerSec float64 `json:"limit_per_sec,omitempty"`
	// IdleBytesPerConn is the server RSS the idle connections added,
	// per connection (idle scenario, with the server's pid).
	IdleBytesPerConn float64 `json:"idle_bytes_per_conn,omitempty"`
	Ratio            float64 `json:"ratio,omitempty"`
	// LimitCPUs is how many cores LimitPerSec was measured on: those the
	// spawned server is pinned to, else all the generator may use.
	LimitCPUs int `json:"limit_cpus,omitempty"`
	// ServerCPUs is the CPU list the spawned server is pinned to, if any;
	// GeneratorCPUs is how many CPUs the generator may use.
	ServerCPUs    string `json:"server_cpus,omitempty"`
	GeneratorCPUs int    `json:"generator_cpus,omitempty"`
}

func (r *Result) line() string {
	s := fmt.Sprintf("%-12s c=%-4d %8.1f ops/s  p50 %8.3f ms  p95 %8.3f ms  p99 %8.3f ms  max %8.3f ms  errors %d",
		r.Scenario, r.Concurrency, r.OpsPerSec, r.P50MS, r.P95MS, r.P99MS, r.MaxMS, sum(r.Errors))
	if r.ServerRSSBytes > 0 {
		s += fmt.Sprintf("  server peak RSS %.1f MB", float64(r.ServerRSSBytes)/1e6)
	}
	if r.LimitPerSec > 0 {
		s += fmt.Sprintf("  limit %.1f/s on %d CPU(s), ratio %.2f", r.LimitPerSec, r.LimitCPUs, r.Ratio)
	}
	if r.ServerCPUs != "" {
		s += fmt.Sprintf("  server on CPUs %s, generator on %d CPU(s)", r.ServerCPUs, r.GeneratorCPUs)
	}
	if r.IdleBytesPerConn > 0 {
		s += fmt.Sprintf("  %d idle connections, %.1f KiB RSS each", r.IdleConns, r.IdleBytesPerConn/1024)
	}
	return s
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func printTable(w io.Writer, results []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tconc\tidle\tops/s\tlimit/s\tratio\tp50 ms\tp95 ms\tp99 ms\tmax ms\terrors\tserver RSS MB\t")
	for _, r := range results {
		rss := "-"
		if r.ServerRSSBytes > 0 {
			rss = fmt.Sprintf("%.1f", float64(r.ServerRSSBytes)/1e6)
		}
		errs := "0"
		if len(r.Errors) > 0 {
			errs = fmt.Sprint(r.Errors)
		}
		limit, ratio := "-", "-"
		if r.LimitPerSec > 0 {
			limit, ratio = fmt.Sprintf("%.1f", r.LimitPerSec), fmt.Sprintf("%.2f", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%s\t%s\t\n",
			r.Scenario, r.Concurrency, r.IdleConns, r.OpsPerSec, limit, ratio, r.P50MS, r.P95MS, r.P99MS, r.MaxMS, errs, rss)
	}
	tw.Flush()
}

// checkLoopback refuses any server that is not on this machine: the load
// generator is for measuring one's own server.
func checkLoopback(addr string) error {
	_, name, err := client.ServerAddress(addr)
	if err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(name)
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("server %s is not on loopback: accountd-bench only loads servers on this machine", name)
	}
	return nil
}

type bench struct {
	// dir is the generator's own temporary folder (its known_servers);
	// close removes it.
	dir      string
	o        benchOptions
	opts     client.Options
	password string
	prefix   string
	seq      atomic.Int64
	// feed and feedVerifier are the revocation scenario's: a Verifier
	// that follows instance B's revocation feed.
	feed         *client.RevocationFeed
	feedVerifier *client.Verifier
	// verifier is the SDK Verifier of the verify scenario, made at its
	// first run.
	verifier *client.Verifier
}

const benchPassword = "load generator password, long enough"

func newBench(ctx context.Context, o benchOptions) (*bench, error) {
	dir, err := os.MkdirTemp("", "accountd-bench-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	p := make([]byte, 4)
	crand.Read(p)
	// A 2048-bit client key (the smallest the protocol allows) keeps the
	// load generator's own RSA decryption per handshake cheap, so that
	// the machine's cores go to the server being measured.
	ck, err := rsa.GenerateKey(crand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	b := &bench{
		dir:      dir,
		o:        o,
		password: benchPassword,
		prefix:   "b" + hex.EncodeToString(p),
		opts: client.Options{
			Trust:           client.NewKnownServers(filepath.Join(dir, "known_servers")),
			TrustOnFirstUse: true, // loopback only, checked above
			ClientKey:       ck,
		},
	}
	// Generate the client key before any timing.
	c, err := b.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.Close()
	ok = true
	return b, nil
}

// close stops the Verifiers and the revocation feed, if they were
// started, and removes the generator's temporary folder.
func (b *bench) close() {
	if b.feedVerifier != nil {
		b.feedVerifier.Close()
		b.feed.Close()
	}
	if b.verifier != nil {
		b.verifier.Close()
	}
	os.RemoveAll(b.dir)
}

// startFeed starts the revocation scenario's Verifier, fed from instance
// B, and waits until its feed is caught up.
func (b *bench) startFeed(ctx context.Context) error {
	if b.feedVerifier != nil {
		return nil
	}
	opts := b.opts
	opts.ServiceKey = b.o.serviceKey
	feed, err := client.NewRevocationFeed(b.o.serverB, opts, client.RevocationFeedOptions{})
	if err != nil {
		return err
	}
	jwks, err := client.JWKSAddress(b.o.serverB)
	if err != nil {
		feed.Close()
		return err
	}
	v, err := client.NewVerifier(client.VerifierOptions{JWKSURL: jwks, Revocations: feed})
	if err != nil {
		feed.Close()
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := feed.Synced(sctx); err != nil {
		v.Close()
		feed.Close()
		return fmt.Errorf("revocation feed from %s: %w", b.o.serverB, err)
	}
	b.feed, b.feedVerifier = feed, v
	return nil
}

func (b *bench) dial(ctx context.Context) (*client.Conn, error) {
	return client.Dial(ctx, b.o.server, b.opts)
}

func (b *bench) username() string {
	return fmt.Sprintf("%s-%d", b.prefix, b.seq.Add(1))
}

// worker is one simulated client: a connection and an account.
type worker struct {
	b        *bench
	conn     *client.Conn
	username string
	token    string
	rnd      *rand.Rand
}

func (b *bench) newWorker(ctx context.Context, needAccount bool) (*worker, error) {
	c, err := b.dial(ctx)
	for tries := 0; errors.Is(err, client.ErrBusy) && tries < 30 && ctx.Err() == nil; tries++ {
		// The server's handshake gate is full (close 4002): it asks
		// for a pause of about a second.
		sleepCtx(ctx, time.Second)
		c, err = b.dial(ctx)
	}
	if err != nil {
		return nil, err
	}
	w := &worker{b: b, conn: c, rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	if needAccount {
		w.username = b.username()
		if _, err := retryBusy(ctx, func() (any, error) { return c.Signup(ctx, w.username, b.password, "") }); err != nil {
			return nil, fmt.Errorf("prepare account: %w", err)
		}
		t, err := retryBusy(ctx, func() (*client.Token, error) { return c.Login(ctx, w.username, b.password) })
		if err != nil {
			return nil, fmt.Errorf("prepare login: %w", err)
		}
		w.token = t.Token
	}
	return w, nil
}

// retryBusy retries preparation steps the server asks to retry.
func retryBusy[T any](ctx context.Context, f func() (T, error)) (T, error) {
	for {
		v, err := f()
		var se *client.ServerError
		if errors.As(err, &se) && se.RetryAfter > 0 && ctx.Err() == nil {
			time.Sleep(se.RetryAfter)
			continue
		}
		return v, err
	}
}

// op runs one measured operation of a scenario.
func (w *worker) op(ctx context.Context, scenario string) error {
	switch scenario {
	case "handshake":
		c, err := w.b.dial(ctx)
		if err != nil {
			return err
		}
		return c.Close()
	case "signup":
		_, err := w.conn.Signup(ctx, w.b.username(), w.b.password, "")
		return err
	case "login":
		_, err := w.conn.Login(ctx, w.username, w.b.password)
		return err
	case "authenticate", "idle":
		_, err := w.conn.Authenticate(ctx, w.token)
		return err
	case "verify":
		_, err := w.b.verifier.Verify(ctx, w.token)
		return err
	case "refresh":
		t, err := w.conn.Refresh(ctx, w.token)
		if err == nil {
			w.token = t.Token
		}
		return err
	case "logout":
		// Each logout needs a live session: the login is part of the op.
		t, err := w.conn.Login(ctx, w.username, w.b.password)
		if err != nil {
			return err
		}
		return w.conn.Logout(ctx, t.Token)
	case "mixed":
		// A blend seen by an app's account server: mostly session checks.
		switch n := w.rnd.IntN(100); {
		case n < 80:
			return w.op(ctx, "authenticate")
		case n < 92:
			return w.op(ctx, "refresh")
		case n < 97:
			return w.op(ctx, "login")
		default:
			return w.op(ctx, "signup")
		}
	}
	return fmt.Errorf("unknown scenario %q", scenario)
}

// run measures one scenario at one concurrency.
func (b *bench) run(ctx context.Context, scenario string, conc int) (*Result, error) {
	if scenario == "revocation" || scenario == "revocation-instance" {
		return b.runRevocation(ctx, scenario, conc)
	}
	needAccount := scenario != "handshake" && scenario != "signup"
	r := &Result{Scenario: scenario, Concurrency: conc}
	if scenario == "idle" {
		// Idle connections first, on a server that has done nothing else
		// yet if this is the first run: the RSS they add is theirs, not
		// pages left behind by the workers' Argon2 hashes.
		var before int64
		if b.o.pid != 0 {
			before, _ = readRSS(b.o.pid)
		}
		idle, err := b.holdIdle(ctx, b.o.idle)
		defer func() {
			for _, c := range idle {
				c.Close()
			}
		}()
		if err != nil {
			return nil, err
		}
		r.IdleConns = len(idle)
		if b.o.pid != 0 && len(idle) > 0 {
			time.Sleep(2 * time.Second) // let the last handshakes settle
			after, _ := readRSS(b.o.pid)
			r.IdleBytesPerConn = float64(after-before) / float64(len(idle))
		}
	}
	workers := make([]*worker, conc)
	var prepErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range workers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w, err := b.newWorker(ctx, needAccount)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && prepErr == nil {
				prepErr = err
			}
			workers[i] = w
		}()
	}
	wg.Wait()
	defer func() {
		for _, w := range workers {
			if w != nil {
				w.conn.Close()
			}
		}
	}()
	if prepErr != nil {
		return nil, prepErr
	}
	if scenario == "verify" {
		// The Verifier's throughput on one core: the generator is the
		// only party working, the server only serves its key set once.
		if err := b.startVerifier(ctx, workers); err != nil {
			return nil, err
		}
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	if b.o.pid != 0 {
		r.ServerRSSBeforeBytes, _ = readRSS(b.o.pid)
	}

	var (
		measuring atomic.Bool
		stop      atomic.Bool
		ops       atomic.Int64
		errMu     sync.Mutex
		errs      = map[string]int{}
		lats      = make([][]time.Duration, conc)
	)
	var peak atomic.Int64
	samplerDone := make(chan struct{})
	if b.o.pid != 0 {
		go func() {
			defer close(samplerDone)
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for !stop.Load() {
				if rss, err := readRSS(b.o.pid); err == nil && rss > peak.Load() {
					peak.Store(rss)
				}
				<-t.C
			}
		}()
	} else {
		close(samplerDone)
	}
	var start time.Time
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && ctx.Err() == nil {
				t0 := time.Now()
				err := w.op(ctx, scenario)
				d := time.Since(t0)

				if !measuring.Load() {
					continue
				}
				if ops.Add(1) > int64(b.o.maxOps) {
					stop.Store(true)
				}
				lats[i] = append(lats[i], d)
				if err != nil {
					code := "connection"
					var se *client.ServerError
					if errors.As(err, &se) {
						code = se.Code
					}
					errMu.Lock()
					errs[code]++
					errMu.Unlock()
					if code == "connection" {
						// Replace a broken connection, as a real client would.
						if c, derr := b.dial(ctx); derr == nil {
							w.conn.Close()
							w.conn = c
						} else {
							time.Sleep(100 * time.Millisecond)
						}
					}
				}
			}
		}()
	}
	sleepCtx(ctx, b.o.warmup)
	start = time.Now()
	measuring.Store(true)
	deadline := time.NewTimer(b.o.duration)
	for !stop.Load() {
		select {
		case <-deadline.C:
			stop.Store(true)
		case <-ctx.Done():
			stop.Store(true)
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Operations still in flight finish unmeasured: counting them
	// without their time would inflate the rate at high concurrency.
	measuring.Store(false)
	elapsed := time.Since(start)
	wg.Wait()
	<-samplerDone

	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	r.Ops = len(all)
	r.Seconds = elapsed.Seconds()
	r.OpsPerSec = float64(len(all)) / elapsed.Seconds()
	r.P50MS, r.P95MS, r.P99MS = pct(all, 0.50), pct(all, 0.95), pct(all, 0.99)
	if len(all) > 0 {
		r.MaxMS = ms(all[len(all)-1])
	}
	if len(errs) > 0 {
		r.Errors = errs
	}
	r.ServerRSSBytes = peak.Load()
	return r, nil
}

// startVerifier makes the verify scenario's Verifier and has it verify
// each worker's token once: the scenario measures tokens already seen,
// as a backend sees a user's token on request after request.
func (b *bench) startVerifier(ctx context.Context, workers []*worker) error {
	if b.verifier == nil {
		u, err := client.JWKSAddress(b.o.server)
		if err != nil {
			return err
		}
		if b.verifier, err = client.NewVerifier(client.VerifierOptions{JWKSURL: u}); err != nil {
			return err
		}
	}
	for _, w := range workers {
		if _, err := b.verifier.Verify(ctx, w.token); err != nil {
			return fmt.Errorf("verify a fresh token: %w", err)
		}
	}
	return nil
}

// holdIdle opens n handshaken connections that send nothing.
func (b *bench) holdIdle(ctx context.Context, n int) ([]*client.Conn, error) {
	conns := make([]*client.Conn, 0, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	sem := make(chan struct{}, 16)
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := b.dial(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return conns, fmt.Errorf("open idle connections (%d of %d open): %w", len(conns), n, firstErr)
	}
	return conns, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return ms(sorted[i])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
