package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/servertest"
)

var signupAlice = protocol.SignupRequest{Username: "alice", Password: "correct horse battery staple"}

// exampleTB lets the examples start a servertest server, which wants a
// testing.TB: examples get none. Methods the server does not call panic.
type exampleTB struct {
	testing.TB
	cleanups []func()
	dirs     []string
}

func (*exampleTB) Helper()                      {}
func (*exampleTB) Logf(string, ...any)          {}
func (*exampleTB) Errorf(f string, args ...any) { fmt.Fprintf(os.Stderr, f+"\n", args...) }
func (*exampleTB) Fatal(args ...any)            { panic(fmt.Sprint(args...)) }
func (*exampleTB) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }
func (tb *exampleTB) Cleanup(f func())          { tb.cleanups = append(tb.cleanups, f) }
func (tb *exampleTB) TempDir() string {
	d, err := os.MkdirTemp("", "accountd-example-")
	if err != nil {
		panic(err)
	}
	tb.dirs = append(tb.dirs, d)
	return d
}

func (tb *exampleTB) stop() {
	for i := len(tb.cleanups) - 1; i >= 0; i-- {
		tb.cleanups[i]()
	}
	for _, d := range tb.dirs {
		os.RemoveAll(d)
	}
}

// exampleServer starts a server on a loopback port with one account,
// alice, and returns its address, its identity fingerprint (as accountd
// prints it at start) and how to stop it.
func exampleServer() (addr, fingerprint string, stop func()) {
	addr, fingerprint, _, stop = exampleServerClock()
	return addr, fingerprint, stop
}

// exampleServerClock is exampleServer that also returns the server's
// clock, which stands still unless moved.
func exampleServerClock() (addr, fingerprint string, clock *servertest.Clock, stop func()) {
	tb := &exampleTB{}
	ts := servertest.MustStart(tb, nil)
	if _, err := ts.Service().Signup(context.Background(), signupAlice); err != nil {
		tb.stop()
		panic(err)
	}
	return ts.Addr, ts.Fingerprint(), ts.Clock, tb.stop
}

func ExampleDial() {
	addr, fingerprint, stop := exampleServer()
	defer stop()

	// The operator's fingerprint pins the server without trusting
	// anything on first use.
	trust, err := client.TrustFingerprint(fingerprint)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	conn, err := client.Dial(ctx, addr, client.Options{Trust: trust})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	tok, err := conn.Login(ctx, "alice", "correct horse battery staple")
	if err != nil {
		fmt.Println(err)
		return
	}
	id, err := conn.Authenticate(ctx, tok.Token)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("logged in as", id.Account.Username)
	// Output: logged in as alice
}

// ExampleConn_LoginSecondFactor logs in to an account with two-factor
// authentication on: the password answers SecondFactorRequired, and a
// code from the authenticator app (here computed from the secret, as the
// app does) completes the login on the same connection.
func ExampleConn_LoginSecondFactor() {
	addr, fingerprint, clock, stop := exampleServerClock()
	defer stop()
	trust, _ := client.TrustFingerprint(fingerprint)
	ctx := context.Background()
	conn, err := client.Dial(ctx, addr, client.Options{Trust: trust})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	const password = "correct horse battery staple"
	tok, err := conn.Login(ctx, "alice", password)
	if err != nil {
		fmt.Println(err)
		return
	}
	en, err := conn.TOTPBegin(ctx, tok.Token, password)
	if err != nil {
		fmt.Println(err)
		return
	}
	// The example server's clock stands still; an app uses its own.
	code, _ := totp.GenerateCode(en.Secret, clock.Now())
	recovery, err := conn.TOTPConfirm(ctx, tok.Token, code)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(recovery), "recovery codes")

	_, err = conn.Login(ctx, "alice", password)
	var sf *client.SecondFactorRequired
	if !errors.As(err, &sf) {
		fmt.Println(err)
		return
	}
	fmt.Println("second factor required:", sf.Methods)
	// A recovery code works once, in place of the app's code.
	two, err := conn.LoginSecondFactor(ctx, sf.Challenge, client.CodeAnswer(recovery[0]))
	if err != nil {
		fmt.Println(err)
		return
	}
	id, err := conn.Authenticate(ctx, two.Token)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(id.Account.Username, id.AMR, "aal", id.AAL)
	// Output:
	// 10 recovery codes
	// second factor required: [totp recovery_code]
	// alice [pwd otp] aal 2
}

// ExampleClient: a backend shares one Client between its request
// handlers; each call gets a connection no other call is using.
func ExampleClient() {
	addr, fingerprint, stop := exampleServer()
	defer stop()

	trust, err := client.TrustFingerprint(fingerprint)
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := client.NewClient(addr, client.Options{Trust: trust, MaxConns: 8})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx := context.Background()
	tok, err := c.Login(ctx, "alice", "correct horse battery staple")
	if err != nil {
		fmt.Println(err)
		return
	}
	var wg sync.WaitGroup
	names := make([]string, 16)
	for i := range names {
		wg.Go(func() {
			if id, err := c.Authenticate(ctx, tok.Token); err == nil {
				names[i] = id.Account.Username
			}
		})
	}
	wg.Wait()
	fmt.Println(len(names), "checks:", names[0], names[15])
	// Output: 16 checks: alice alice
}

