package wizard

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accountd/accountd/setup"
	"github.com/accountd/accountd/store/sqlstore"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// cheapKDF keeps the tests fast; production never uses it.
var cheapKDF = setup.KDFParams{Time: 1, MemoryKiB: 8, Threads: 1}

const adminPassword = "correct horse battery staple"

func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// script runs the wizard in accessible mode with the given answers, one
// per line.
func script(t *testing.T, o Options, answers ...string) (*Result, string, error) {
	t.Helper()
	var out bytes.Buffer
	o.Accessible = true
	o.In = strings.NewReader(strings.Join(answers, "\n") + "\n")
	o.Out = &out
	o.KDF = cheapKDF
	res, err := Run(testContext(t), o)
	return res, out.String(), err
}

func mode(tb testing.TB, path string) os.FileMode {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	listen := freeAddr(t)
	res, out, err := script(t, Options{DataDir: dir},
		"",            // keep the proposed data folder
		adminPassword, // password
		adminPassword, // again
		"1",           // SQLite
		listen,        // listen address
		"",            // no other origins
		"",            // no mail
		"y",           // set up now
	)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	for _, want := range []string{"accountd first run", "Data folder", "Admin password again", "Embedded SQLite", "Listen address", "Set up accountd now?"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, adminPassword) {
		t.Errorf("the output shows the admin password")
	}
	if res.DataDir != dir || res.Config.Listen != listen || res.Config.Database.Driver != setup.DriverSQLite {
		t.Fatalf("result %s %s %s", res.DataDir, res.Config.Listen, res.Config.Database)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("data folder mode %#o", m)
	}
	if m := mode(t, setup.ConfigPath(dir)); m != 0o600 {
		t.Errorf("config mode %#o", m)
	}
	cfg, err := setup.Unlock(dir, []byte(adminPassword))
	if err != nil {
		t.Fatalf("unlock what the wizard wrote: %v", err)
	}
	if cfg.IdentityFingerprint() != res.Config.IdentityFingerprint() {
		t.Fatal("the sealed config differs from the result")
	}
	if _, err := os.Stat(filepath.Join(dir, setup.SQLiteFileName)); err != nil {
		t.Fatalf("no SQLite database: %v", err)
	}
}

// TestRetries gives a wrong answer to each question first: the wizard says
// why and asks again.
func TestRetries(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o755)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := filepath.Join(base, "data")
	_, out, err := script(t, Options{DataDir: dir},
		file, open, dir,
		"short", adminPassword,
		adminPassword+"x", adminPassword,
		"7", "1",
		"localhost", busy.Addr().String(), "127.0.0.1:0",
		"", // no other origins
		"", // no mail
		"y",
	)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	for _, want := range []string{
		"is not a directory",
		"chmod 700 " + open,
		"at least 12 characters",
		"the two passwords differ",
		"between 1 and 2",
		"not host:port",
		"in use by another program",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := setup.Unlock(dir, []byte(adminPassword)); err != nil {
		t.Fatal(err)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	tests := map[string][]string{
		"input ends at the password": {""},
		"input ends at the database": {"", adminPassword, adminPassword},
		"no to the last question":    {"", adminPassword, adminPassword, "1", "127.0.0.1:0", "", "", "n"},
	}
	for name, answers := range tests {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "data")
			_, out, err := script(t, Options{DataDir: dir}, answers...)
			if !errors.Is(err, ErrAborted) {
				t.Fatalf("Run = %v, want ErrAborted\n%s", err, out)
			}
			if entries, _ := os.ReadDir(base); len(entries) != 0 {
				t.Fatalf("a cancelled wizard left %v", entries)
			}
		})
	}
}

