package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// dockerEngine is a private Docker engine: its own data root, exec root
// and socket, no bridge and no iptables rules, so it changes nothing of
// the machine's networking.
type dockerEngine struct {
	t      *testing.T
	client string // the docker command
	host   string // -H value
}

// startDockerEngine starts dockerd from Debian's docker.io. It skips the
// test, saying why, where no engine can run: no dockerd (a failure under
// CI, which installs it), not root, or an engine that does not come up.
func startDockerEngine(t *testing.T) *dockerEngine {
	t.Helper()
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dockerd is not installed (CI is set, so this is an error; .ci/run installs docker.io)")
		}
		t.Skip("dockerd is not installed (apt-get install docker.io); the image is not built")
	}
	if os.Geteuid() != 0 {
		t.Skipf("dockerd needs root and this test runs as uid %d; the image is not built", os.Geteuid())
	}
	// Prefer the client shipped with that dockerd (Debian puts it in
	// /usr/bin); any other negotiates the API version down.
	client := ""
	for _, c := range []string{filepath.Join(filepath.Dir(dockerd), "docker"), "/usr/bin/docker", "docker"} {
		if p, err := exec.LookPath(c); err == nil {
			client = p
			break
		}
	}
	if client == "" {
		t.Fatalf("dockerd is at %s but no docker client is installed", dockerd)
	}
	// Short paths: the sockets under them must fit in 108 bytes.
	root, err := os.MkdirTemp("", "dk-")
	if err != nil {
		t.Fatal(err)
	}
	e := &dockerEngine{t: t, client: client, host: "unix://" + filepath.Join(root, "docker.sock")}
	logs := new(syncBuffer)
	cmd := exec.Command(dockerd, "--bridge=none", "--iptables=false", "--ip6tables=false",
		"--data-root", filepath.Join(root, "data"), "--exec-root", filepath.Join(root, "exec"),
		"--pidfile", filepath.Join(root, "docker.pid"), "-H", e.host)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		// dockerd leaves its network namespace bind-mounted.
		if mounts, err := os.ReadFile("/proc/self/mounts"); err == nil {
			for _, line := range strings.Split(string(mounts), "\n") {
				if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], root+"/") {
					syscall.Unmount(f[1], syscall.MNT_DETACH)
				}
			}
		}
		if err := os.RemoveAll(root); err != nil {
			t.Logf("remove the engine's folder: %v", err)
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := e.try("info"); err == nil {
			return e
		}
		select {
		case <-exited:
			t.Skipf("dockerd cannot run here; it exited:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Skipf("dockerd did not answer within 60s:\n%s", logs.String())
		}
	}
}

// try runs a docker command against the engine.
func (e *dockerEngine) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.client, append([]string{"-H", e.host}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (e *dockerEngine) run(args ...string) string {
	e.t.Helper()
	out, err := e.try(args...)
	if err != nil {
		e.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestImage builds the image from the Dockerfile as written, with the
// files `make image-files` makes (static binaries stamped with a version),
// on a private Docker engine, and runs it as docker-compose.yml does
// against the local MariaDB (host network): a named volume, the secrets
// bind-mounted with mode 0600 and an ACL for the image's user, as the
// compose file's recipe says. Then /readyz answers, a client signs up,
// and the image reports the stamped version.
func TestImage(t *testing.T) {
	t.Parallel()
	e := startDockerEngine(t)
	setfacl, err := exec.LookPath("setfacl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("setfacl is not installed (CI is set, so this is an error; .ci/run installs acl)")
		}
		t.Skip("setfacl is not installed (apt-get install acl): the compose recipe's secrets cannot be made")
	}

	// The build context: the Dockerfile and .dockerignore as committed,
	// bin/image as `make image-files` makes it.
	ctxDir := t.TempDir()
	for _, f := range []string{"Dockerfile", ".dockerignore"} {
		data, err := os.ReadFile(filepath.Join("../..", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ctxDir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(makefile, []byte("-ldflags '-s -w $(LDFLAGS)' -o $(BIN)/image/usr/local/bin/ ./cmd/accountd ./cmd/account")) {
		t.Fatal("the Makefile's image-files target no longer builds as this test does; update the test")
	}
	const version = "v0.0.0-imagetest"
	if err := os.MkdirAll(filepath.Join(ctxDir, "bin/image/data"), 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.buildVersion="+version,
		"-o", filepath.Join(ctxDir, "bin/image/usr/local/bin")+"/", "github.com/accountd/accountd/cmd/accountd", "github.com/accountd/accountd/cmd/account")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the static binaries: %v\n%s", err, out)
	}
	image := "accountd:imagetest"
	e.run("build", "-q", "-t", image, ctxDir)

	if out := e.run("run", "--rm", image, "version"); strings.TrimSpace(out) != "accountd "+version {
		t.Errorf("the image reports %q, want the stamped version %q", strings.TrimSpace(out), "accountd "+version)
	}

	// The compose file's environment, with the local MariaDB and a free
	// port on the host network.
	c := readCompose(t)
	env := c.Services["accountd"].Environment
	u := sqltest.NewMySQLUser(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + port
	dir := t.TempDir()
	adminPassword := randomString(t)
	secrets := map[string]string{
		env["ACCOUNTD_ADMIN_PASSWORD_FILE"]: adminPassword,
		env["ACCOUNTD_DB_PASSWORD_FILE"]:    u.Password,
	}
	args := []string{"run", "-d", "--network", "host"}
	i := 0
	for target, content := range secrets {
		i++
		path := filepath.Join(dir, fmt.Sprintf("secret%d.txt", i))
		if err := os.WriteFile(path, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(setfacl, "-m", "u:65532:r", path).CombinedOutput(); err != nil {
			t.Skipf("setfacl on %s: %v: %s (the file system has no ACLs)", dir, err, out)
		}
		args = append(args, "-v", path+":"+target+":ro")
	}
	dbHost, dbPort, _ := strings.Cut(u.Addr, ":")
	for k, v := range env {
		switch k {
		case "ACCOUNTD_LISTEN":
			v = addr
		case "ACCOUNTD_DB_HOST":
			v = dbHost
		case "ACCOUNTD_DB_PORT":
			v = dbPort
		case "ACCOUNTD_DB_USER":
			v = u.Name
		case "ACCOUNTD_DB_NAME":
			v = u.Database
		}
		args = append(args, "-e", k+"="+v)
	}
	var volume string
	for _, v := range c.Services["accountd"].Volumes {
		volume = v
	}
	args = append(args, "-v", volume, image)
	args = append(args, c.Services["accountd"].Command...)
	id := strings.TrimSpace(e.run(args...))
	t.Cleanup(func() { e.try("rm", "-f", id) })

	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if state, _ := e.try("inspect", "-f", "{{.State.Status}}", id); strings.TrimSpace(state) == "exited" || time.Now().After(deadline) {
			logs, _ := e.try("logs", id)
			t.Fatalf("the container did not become ready (state %s):\n%s", strings.TrimSpace(state), logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	runAccount(t, dir, "signup", "--server", addr, "--username", "image-smoke", "--password-stdin", "--trust-on-first-use")
	runAccount(t, dir, "login", "--server", addr, "--username", "image-smoke", "--password-stdin")

	e.run("stop", "-t", "20", id)
	logs := e.run("logs", id)
	if !strings.Contains(logs, "set up in /data/accountd") || !strings.Contains(logs, `"version":"`+version+`"`) {
		t.Errorf("the logs do not show the setup in the volume and the version:\n%s", logs)
	}
	for _, secret := range []string{adminPassword, u.Password} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the logs contain a password:\n%s", logs)
		}
	}
}
