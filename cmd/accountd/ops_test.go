package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/store/sqlstore"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

const (
	opsAdminPassword   = "swordfish swordfish"
	opsAccountPassword = "correct horse battery staple"
)

// lockedBuffer collects a process's stderr.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// mustSetUp runs `accountd setup` for MariaDB at dsn and returns the data
// folder and the admin password file.
func mustSetUp(t *testing.T, dsn string) (dataDir, pwFile string) {
	t.Helper()
	dir := t.TempDir()
	pwFile = filepath.Join(dir, "admin.txt")
	if err := os.WriteFile(pwFile, []byte(opsAdminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir = filepath.Join(dir, "data")
	cmd := exec.Command(filepath.Join(binDir, "accountd"), "setup", "--non-interactive", "--data-dir", dataDir,
		"--db", "mysql", "--db-dsn", dsn, "--listen", "127.0.0.1:0", "--admin-password-file", pwFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("accountd setup: %v\n%s", err, out)
	}
	return dataDir, pwFile
}

// instance is one running `accountd serve` process.
type instance struct {
	addr   string
	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

// startInstance starts `accountd serve` on a free port; it is stopped
// (SIGTERM) when the test ends, if still running. It does not wait for
// the server to answer: see waitReady.
func startInstance(t *testing.T, dataDir, pwFile string, args ...string) *instance {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	inst := &instance{addr: "127.0.0.1:" + port, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	args = append([]string{"serve", "--data-dir", dataDir, "--admin-password-file", pwFile, "--listen", inst.addr}, args...)
	inst.cmd = exec.Command(filepath.Join(binDir, "accountd"), args...)
	inst.cmd.Stderr = inst.stderr
	if err := inst.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { inst.err = inst.cmd.Wait(); close(inst.exited) }()
	t.Cleanup(func() {
		inst.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-inst.exited:
		case <-time.After(30 * time.Second):
			inst.cmd.Process.Kill()
			<-inst.exited
		}
		if t.Failed() {
			t.Logf("accountd at %s:\n%s", inst.addr, inst.stderr.String())
		}
	})
	return inst
}

// waitReady waits up to 60 s for /readyz to answer 200.
func (inst *instance) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-inst.exited:
			t.Fatalf("accountd at %s exited: %v\n%s", inst.addr, inst.err, inst.stderr.String())
		default:
		}
		if resp, err := http.Get("http://" + inst.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("accountd at %s not ready within 60s:\n%s", inst.addr, inst.stderr.String())
}

var (
	opsKeyOnce sync.Once
	opsKey     *rsa.PrivateKey
)

// dial connects to inst, trusting it on first use (every instance of one
// config has the same identity).
func dial(t *testing.T, inst *instance, known *client.KnownServers) *client.Conn {
	t.Helper()
	opsKeyOnce.Do(func() {
		var err error
		if opsKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, inst.addr, client.Options{Trust: known, TrustOnFirstUse: true, ClientKey: opsKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func opsCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestSIGTERMUnderLoad sends SIGTERM to a real accountd while clients
// sign up as fast as they can, with production Argon2 costs: the process
// exits 0 within the shutdown timeout, every client is told the server is
// going away, and the accounts in the database are exactly the signups
// that were answered: none lost, none committed without an answer.
func TestSIGTERMUnderLoad(t *testing.T) {
	dsn := sqltest.MySQLDSN(t)
	dataDir, pwFile := mustSetUp(t, dsn)
	const shutdownTimeout = 20 * time.Second
	// Every client is 127.0.0.1: lift the per-IP limits on hashing.
	inst := startInstance(t, dataDir, pwFile, "--shutdown-timeout", shutdownTimeout.String(),
		"--hash-rate", "1000000", "--hash-burst", "1000000", "--hashes-per-client", "100")
	inst.waitReady(t)

	known := client.NewKnownServers(filepath.Join(t.TempDir(), "known_servers"))
	const clients = 6
	var (
		mu      sync.Mutex
		acked   []string
		final   = make([]error, clients)
		wg      sync.WaitGroup
		answers = make(chan struct{}, 100)
	)
	for i := range clients {
		c := dial(t, inst, known)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for n := 0; ; n++ {
				name := fmt.Sprintf("user%d-%d", i, n)
				if _, err := c.Signup(ctx, name, opsAccountPassword, ""); err != nil {
					final[i] = err
					return
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
				select {
				case answers <- struct{}{}:
				default:
				}
			}
		}()
	}
	for range clients {
		<-answers
	}
	begin := time.Now()
	if err := inst.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-inst.exited:
	case <-time.After(shutdownTimeout + 10*time.Second):
		t.Fatalf("accountd did not exit within %v of SIGTERM", shutdownTimeout+10*time.Second)
	}
	took := time.Since(begin)
	if inst.err != nil {
		t.Fatalf("accountd exited with %v:\n%s", inst.err, inst.stderr.String())
	}
	wg.Wait()
	t.Logf("exited %v after SIGTERM, %d signups answered", took, len(acked))

	for i, err := range final {
		if !errors.Is(err, client.ErrServerShuttingDown) {
			t.Errorf("client %d ended with %v, want the server going away (1001)", i, err)
		}
	}
	ctx := opsCtx(t)
	db, err := sqlstore.Open(ctx, sqlstore.MySQL, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	accounts, err := db.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for _, a := range accounts {
		stored = append(stored, a.Username)
	}
	sort.Strings(stored)
	sort.Strings(acked)
	if diff := cmp.Diff(acked, stored); diff != "" {
		t.Fatalf("answered signups (-) differ from stored accounts (+):\n%s", diff)
	}
	logs := inst.stderr.String()
	if !strings.Contains(logs, "shutting down") || !strings.Contains(logs, "stopped") {
		t.Errorf("logs lack the shutdown:\n%s", logs)
	}
	for _, secret := range []string{opsAdminPassword, opsAccountPassword} {
		if strings.Contains(logs, secret) {
			t.Errorf("a password is in the logs")
		}
	}
}

func jwksKids(t *testing.T, inst *instance) map[string]bool {
	t.Helper()
	resp, err := http.Get("http://" + inst.addr + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, k := range set.Keys {
		out[k.Kid] = true
	}
	return out
}

func tokenKid(t *testing.T, token string) string {
	t.Helper()
	head, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(head, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestThreeInstances starts three accountd processes on one MariaDB
// database, at the same moment: they make one signing key between them; a
// token issued by one authenticates at the others; a logout at one is
// refused at the others at once; a key rotation by one is published, then
// used, by all.
func TestThreeInstances(t *testing.T) {
	dsn := sqltest.MySQLDSN(t)
	dataDir, pwFile := mustSetUp(t, dsn)
	// Rotation in seconds rather than days. Only the first instance
	// rotates by age; the others would after 30 days.
	fast := []string{"--key-publish-lead", "2s", "--jwks-max-age", "1s"}
	insts := []*instance{
		startInstance(t, dataDir, pwFile, append(fast, "--key-rotation-interval", "8s")...),
		startInstance(t, dataDir, pwFile, fast...),
		startInstance(t, dataDir, pwFile, fast...),
	}
	for _, inst := range insts {
		inst.waitReady(t)
	}
	ctx := opsCtx(t)
	db, err := sqlstore.Open(ctx, sqlstore.MySQL, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, err := db.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("three instances starting at once made %d signing keys, want 1", len(keys))
	}
	k1 := keys[0].ID

	known := client.NewKnownServers(filepath.Join(t.TempDir(), "known_servers"))
	conns := make([]*client.Conn, len(insts))
	for i, inst := range insts {
		conns[i] = dial(t, inst, known)
	}
	if _, err := conns[0].Signup(ctx, "dana", opsAccountPassword, ""); err != nil {
		t.Fatal(err)
	}

	t.Run("a token from one authenticates at the others", func(t *testing.T) {
		for i, issuer := range conns {
			tok, err := issuer.Login(ctx, "dana", opsAccountPassword)
			if err != nil {
				t.Fatal(err)
			}
			for j, verifier := range conns {
				id, err := verifier.Authenticate(ctx, tok.Token)
				if err != nil || id.Account.Username != "dana" {
					t.Errorf("token from instance %d at instance %d: %v", i, j, err)
				}
			}
		}
	})

	t.Run("a logout at one is refused at the others at once", func(t *testing.T) {
		tok, err := conns[0].Login(ctx, "dana", opsAccountPassword)
		if err != nil {
			t.Fatal(err)
		}
		if err := conns[1].Logout(ctx, tok.Token); err != nil {
			t.Fatal(err)
		}
		for j, verifier := range conns {
			if _, err := verifier.Authenticate(ctx, tok.Token); !errors.Is(err, client.ErrInvalidToken) {
				t.Errorf("logged-out token at instance %d: %v, want invalid token", j, err)
			}
			if _, err := verifier.Refresh(ctx, tok.Token); !errors.Is(err, client.ErrInvalidToken) {
				t.Errorf("refresh of a logged-out token at instance %d: %v, want invalid token", j, err)
			}
		}
	})

	t.Run("failed logins counted at one throttle the others", func(t *testing.T) {
		if _, err := conns[0].Signup(ctx, "erin", opsAccountPassword, ""); err != nil {
			t.Fatal(err)
		}
		const wrong = "not erin's password, but long enough"
		// Five free failures at the first instance.
		for range 5 {
			if _, err := conns[0].Login(ctx, "erin", wrong); !errors.Is(err, client.ErrInvalidCredentials) {
				t.Fatalf("wrong password: %v", err)
			}
		}
		// The sixth must wait 1 s after the fifth; then it counts too,
		// and the next attempt anywhere must wait 2 s.
		time.Sleep(1100 * time.Millisecond)
		if _, err := conns[1].Login(ctx, "erin", wrong); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Fatalf("sixth wrong password at the second instance: %v", err)
		}
		if _, err := conns[2].Login(ctx, "erin", opsAccountPassword); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Fatalf("right password at the third instance inside the wait: %v, want refused like a wrong one", err)
		}
		time.Sleep(2200 * time.Millisecond)
		if _, err := conns[2].Login(ctx, "erin", opsAccountPassword); err != nil {
			t.Fatalf("right password after the wait: %v", err)
		}
	})

	t.Run("a key rotation by one is seen by all", func(t *testing.T) {
		var k2 string
		waitUntil(t, "the first instance publishes a new key", 30*time.Second, func() bool {
			for kid := range jwksKids(t, insts[0]) {
				if kid != k1 {
					k2 = kid
					return true
				}
			}
			return false
		})
		for i, inst := range insts {
			waitUntil(t, fmt.Sprintf("instance %d publishes %s", i, k2), 5*time.Second, func() bool {
				return jwksKids(t, inst)[k2]
			})
		}
		// After the lead, every instance signs with a newer key, which
		// every instance publishes and accepts.
		time.Sleep(2*time.Second + 500*time.Millisecond)
		for i, issuer := range conns {
			tok, err := issuer.Login(ctx, "dana", opsAccountPassword)
			if err != nil {
				t.Fatal(err)
			}
			kid := tokenKid(t, tok.Token)
			if kid == k1 {
				t.Errorf("instance %d still signs with the first key after the rotation", i)
			}
			for j, verifier := range insts {
				if !jwksKids(t, verifier)[kid] {
					t.Errorf("instance %d signs with %s, which instance %d does not publish", i, kid, j)
				}
				if _, err := conns[j].Authenticate(ctx, tok.Token); err != nil {
					t.Errorf("token from instance %d (key %s) at instance %d: %v", i, kid, j, err)
				}
			}
			if !jwksKids(t, insts[(i+1)%len(insts)])[k1] {
				t.Errorf("the first key left the JWKS while its tokens are live")
			}
		}
	})
}
