package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a process to write while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// setupDir is a data folder set up for one test, and the environment its
// commands run with.
type setupDir struct {
	t    *testing.T
	dir  string
	env  []string
	addr string
}

// newInstance sets up accountd (SQLite) in a fresh folder; the admin
// password is in a file named by the environment.
func newInstance(t *testing.T, setupArgs ...string) *setupDir {
	t.Helper()
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	in := &setupDir{t: t, dir: dir, addr: "127.0.0.1:" + port}
	pwFile := filepath.Join(dir, "admin.txt")
	if err := os.WriteFile(pwFile, []byte("swordfish swordfish\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in.env = []string{
		"HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, ".config"), "PATH=" + os.Getenv("PATH"),
		"ACCOUNTD_DATA_DIR=" + filepath.Join(dir, "data"), "ACCOUNTD_ADMIN_PASSWORD_FILE=" + pwFile,
	}
	in.run("accountd", append([]string{"setup", "--non-interactive", "--listen", in.addr}, setupArgs...)...)
	return in
}

// run runs one of the binaries and fails the test unless it succeeds.
func (in *setupDir) run(name string, args ...string) string {
	in.t.Helper()
	out, err := in.try(name, "", args...)
	if err != nil {
		in.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// try runs one of the binaries with stdin and returns its output.
func (in *setupDir) try(name, stdin string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = in.env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// serve starts the server and waits until ready answers.
func (in *setupDir) serve(ready func() error, args ...string) (*exec.Cmd, *syncBuffer) {
	in.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "accountd"), append([]string{"serve"}, args...)...)
	cmd.Env = in.env
	logs := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	in.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := ready()
		if err == nil {
			return cmd, logs
		}
		select {
		case <-exited:
			in.t.Fatalf("accountd exited:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			in.t.Fatalf("accountd not ready within 60s: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitLog waits up to 20 s for the logs to contain want.
func waitLog(t *testing.T, logs *syncBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if strings.Contains(logs.String(), want) {
			return
		}
	}
	t.Fatalf("the logs do not say %q within 20s:\n%s", want, logs.String())
}

func healthz(client *http.Client, url string) func() error {
	return func() error {
		resp, err := client.Get(url + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return &net.AddrError{Err: resp.Status, Addr: url}
		}
		return nil
	}
}

// crossOriginUpgrade asks for a WebSocket upgrade from a page at origin
// and returns the status.
func crossOriginUpgrade(t *testing.T, addr, origin string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/ws", nil)
	for k, v := range map[string]string{
		"Origin": origin, "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
		"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "accountd.v2",
	} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestConfigSetSIGHUP: `config set` changes the sealed config of a
// running server, which applies the live settings on SIGHUP (allowed
// origins, the password minimum) and logs those that wait for a restart.
func TestConfigSetSIGHUP(t *testing.T) {
	t.Parallel()
	in := newInstance(t, "--min-password-length", "20")
	server, logs := in.serve(healthz(http.DefaultClient, "http://"+in.addr))
	const pw16 = "sixteen chars ok" // 16 characters
	signup := func(user string) (string, error) {
		return in.try("account", pw16+"\n", "signup", "--server", in.addr, "--username", user, "--password-stdin", "--trust-on-first-use", "--timeout", "1m")
	}

	if got := crossOriginUpgrade(t, in.addr, "https://a.example"); got != http.StatusForbidden {
		t.Fatalf("cross-origin upgrade before config set: %d, want 403", got)
	}
	if out, err := signup("before"); err == nil || !strings.Contains(out, "at least 20") {
		t.Fatalf("a 16-character password under a minimum of 20: err %v\n%s", err, out)
	}

	out := in.run("accountd", "config", "set", "allowed_origins", "https://a.example,https://b.example")
	if !strings.Contains(out, "SIGHUP") {
		t.Errorf("config set allowed_origins does not say SIGHUP applies it:\n%s", out)
	}
	in.run("accountd", "config", "set", "min_password_length", "16")
	out = in.run("accountd", "config", "set", "token_lifetime", "2h")
	if !strings.Contains(out, "restart") {
		t.Errorf("config set token_lifetime does not say a restart applies it:\n%s", out)
	}
	if got := in.run("accountd", "config", "get", "min_password_length"); strings.TrimSpace(got) != "16" {
		t.Errorf("config get min_password_length = %q, want 16", got)
	}
	// Nothing changes in the running server before the signal.
	if got := crossOriginUpgrade(t, in.addr, "https://a.example"); got != http.StatusForbidden {
		t.Fatalf("cross-origin upgrade before SIGHUP: %d, want 403", got)
	}

	if err := server.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, "settings applied")
	waitLog(t, logs, "restart needed")
	if !strings.Contains(logs.String(), "token_lifetime") {
		t.Errorf("the restart warning does not name token_lifetime:\n%s", logs.String())
	}
	if got := crossOriginUpgrade(t, in.addr, "https://a.example"); got != http.StatusSwitchingProtocols {
		t.Fatalf("cross-origin upgrade from an allowed origin after SIGHUP: %d, want 101\n%s", got, logs.String())
	}
	if got := crossOriginUpgrade(t, in.addr, "https://evil.example"); got != http.StatusForbidden {
		t.Fatalf("cross-origin upgrade from another origin after SIGHUP: %d, want 403", got)
	}
	if out, err := signup("after"); err != nil {
		t.Fatalf("a 16-character password after the minimum became 16: %v\n%s", err, out)
	}

	events := in.run("accountd", "events")
	for _, key := range []string{"allowed_origins", "min_password_length", "token_lifetime"} {
		if !strings.Contains(events, "config_changed") || !strings.Contains(events, "reason="+key) {
			t.Errorf("the audit log has no config_changed event for %s:\n%s", key, events)
		}
	}
}

// writeCert writes a CA certificate to caFile and, signed by it, a
// certificate for 127.0.0.1 and its key to certFile and keyFile.
func writeCert(t *testing.T, caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial := func() *big.Int {
		n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "accountd test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{caFile, "CERTIFICATE", caDER}, {keyFile, "PRIVATE KEY", keyDER}, {certFile, "CERTIFICATE", der}} {
		// Written beside and renamed, as certificate renewers do.
		tmp := f.path + ".new"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTLS: with --tls-cert and --tls-key the listener serves https and
// wss; the CLI reaches it over wss:// trusting a CA file; a renewed
// certificate (from another CA here, so the switch shows) is served
// without a restart.
func TestTLS(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	dir := t.TempDir()
	ca1, ca2 := filepath.Join(dir, "ca1.pem"), filepath.Join(dir, "ca2.pem")
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, ca1, cert, key)
	pool := x509.NewCertPool()
	pem1, _ := os.ReadFile(ca1)
	pool.AppendCertsFromPEM(pem1)
	https := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	_, logs := in.serve(healthz(https, "https://"+in.addr), "--tls-cert", cert, "--tls-key", key)

	account := func(ca string, args ...string) (string, error) {
		args = append(args, "--server", "wss://"+in.addr, "--ca-file", ca, "--timeout", "1m")
		return in.try("account", "correct horse battery staple\n", args...)
	}
	if out, err := account(ca1, "signup", "--username", "alice", "--password-stdin", "--trust-on-first-use"); err != nil {
		t.Fatalf("signup over wss://: %v\n%s", err, out)
	}
	if out, err := account(ca1, "login", "--username", "alice", "--password-stdin"); err != nil {
		t.Fatalf("login over wss://: %v\n%s", err, out)
	}
	// A plain ws:// client gets no WebSocket from a TLS listener.
	if out, err := in.try("account", "correct horse battery staple\n", "login", "--server", "ws://"+in.addr, "--username", "alice", "--password-stdin"); err == nil {
		t.Fatalf("login over ws:// to a TLS listener succeeded:\n%s", out)
	}
	if out, err := account(ca2, "login", "--username", "alice", "--password-stdin"); err == nil {
		t.Fatalf("a CA that did not sign the certificate was accepted:\n%s", out)
	}

	writeCert(t, ca2, cert, key)
	var out string
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if out, err = account(ca2, "login", "--username", "alice", "--password-stdin"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("the renewed certificate was not served within 15s: %v\n%s\nserver logs:\n%s", err, out, logs.String())
	}
	if out, err := account(ca1, "login", "--username", "alice", "--password-stdin"); err == nil {
		t.Fatalf("the old certificate is still served after the renewal:\n%s", out)
	}
	if !strings.Contains(logs.String(), "TLS certificate reloaded") {
		t.Errorf("the server did not log the reload:\n%s", logs.String())
	}
}
