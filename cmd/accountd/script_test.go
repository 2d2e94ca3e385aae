package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/go-sql-driver/mysql"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/setup"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// binDir holds accountd and account built from this tree, once per run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "accountd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "github.com/accountd/accountd/cmd/...")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestScripts runs the CLI end to end: the real binaries, a real server
// on a free loopback port, the embedded store.
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/script", nil))
}

// TestScriptsMySQL runs the same against a fresh MariaDB database.
func TestScriptsMySQL(t *testing.T) {
	// One fresh database per script: the scripts run in parallel.
	files, err := filepath.Glob("testdata/mysql/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no MariaDB scripts: %v", err)
	}
	perScript := map[string]map[string]string{}
	for _, f := range files {
		dsn := sqltest.MySQLDSN(t)
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		host, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Passwd != "" {
			t.Fatal("the MariaDB scripts answer the wizard with an empty database password; use a test DSN without one")
		}
		perScript[strings.TrimSuffix(filepath.Base(f), ".txtar")] = map[string]string{
			"MYSQL_DSN": dsn, "MYSQL_HOST": host, "MYSQL_PORT": port, "MYSQL_USER": cfg.User, "MYSQL_DB": cfg.DBName,
		}
	}
	p := scriptParams("testdata/mysql", nil)
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		if err := setup(env); err != nil {
			return err
		}
		// testscript names each work folder script-<name>.
		vars, ok := perScript[strings.TrimPrefix(filepath.Base(env.WorkDir), "script-")]
		if !ok {
			return fmt.Errorf("no database for work folder %s", env.WorkDir)
		}
		for k, v := range vars {
			env.Setenv(k, v)
		}
		return nil
	}
	testscript.Run(t, p)
}

func scriptParams(dir string, vars map[string]string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", binDir+string(os.PathListSeparator)+env.Getenv("PATH"))
			port, err := freePort()
			if err != nil {
				return err
			}
			env.Setenv("PORT", port)
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, ".config"))
			for k, v := range vars {
				env.Setenv(k, v)
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitserver":  cmdWaitServer,
			"jwksverify":  cmdJWKSVerify,
			"filemode":    cmdFileMode,
			"flipbyte":    cmdFlipByte,
			"jsonenv":     cmdJSONEnv,
			"totpcode":    cmdTOTPCode,
			"mailserver":  cmdMailServer,
			"mailcode":    cmdMailCode,
			"masterbegin": cmdMasterBegin,
		},
	}
}

// mailserver — start an SMTP server on loopback for this script (stopped
// at its end), writing each message it accepts into $WORK/mail; set
// SMTP_PORT to its port.
func cmdMailServer(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 0 || neg {
		ts.Fatalf("usage: mailserver")
	}
	dir := ts.MkAbs("mail")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		ts.Fatalf("%v", err)
	}
	ms, err := servertest.NewMailServer(servertest.MailServerOptions{Dir: dir})
	if err != nil {
		ts.Fatalf("start the mail server: %v", err)
	}
	ts.Defer(ms.Stop)
	ts.Setenv("SMTP_PORT", strconv.Itoa(ms.Port))
}

// mailcode VAR address subject n — wait (at most 20 s) for the n-th
// message to address whose subject holds subject, and set VAR to the
// 8-digit code in it.
func cmdMailCode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 4 || neg {
		ts.Fatalf("usage: mailcode VAR address subject n")
	}
	n, err := strconv.Atoi(args[3])
	if err != nil {
		ts.Fatalf("n: %v", err)
	}
	dir := ts.MkAbs("mail")
	for deadline := time.Now().Add(20 * time.Second); ; {
		var found []servertest.Mail
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				ts.Fatalf("%v", err)
			}
			m, err := servertest.ReadMail(raw)
			if err != nil {
				ts.Fatalf("%s: %v", f, err)
			}
			if strings.Contains(strings.ToLower(m.Header.Get("To")), args[1]) && strings.Contains(m.Header.Get("Subject"), args[2]) {
				found = append(found, m)
			}
		}
		if len(found) >= n {
			code := found[n-1].Code()
			if code == "" {
				ts.Fatalf("no code in:\n%s", found[n-1].Text)
			}
			ts.Setenv(args[0], code)
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%d messages to %s about %q, want %d", len(found), args[1], args[2], n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// masterbegin datadir passwordfile — run the first step of accountd keys
// rotate-master alone (the config gets the new master key and keeps the
// previous one), as if the command were killed right after it.
func cmdMasterBegin(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: masterbegin datadir passwordfile")
	}
	pw, err := setup.ReadPasswordFile(ts.MkAbs(args[1]))
	ts.Check(err)
	defer clear(pw)
	_, resumed, err := beginMasterRotation(ts.MkAbs(args[0]), pw)
	ts.Check(err)
	if resumed {
		ts.Fatalf("a master key rotation was under way already")
	}
}

