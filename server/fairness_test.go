package server_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
)

// floodingIPs is how many loopback sources pose as attackers.
const floodingIPs = 49

// TestLoginFairUnderFlood: 49 IPs keep the one hashing slot busy with
// wrong-password logins, back to back, so that a first-come queue would
// hold 48 hashes; a legitimate client on another IP that logs in less
// often than each of them is admitted next instead, so it is never
// answered busy within a wait that is a third of the first-come queue.
//
// Not parallel: its waits are measured on the machine before the flood,
// and other tests' load would change them.
func TestLoginFairUnderFlood(t *testing.T) {
	params := account.Argon2Params{Time: 1, MemoryKiB: 8 << 10, Threads: 1}
	// A first-come queue of 48 is four times the wait; the legitimate
	// client waits for the hash in progress only, a sixth of it.
	wait := 12 * medianTime(func() {
		argon2.IDKey([]byte(goodPassword), make([]byte, 16), params.Time, params.MemoryKiB, params.Threads, 32)
	})
	ts := servertest.MustStart(t, func(c *server.Config) {
		c.Argon2 = params
		c.HashConcurrency, c.HashWait, c.HashesPerClient = 1, wait, 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := ts.Service().Signup(ctx, protocol.SignupRequest{Username: "owner", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(ctx)
	var f flood
	wg := f.run(fctx, t, ts.Addr, floodingIPs, 1, 0)
	// Each attacking IP hashes 4 times first: the legitimate client's 3
	// logins leave it the lighter one.
	for deadline := time.Now().Add(40 * time.Second); f.logins.Load() < 4*floodingIPs; {
		if time.Now().After(deadline) {
			stop()
			wg.Wait()
			t.Fatalf("the flood got only %d logins answered in 40s (busy %d, failed %d)", f.logins.Load(), f.busy.Load(), f.failed.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	logins, _, busy := legitLogins(ctx, t, ts.Addr, 3, 100*time.Millisecond)
	stop()
	wg.Wait()
	t.Logf("legitimate logins %v; attackers: %d answered, %d busy", logins, f.logins.Load(), f.busy.Load())
	if busy > 0 {
		t.Fatalf("the legitimate client was busy %d times of %d under a %d-IP flood (wait %v)", busy, len(logins), floodingIPs, wait)
	}
}

// TestHandshakeFairUnderFlood: 49 IPs flood handshakes through one
// decryption slot, back to back, so that a first-come queue would hold 48
// decryptions; a legitimate client on another IP that dials less often
// than each of them is never closed busy (4002) within a wait that is a
// quarter of the first-come queue.
//
// Not parallel, like TestLoginFairUnderFlood.
func TestHandshakeFairUnderFlood(t *testing.T) {
	// As for logins: the wait is 12 decryptions.
	tk, _ := servertest.Keys(t)
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &tk.PublicKey, make([]byte, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	wait := 12 * medianTime(func() { rsa.DecryptOAEP(sha256.New(), nil, tk, ct, nil) })
	ts := servertest.MustStart(t, func(c *server.Config) {
		c.HandshakeConcurrency, c.HandshakeWait, c.HandshakesPerClient = 1, wait, 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fctx, stop := context.WithCancel(ctx)
	var f flood
	wg := f.run(fctx, t, ts.Addr, floodingIPs, 0, 1)
	for deadline := time.Now().Add(40 * time.Second); f.handshakes.Load() < 10*floodingIPs; {
		if time.Now().After(deadline) {
			stop()
			wg.Wait()
			t.Fatalf("the flood got only %d handshakes answered in 40s (busy %d, failed %d)", f.handshakes.Load(), f.busy.Load(), f.failed.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	opts := dialerFrom(t, sourceIP(1))
	var busy int
	var took []time.Duration
	for range 5 {
		start := time.Now()
		c, err := client.Dial(ctx, ts.Addr, opts)
		took = append(took, time.Since(start))
		switch {
		case errors.Is(err, client.ErrBusy):
			busy++
		case err != nil:
			stop()
			wg.Wait()
			t.Fatal(err)
		default:
			c.Close()
		}
	}
	stop()
	wg.Wait()
	t.Logf("legitimate handshakes %v; attackers: %d handshakes, %d busy", took, f.handshakes.Load(), f.busy.Load())
	if busy > 0 {
		t.Fatalf("the legitimate client was closed busy %d times of 5 under a %d-IP flood (wait %v)", busy, floodingIPs, wait)
	}
}

// medianTime is the median time f takes over 7 runs, now.
func medianTime(f func()) time.Duration {
	var d []time.Duration
	for range 7 {
		start := time.Now()
		f()
		d = append(d, time.Since(start))
	}
	return p50(d)
}

// TestHashBudgetPerIP: past HashBurst logins an IP is rate_limited on
// login while its other requests pass, and another IP still logs in.
func TestHashBudgetPerIP(t *testing.T) {
	parallel(t)
	ts := servertest.MustStart(t, func(c *server.Config) { c.HashRate, c.HashBurst = 0, 0 })
	ctx := ctxT(t)
	if _, err := ts.Service().Signup(ctx, protocol.SignupRequest{Username: "owner", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(ctx, ts.Addr, dialerFrom(t, sourceIP(2)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var tok *client.Token
	for i := range server.DefaultHashBurst {
		if tok, err = c.Login(ctx, "owner", goodPassword); err != nil {
			t.Fatalf("login %d of the burst: %v", i+1, err)
		}
	}
	_, err = c.Login(ctx, "owner", goodPassword)
	var se *client.ServerError
	if !errors.As(err, &se) || se.Code != protocol.CodeRateLimited {
		t.Fatalf("login %d: %v, want rate_limited", server.DefaultHashBurst+1, err)
	}
	if want := time.Duration(float64(time.Second) / server.DefaultHashRate); se.RetryAfter != want {
		t.Fatalf("retry after %v, want %v", se.RetryAfter, want)
	}
	if _, err := c.Authenticate(ctx, tok.Token); err != nil {
		t.Fatalf("authenticate after the hash budget ran out: %v", err)
	}
	other, err := client.Dial(ctx, ts.Addr, dialerFrom(t, sourceIP(3)))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Login(ctx, "owner", goodPassword); err != nil {
		t.Fatalf("another IP: %v", err)
	}
}
