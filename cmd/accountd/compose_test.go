package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// The repository's container files, relative to this package.
const (
	composePath    = "../../docker-compose.yml"
	dockerfilePath = "../../Dockerfile"
)

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
	Volumes map[string]any `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Secrets     []string          `yaml:"secrets"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// TestComposeConfig validates docker-compose.yml with Debian's
// docker-compose, as an operator's `docker-compose up` would first.
func TestComposeConfig(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("docker-compose is not installed (CI is set, so this is an error; .ci/run installs it)")
		}
		t.Skip("docker-compose is not installed (apt-get install docker-compose); the compose file is not validated")
	}
	cmd := exec.Command(bin, "-f", composePath, "config", "-q")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
}

// TestComposeSmoke runs accountd with exactly the command and environment
// docker-compose.yml gives it, against the local MariaDB: the service
// host name becomes 127.0.0.1, the secrets become files, the volume a
// temporary folder, the user and database the ones the db service would
// create become a throwaway user and database, and the published port a
// free one. Then a client signs up and logs in, and a second start
// unlocks what the first one set up.
func TestComposeSmoke(t *testing.T) {
	c := readCompose(t)
	app, ok := c.Services["accountd"]
	if !ok {
		t.Fatal("docker-compose.yml has no accountd service")
	}
	db, ok := c.Services["db"]
	if !ok {
		t.Fatal("docker-compose.yml has no db service")
	}

	// What compose guarantees before accountd starts.
	if dep := app.DependsOn["db"]; dep.Condition != "service_healthy" {
		t.Errorf("accountd depends on db with condition %q, want service_healthy", dep.Condition)
	}
	if len(db.Healthcheck.Test) == 0 {
		t.Error("db has no healthcheck")
	}
	if app.Entrypoint != nil {
		t.Error("accountd overrides the image's entrypoint; this test runs the image's (the Dockerfile's)")
	}
	if app.Build == nil {
		t.Error("accountd has no build: the image would not be built from this repository")
	}
	dockerfile, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^ENTRYPOINT \["/usr/local/bin/accountd"\]$`).Match(dockerfile) {
		t.Fatal("the Dockerfile's ENTRYPOINT is not accountd: the smoke test would not run what the image runs")
	}
	if !regexp.MustCompile(`(?m)^USER [1-9]`).Match(dockerfile) {
		t.Error("the Dockerfile does not switch to a non-root user")
	}

	env := app.Environment
	for _, k := range []string{"ACCOUNTD_DATA_DIR", "ACCOUNTD_DB", "ACCOUNTD_DB_HOST", "ACCOUNTD_DB_USER", "ACCOUNTD_DB_NAME", "ACCOUNTD_DB_PASSWORD_FILE", "ACCOUNTD_ADMIN_PASSWORD_FILE", "ACCOUNTD_LISTEN"} {
		if env[k] == "" {
			t.Errorf("accountd's environment lacks %s", k)
		}
	}
	if env["ACCOUNTD_DB_USER"] != db.Environment["MARIADB_USER"] || env["ACCOUNTD_DB_NAME"] != db.Environment["MARIADB_DATABASE"] {
		t.Errorf("accountd logs in as %s to %s, but the db service creates %s and %s",
			env["ACCOUNTD_DB_USER"], env["ACCOUNTD_DB_NAME"], db.Environment["MARIADB_USER"], db.Environment["MARIADB_DATABASE"])
	}
	if env["ACCOUNTD_DB_PASSWORD_FILE"] != db.Environment["MARIADB_PASSWORD_FILE"] {
		t.Errorf("accountd reads the DB password from %s, the db service from %s", env["ACCOUNTD_DB_PASSWORD_FILE"], db.Environment["MARIADB_PASSWORD_FILE"])
	}
	if t.Failed() {
		t.FailNow()
	}

	// Secrets: files, mounted at /run/secrets/<name> in the services that
	// name them.
	secretFiles := map[string]string{} // /run/secrets/x -> local file
	u := sqltest.NewMySQLUser(t)
	adminPassword := randomString(t)
	dir := t.TempDir()
	for name, s := range c.Secrets {
		if s.File == "" {
			t.Errorf("secret %s is not a file", name)
		}
	}
	for k, v := range env {
		secret, ok := strings.CutPrefix(v, "/run/secrets/")
		if !ok {
			continue
		}
		if _, declared := c.Secrets[secret]; !declared || !contains(app.Secrets, secret) {
			t.Fatalf("%s=%s: secret %s is not declared or not given to accountd", k, v, secret)
		}
		var content string
		switch k {
		case "ACCOUNTD_ADMIN_PASSWORD_FILE":
			content = adminPassword
		case "ACCOUNTD_DB_PASSWORD_FILE":
			if !contains(db.Secrets, secret) {
				t.Fatalf("the db service is not given secret %s", secret)
			}
			content = u.Password
		default:
			t.Fatalf("%s: a secret this test does not know", k)
		}
		path := filepath.Join(dir, "secret-"+secret)
		// Docker writes secrets with a trailing newline when the file has one.
		if err := os.WriteFile(path, []byte(content+"\n"), 0o400); err != nil {
			t.Fatal(err)
		}
		secretFiles[v] = path
	}

	// The data folder is in a named volume: at ACCOUNTD_DATA_DIR or,
	// for accountd to create it with its mode, above it.
	dataDir := env["ACCOUNTD_DATA_DIR"]
	var localData string
	for _, v := range app.Volumes {
		src, dst, _ := strings.Cut(v, ":")
		rel, err := filepath.Rel(dst, dataDir)
		if _, named := c.Volumes[src]; named && err == nil && !strings.HasPrefix(rel, "..") {
			localData = filepath.Join(dir, "volume", rel)
		}
	}
	if localData == "" {
		t.Fatalf("no named volume is mounted at %s or above it", dataDir)
	}
	// A fresh volume's root as Docker makes it from the image: mode
	// 0755, which accountd refuses for its own folder.
	if err := os.Mkdir(filepath.Join(dir, "volume"), 0o755); err != nil {
		t.Fatal(err)
	}

	// The listen port is published.
	_, listenPort, err := net.SplitHostPort(env["ACCOUNTD_LISTEN"])
	if err != nil {
		t.Fatal(err)
	}
	published := false
	for _, p := range app.Ports {
		parts := strings.Split(p, ":")
		if parts[len(parts)-1] == listenPort {
			published = true
		}
	}
	if !published {
		t.Fatalf("port %s (ACCOUNTD_LISTEN) is not published", listenPort)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + port

	// The mail service becomes an SMTP server on loopback, in clear as
	// on the compose network.
	ms := servertest.StartMailServer(t, servertest.MailServerOptions{})
	if _, ok := c.Services["mailpit"]; !ok {
		t.Fatal("no mailpit service")
	}
	dbHost, dbPort, _ := net.SplitHostPort(u.Addr)
	var environ []string
	for k, v := range env {
		switch {
		case secretFiles[v] != "":
			v = secretFiles[v]
		case k == "ACCOUNTD_DATA_DIR":
			v = localData
		case k == "ACCOUNTD_LISTEN":
			v = addr
		case k == "ACCOUNTD_DB_HOST":
			if _, isService := c.Services[v]; !isService {
				t.Fatalf("ACCOUNTD_DB_HOST=%s is not a service of the compose file", v)
			}
			v = dbHost
		case k == "ACCOUNTD_DB_PORT":
			v = dbPort
		case k == "ACCOUNTD_DB_USER":
			v = u.Name
		case k == "ACCOUNTD_DB_NAME":
			v = u.Database
		case k == "ACCOUNTD_SMTP_HOST":
			if _, isService := c.Services[v]; !isService {
				t.Fatalf("ACCOUNTD_SMTP_HOST=%s is not a service of the compose file", v)
			}
			v = ms.Host
		case k == "ACCOUNTD_SMTP_PORT":
			v = strconv.Itoa(ms.Port)
		}
		environ = append(environ, k+"="+v)
	}
	environ = append(environ, "HOME="+dir, "PATH="+os.Getenv("PATH"))

	start := func() (*exec.Cmd, *bytes.Buffer) {
		t.Helper()
		cmd := exec.Command(filepath.Join(binDir, "accountd"), app.Command...)
		cmd.Env = environ
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		if err := waitHealthy(addr, cmd, 60*time.Second); err != nil {
			t.Fatalf("%v\nlogs:\n%s", err, logs.String())
		}
		return cmd, &logs
	}
	stop := func(cmd *exec.Cmd, logs *bytes.Buffer) {
		t.Helper()
		cmd.Process.Signal(syscall.SIGTERM) // what `docker stop` sends
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("accountd exited with %v after SIGTERM\n%s", err, logs.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("accountd did not stop within 20 s of SIGTERM\n%s", logs.String())
		}
		for _, secret := range []string{adminPassword, u.Password} {
			if strings.Contains(logs.String(), secret) {
				t.Fatalf("the logs contain a password:\n%s", logs.String())
			}
		}
	}

	cmd, logs := start()
	runAccount(t, dir, "signup", "--server", addr, "--username", "compose-smoke", "--password-stdin", "--trust-on-first-use")
	runAccount(t, dir, "login", "--server", addr, "--username", "compose-smoke", "--password-stdin")
	runAccount(t, dir, "signup", "--server", addr, "--username", "compose-mail", "--email", "compose@example.com", "--password-stdin")
	mctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if m := ms.WaitFor(t, mctx, "compose@example.com", 1)[0]; m.Code() == "" {
		t.Fatalf("the verification mail holds no code:\n%s", m.Text)
	}
	stop(cmd, logs)
	if !strings.Contains(logs.String(), "accountd: set up in") || !strings.Contains(logs.String(), `"store":"mysql `) {
		t.Fatalf("the first start did not set up with MariaDB:\n%s", logs.String())
	}

	cmd, logs = start()
	runAccount(t, dir, "login", "--server", addr, "--username", "compose-smoke", "--password-stdin")
	stop(cmd, logs)
	if strings.Contains(logs.String(), "set up in") {
		t.Fatalf("the second start set up again:\n%s", logs.String())
	}
}

// runAccount runs the client with a fixed account password on stdin.
func runAccount(t *testing.T, home string, args ...string) {
	t.Helper()
	// A generous timeout: the machine may be busy; this is a smoke test,
	// not a measurement.
	args = append(args, "--timeout", "3m")
	cmd := exec.Command(filepath.Join(binDir, "account"), args...)
	cmd.Env = []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}
	cmd.Stdin = strings.NewReader("correct horse battery staple\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("account %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// waitHealthy waits for /healthz, or for the process to end.
func waitHealthy(addr string, cmd *exec.Cmd, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if cmd.ProcessState != nil {
			return fmt.Errorf("accountd exited: %v", cmd.ProcessState)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("accountd did not answer /healthz at %s within %v", addr, limit)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func randomString(t *testing.T) string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