// TestInterrupt cancels the context while the wizard waits for an answer,
// as Ctrl-C does.
func TestInterrupt(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	base := t.TempDir()
	go func() {
		_, err := Run(ctx, Options{DataDir: filepath.Join(base, "data"), Accessible: true, In: pr, Out: io.Discard, KDF: cheapKDF})
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrAborted) {
			t.Fatalf("Run = %v, want ErrAborted", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the context was cancelled")
	}
	if entries, _ := os.ReadDir(base); len(entries) != 0 {
		t.Fatalf("an interrupted wizard left %v", entries)
	}
}

// TestMySQL goes through the MariaDB path with a wrong database password
// first: the connection test names the field, and the second try works.
func TestMySQL(t *testing.T) {
	u := sqltest.NewMySQLUser(t)
	host, port, _ := net.SplitHostPort(u.Addr)
	dir := filepath.Join(t.TempDir(), "data")
	res, out, err := script(t, Options{DataDir: dir},
		"", adminPassword, adminPassword,
		"2",
		host, port, u.Name, "wrong-"+u.Password, u.Database,
		"", "", "", u.Password, "", // keep host, port, user, database
		"127.0.0.1:0",
		"", // no other origins
		"", // no mail
		"y",
	)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Check the password: the server refused user "+u.Name) {
		t.Errorf("output does not name the password as the problem:\n%s", out)
	}
	if !strings.Contains(out, "does not exist yet; accountd will create it") {
		t.Errorf("output does not say the database will be created:\n%s", out)
	}
	if strings.Contains(out, u.Password) {
		t.Errorf("the output shows the database password")
	}
	if res.Config.Database.Driver != setup.DriverMySQL {
		t.Fatalf("driver %s", res.Config.Database.Driver)
	}
	ctx := testContext(t)
	db, err := sqlstore.Open(ctx, sqlstore.MySQL, res.Config.Database.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.SchemaVersion(ctx); err != nil || v != db.LatestSchemaVersion() {
		t.Fatalf("schema version %d, %v", v, err)
	}
	p, _ := strconv.Atoi(port)
	want := setup.MySQLServer{Host: host, Port: p, User: u.Name, Password: u.Password, Name: u.Database}.DSN()
	if res.Config.Database.DSN != want {
		t.Fatalf("DSN %s, want %s", res.Config.Database.RedactedDSN(), setup.Database{Driver: "mysql", DSN: want}.RedactedDSN())
	}
}

// TestRememberedSetup: with another setup remembered, the wizard asks
// whether the new one replaces it; the default keeps it.
func TestRememberedSetup(t *testing.T) {
	old := t.TempDir()
	for _, tc := range []struct {
		answer string
		want   bool
	}{{"", false}, {"n", false}, {"y", true}} {
		dir := filepath.Join(t.TempDir(), "data")
		res, out, err := script(t, Options{DataDir: dir, Remembered: old},
			"", tc.answer, adminPassword, adminPassword, "1", freeAddr(t), "", "", "y")
		if err != nil {
			t.Fatalf("answer %q: Run: %v\n%s", tc.answer, err, out)
		}
		if !strings.Contains(out, "already set up in "+old) {
			t.Errorf("answer %q: the wizard did not name the remembered setup:\n%s", tc.answer, out)
		}
		if res.Remember != tc.want {
			t.Errorf("answer %q: Remember = %v, want %v", tc.answer, res.Remember, tc.want)
		}
	}
	// The remembered folder itself, or none: nothing to ask.
	for _, remembered := range []string{"", "same"} {
		dir := filepath.Join(t.TempDir(), "data")
		if remembered == "same" {
			remembered = dir
		}
		res, out, err := script(t, Options{DataDir: dir, Remembered: remembered},
			"", adminPassword, adminPassword, "1", freeAddr(t), "", "", "y")
		if err != nil {
			t.Fatalf("remembered %q: Run: %v\n%s", remembered, err, out)
		}
		if strings.Contains(out, "already set up") || !res.Remember {
			t.Errorf("remembered %q: asked %v, Remember %v; want no question and Remember true", remembered, strings.Contains(out, "already set up"), res.Remember)
		}
	}
}

// TestMail: the optional origins and SMTP questions land in the sealed
// settings; a bad origin and a bad sender are asked again.
func TestMail(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	res, out, err := script(t, Options{DataDir: dir},
		"", adminPassword, adminPassword, "1", freeAddr(t),
		"not a host!", "app.example.com, *.example.org", // an origin refused, then two
		"smtp.example.com",
		"2",           // implicit TLS
		"",            // the port by the choice
		"mailer",      // username
		"mail secret", // password
		"not an address", "Example <accounts@example.com>",
		"y")
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	s := res.Config.Server
	if s.SMTPHost != "smtp.example.com" || s.SMTPTLS != "tls" || s.SMTPPort != 0 || s.SMTPUsername != "mailer" ||
		s.SMTPPassword != "mail secret" || s.SMTPFrom != "Example <accounts@example.com>" {
		t.Errorf("mail settings = %+v", s)
	}
	if strings.Contains(out, "mail secret") {
		t.Error("the SMTP password was echoed")
	}
	if !strings.Contains(out, "smtp from address") {
		t.Errorf("a bad sender was not refused:\n%s", out)
	}
	if got := s.AllowedOrigins; !slices.Equal(got, []string{"app.example.com", "*.example.org"}) {
		t.Errorf("allowed origins = %q, want app.example.com and *.example.org", got)
	}
	if !strings.Contains(out, "contains spaces") {
		t.Errorf("a bad origin was not refused:\n%s", out)
	}
}