// jsonenv VAR file member — set VAR to the string member of the JSON
// object in file (a later command's argument, such as a session id).
func cmdJSONEnv(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 || neg {
		ts.Fatalf("usage: jsonenv VAR file member")
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[1])), &m); err != nil {
		ts.Fatalf("%s: %v", args[1], err)
	}
	v, ok := m[args[2]].(string)
	if !ok {
		ts.Fatalf("%s has no string member %q", args[1], args[2])
	}
	ts.Setenv(args[0], v)
}

// totpcode VAR secret [next] — set VAR, and write VAR.txt with a line,
// to the code an authenticator app shows for secret now, or with next
// the code of the following step (which the server accepts as clock
// skew): a later step than any used before, without waiting.
func cmdTOTPCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 || (len(args) == 3 && args[2] != "next") {
		ts.Fatalf("usage: totpcode VAR secret [next]")
	}
	at := time.Now()
	if len(args) == 3 {
		at = at.Add(30 * time.Second)
	}
	code, err := totp.GenerateCodeCustom(args[1], at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	ts.Check(err)
	ts.Setenv(args[0], code)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]+".txt"), []byte(code+"\n"), 0o600))
}

// freePort is a port for an accountd a test starts (sqltest.FreePort:
// not one the kernel may hand another test meanwhile).
func freePort() (string, error) {
	p, err := sqltest.FreePort()
	return strconv.Itoa(p), err
}

// waitserver host:port — wait up to 30 s for /healthz to answer 200.
func cmdWaitServer(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitserver host:port")
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + args[0] + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.Fatalf("server at %s did not answer /healthz within 30s", args[0])
}

// jwksverify url tokenfile username — verify the token in tokenfile with
// an independent JOSE library against the server's published JWKS.
func cmdJWKSVerify(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: jwksverify jwks-url tokenfile")
	}
	resp, err := http.Get(args[0])
	ts.Check(err)
	defer resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age") {
		ts.Fatalf("jwks has no cache max-age: %q", cc)
	}
	var set jose.JSONWebKeySet
	ts.Check(json.NewDecoder(resp.Body).Decode(&set))
	raw := strings.TrimSpace(ts.ReadFile(args[1]))
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.PS256, jose.RS256, jose.EdDSA})
	ts.Check(err)
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		ts.Fatalf("token has no kid")
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		ts.Fatalf("kid %s not in the JWKS (%d keys)", tok.Headers[0].KeyID, len(set.Keys))
	}
	var claims josejwt.Claims
	var extra struct {
		SID string `json:"sid"`
	}
	err = tok.Claims(keys[0].Key, &claims, &extra)
	if neg {
		if err == nil {
			ts.Fatalf("token verified")
		}
		return
	}
	ts.Check(err)
	ts.Check(claims.ValidateWithLeeway(josejwt.Expected{Issuer: "accountd", Time: time.Now()}, 0))
	if claims.Subject == "" || extra.SID == "" {
		ts.Fatalf("token lacks sub or sid: %+v", claims)
	}
}

// filemode path 0600 — check a file's permission bits.
func cmdFileMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: filemode path mode")
	}
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := fmt.Sprintf("%04o", fi.Mode().Perm()); got != args[1] {
		ts.Fatalf("%s has mode %s, want %s", args[0], got, args[1])
	}
}

// flipbyte file offset — invert one byte of a file; a negative offset
// counts from the end.
func cmdFlipByte(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: flipbyte file offset")
	}
	path := ts.MkAbs(args[0])
	data, err := os.ReadFile(path)
	ts.Check(err)
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	if off < 0 {
		off += len(data)
	}
	if off < 0 || off >= len(data) {
		ts.Fatalf("offset %s outside the %d-byte file", args[1], len(data))
	}
	data[off] ^= 0xff
	ts.Check(os.WriteFile(path, data, 0o600))
}
