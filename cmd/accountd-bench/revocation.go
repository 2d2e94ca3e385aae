package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/accountd/accountd/client"
)

// The revocation scenarios measure how long a logout at instance A takes
// to be refused elsewhere:
//
//   - revocation: by a Verifier that follows instance B's revocation
//     feed (the SDK's local verification);
//   - revocation-instance: by authenticate at instance B (whose session
//     view holds the token), asked again every 2 ms.
//
// Each sample is one session, timed from sending its logout. The
// sessions are logged in before the measured part, so that the Argon2id
// hashes of the logins do not share the cores with it. Every sample also
// checks that instance A refuses the token as soon as its logout has
// returned.

// revocationWait is how long a logout may take to be refused before the
// sample counts as "late".
const revocationWait = 5 * time.Second

// instancePollEvery is how often revocation-instance asks instance B
// again: often enough to time the revocation to a few milliseconds, not
// so often that the asking loads B and delays its own read of the log.
const instancePollEvery = 2 * time.Millisecond

// revocationSpread bounds the random pause before each sample.
const revocationSpread = 50 * time.Millisecond

var (
	errLate  = errors.New("logout not refused in time")
	errWrong = errors.New("a revoked token was accepted")
)

func (b *bench) runRevocation(ctx context.Context, scenario string, conc int) (*Result, error) {
	r := &Result{Scenario: scenario, Concurrency: conc}
	if err := b.startFeed(ctx); err != nil {
		return nil, err
	}
	workers := make([]*worker, conc)
	connsB := make([]*client.Conn, conc)
	defer func() {
		for i := range workers {
			if workers[i] != nil {
				workers[i].conn.Close()
			}
			if connsB[i] != nil {
				connsB[i].Close()
			}
		}
	}()
	for i := range workers {
		w, err := b.newWorker(ctx, true)
		if err != nil {
			return nil, err
		}
		workers[i] = w
		if connsB[i], err = client.Dial(ctx, b.o.serverB, b.opts); err != nil {
			return nil, err
		}
	}
	// The pool: logged in at A, accepted by the Verifier (and by B).
	pool := make(chan int, b.o.sessions)
	tokens := make([]*client.Token, b.o.sessions)
	var prepErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() {
			for n := i; n < b.o.sessions; n += conc {
				t, err := retryBusy(ctx, func() (*client.Token, error) { return w.conn.Login(ctx, w.username, b.password) })
				if err == nil {
					_, err = b.feedVerifier.Verify(ctx, t.Token)
				}
				if err == nil && scenario == "revocation-instance" {
					// Into B's session view.
					_, err = connsB[i].Authenticate(ctx, t.Token)
				}
				if err != nil {
					mu.Lock()
					prepErr = cmpErr(prepErr, fmt.Errorf("prepare session %d: %w", n, err))
					mu.Unlock()
					return
				}
				tokens[n] = t
				pool <- n
			}
		})
	}
	wg.Wait()
	close(pool)
	if prepErr != nil {
		return nil, prepErr
	}
	if b.o.pid != 0 {
		r.ServerRSSBeforeBytes, _ = readRSS(b.o.pid)
	}
	lats := make([][]time.Duration, conc)
	errs := map[string]int{}
	start := time.Now()
	for i, w := range workers {
		wg.Go(func() {
			for n := range pool {
				// A random pause first: back-to-back samples would
				// fall into step with the instances' poll of the log
				// and all wait about as long.
				sleepCtx(ctx, time.Duration(w.rnd.Int64N(int64(revocationSpread))))
				d, err := b.revokeOne(ctx, scenario, w.conn, connsB[i], tokens[n])
				mu.Lock()
				switch {
				case err == nil:
					lats[i] = append(lats[i], d)
				case errors.Is(err, errLate):
					lats[i] = append(lats[i], d)
					errs["late"]++
				case errors.Is(err, errWrong):
					errs["accepted"]++
				default:
					var se *client.ServerError
					code := "connection"
					if errors.As(err, &se) {
						code = se.Code
					}
					errs[code]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
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
	return r, nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// revokeOne logs a session out at A and returns the time from sending
// the logout until the scenario's observer refuses its token.
func (b *bench) revokeOne(ctx context.Context, scenario string, connA, connB *client.Conn, t *client.Token) (time.Duration, error) {
	start := time.Now()
	if err := connA.Logout(ctx, t.Token); err != nil {
		return 0, err
	}
	if _, err := connA.Authenticate(ctx, t.Token); !errors.Is(err, client.ErrInvalidToken) {
		return 0, fmt.Errorf("%w: instance A after its own logout: %v", errWrong, err)
	}
	wctx, cancel := context.WithTimeout(ctx, revocationWait)
	defer cancel()
	if scenario == "revocation" {
		feed := b.feed
		if err := feed.WaitFor(wctx, func() bool { return feed.Revoked(t.SessionID) }); err != nil {
			return revocationWait, errLate
		}
		d := time.Since(start)
		if _, err := b.feedVerifier.Verify(ctx, t.Token); !errors.Is(err, client.ErrInvalidToken) {
			return 0, fmt.Errorf("%w: the Verifier: %v", errWrong, err)
		}
		return d, nil
	}
	for {
		_, err := connB.Authenticate(ctx, t.Token)
		if errors.Is(err, client.ErrInvalidToken) {
			return time.Since(start), nil
		}
		if err != nil {
			return 0, err
		}
		if wctx.Err() != nil {
			return revocationWait, errLate
		}
		sleepCtx(wctx, instancePollEvery)
	}
}