// ExampleVerifier checks tokens without a call to the server, against
// the keys it publishes.
func ExampleVerifier() {
	addr, fingerprint, stop := exampleServer()
	defer stop()

	trust, _ := client.TrustFingerprint(fingerprint)
	c, err := client.NewClient(addr, client.Options{Trust: trust})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx := context.Background()
	tok, err := c.Login(ctx, "alice", "correct horse battery staple")
	if err != nil {
		fmt.Println(err)
		return
	}

	jwks, err := client.JWKSAddress(addr)
	if err != nil {
		fmt.Println(err)
		return
	}
	v, err := client.NewVerifier(client.VerifierOptions{JWKSURL: jwks})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()
	claims, err := v.Verify(ctx, tok.Token)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("account:", claims.Subject == tok.Account.ID, "session:", claims.SessionID == tok.SessionID)
	fmt.Println("amr:", claims.AMR, "aal:", claims.AAL) // aal 2 after a second factor

	// A logged-out token still verifies locally until it expires; an
	// Authenticator makes the Verifier ask the server (cached briefly).
	checked, _ := client.NewVerifier(client.VerifierOptions{JWKSURL: jwks, Authenticator: c, RevocationCacheTTL: -1})
	defer checked.Close()
	if err := c.Logout(ctx, tok.Token); err != nil {
		fmt.Println(err)
		return
	}
	_, err = v.Verify(ctx, tok.Token)
	fmt.Println("after logout, locally:", err == nil)
	_, err = checked.Verify(ctx, tok.Token)
	fmt.Println("after logout, with authenticate:", err == nil)
	// Output:
	// account: true session: true
	// amr: [pwd] aal: 1
	// after logout, locally: true
	// after logout, with authenticate: false
}

// ExampleMiddleware protects an HTTP API: handlers read who is calling
// from the request's context.
func ExampleMiddleware() {
	addr, fingerprint, stop := exampleServer()
	defer stop()

	trust, _ := client.TrustFingerprint(fingerprint)
	c, err := client.NewClient(addr, client.Options{Trust: trust})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	jwks, _ := client.JWKSAddress(addr)
	v, err := client.NewVerifier(client.VerifierOptions{JWKSURL: jwks, Authenticator: c})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	api := http.NewServeMux()
	api.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		claims, _ := client.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "hello, %s", claims.Account.Username)
	})
	srv := httptest.NewServer(client.Middleware(v)(api))
	defer srv.Close()

	tok, err := c.Login(context.Background(), "alice", "correct horse battery staple")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, auth := range []string{"Bearer " + tok.Token, ""} {
		req, _ := http.NewRequest("GET", srv.URL+"/me", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %s\n", resp.StatusCode, body)
	}
	// Output:
	// 200 hello, alice
	// 401 authentication required
}

// ExampleRevocationFeed makes a Verifier refuse logged-out tokens
// without asking the server per token: the feed, on a service key's
// connection of its own, is pushed every revocation as it happens.
func ExampleRevocationFeed() {
	tb := &exampleTB{}
	defer tb.stop()
	ts := servertest.MustStart(tb, nil)
	ctx := context.Background()
	if _, err := ts.Service().Signup(ctx, signupAlice); err != nil {
		fmt.Println(err)
		return
	}
	key, _, err := ts.Service().NewServiceKey(ctx, "shop", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	trust, _ := client.TrustFingerprint(ts.Fingerprint())
	feed, err := client.NewRevocationFeed(ts.Addr, client.Options{Trust: trust, ServiceKey: key}, client.RevocationFeedOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer feed.Close()
	jwks, _ := client.JWKSAddress(ts.Addr)
	v, err := client.NewVerifier(client.VerifierOptions{JWKSURL: jwks, Revocations: feed})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := feed.Synced(wctx); err != nil {
		fmt.Println(err)
		return
	}

	c, _ := client.NewClient(ts.Addr, client.Options{Trust: trust})
	defer c.Close()
	tok, err := c.Login(ctx, "alice", "correct horse battery staple")
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = v.Verify(ctx, tok.Token)
	fmt.Println("before logout:", err == nil)
	if err := c.Logout(ctx, tok.Token); err != nil {
		fmt.Println(err)
		return
	}
	// The push comes within about the server's poll of its log.
	if err := feed.WaitFor(wctx, func() bool { return feed.Revoked(tok.SessionID) }); err != nil {
		fmt.Println(err)
		return
	}
	_, err = v.Verify(ctx, tok.Token)
	fmt.Println("after logout:", errors.Is(err, client.ErrInvalidToken))
	// Output:
	// before logout: true
	// after logout: true
}
