package js_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	js "github.com/accountd/accountd/client/js"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
)

// chromium is Debian's package; Playwright drives it, it never downloads one.
const chromium = "/usr/bin/chromium"

// need skips the test when a tool is missing, except under CI, where a
// missing tool is a failure.
func need(t *testing.T, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this is a failure; .ci/run installs it)", why)
	}
	t.Skipf("skipped: %s", why)
}

func nodePath(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	need(t, err == nil, "node is not installed (Debian: apt-get install nodejs)")
	return node
}

func needBrowser(t *testing.T) string {
	t.Helper()
	node := nodePath(t)
	_, err := os.Stat("node_modules/playwright-core/package.json")
	need(t, err == nil, "client/js/node_modules/playwright-core is missing (run npm ci in client/js)")
	_, err = os.Stat(chromium)
	need(t, err == nil, chromium+" is missing (Debian: apt-get install chromium)")
	return node
}

// TestSDKVectors runs the SDK's unit tests in Node against
// protocol/testdata/vectors.json.
func TestSDKVectors(t *testing.T) {
	t.Parallel()
	node := nodePath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--test", "test/").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test test/: %v\n%s", err, out)
	}
	t.Logf("%s", lastLines(out, 9))
}

// TestSDKInNode runs the SDK in Node against a live server. Node 20 has
// a WebSocket only behind --experimental-websocket.
func TestSDKInNode(t *testing.T) {
	t.Parallel()
	node := nodePath(t)
	srv := servertest.MustStart(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"e2e/node-live.mjs"}
	if out, err := exec.CommandContext(ctx, node, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)").CombinedOutput(); err != nil {
		t.Logf("no global WebSocket in this Node (%s): using --experimental-websocket", bytes.TrimSpace(out))
		args = append([]string{"--experimental-websocket"}, args...)
	}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Env = append(os.Environ(), "ACCOUNTD_WS=ws://"+srv.Addr+"/ws", "ACCOUNTD_FINGERPRINT="+srv.Fingerprint())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}

// pagesServer serves, on an origin of its own, the SDK under /sdk/ and a
// page that exposes it as window.accountd.
func pagesServer(t *testing.T) *httptest.Server {
	t.Helper()
	sdk, err := fs.Sub(js.Files(), "src")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sdk/", http.StripPrefix("/sdk/", http.FileServerFS(sdk)))
	mux.HandleFunc("/page.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>another origin</title>
<script type="module">import * as accountd from '/sdk/index.js'; window.accountd = accountd; document.title = 'ready';</script>`)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

// TestBrowser drives headless Chromium with Playwright against live
// servers: the SDK's operations from a page on another origin (refused,
// then allowed by AllowedOrigins), tabs kept in step, reconnection after a
// restart, an identity rotation the page's client follows, and the
// console's flows by clicking, down to a changed server identity being
// refused, and the Account section's self-service (its
// codes read from the mail of an SMTP server on loopback). It also logs the handshake time with client key
// generation (MEASURE_RUNS runs per key size, default 3). The script is e2e/browser.mjs; it asks this test
// to restart servers by writing "@@ <command>" lines.
func TestBrowser(t *testing.T) {
	node := needBrowser(t)
	pages := pagesServer(t)
	pagesHost := strings.TrimPrefix(pages.URL, "http://")
	ms := servertest.StartMailServer(t, servertest.MailServerOptions{})
	refusing := servertest.MustStart(t, func(c *server.Config) {
		c.Mail = account.MailConfig{Host: ms.Host, Port: ms.Port, From: "accounts@example.com", TLS: account.SMTPNoTLS}
		c.MailPollInterval = 20 * time.Millisecond
	})
	allowing := servertest.MustStart(t, func(c *server.Config) {
		c.AllowedOrigins = []string{pagesHost}
		// With mail, the email operations judge their bodies like the
		// others rather than answering that mail is off.
		c.Mail = account.MailConfig{Host: ms.Host, Port: ms.Port, From: "accounts@example.com", TLS: account.SMTPNoTLS}
	})
	// An address nothing listens on: bound, then closed.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	shots := os.Getenv("ACCOUNTD_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	servers := map[string]*servertest.Server{"console": refusing, "allowing": allowing}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "e2e/browser.mjs")
	cmd.Env = append(os.Environ(),
		"CHROMIUM="+chromium,
		"USER_DATA_DIR="+t.TempDir(),
		"SCREENSHOT_DIR="+shots,
		"PAGE_URL="+pages.URL+"/page.html",
		"CONSOLE_URL=http://"+refusing.Addr+"/account/",
		"CONSOLE_FINGERPRINT="+refusing.Fingerprint(),
		"CONSOLE_NOW="+strconv.FormatInt(refusing.Clock.Now().Unix(), 10),
		"REFUSING_WS=ws://"+refusing.Addr+"/ws",
		"ALLOWING_WS=ws://"+allowing.Addr+"/ws",
		"ALLOWING_FINGERPRINT="+allowing.Fingerprint(),
		"CLOSED_WS=ws://"+closedAddr+"/ws",
	)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if mail, ok := strings.CutPrefix(line, "@@ mailcode "); ok {
			// "@@ mailcode ADDRESS N": the N-th code mailed to ADDRESS.
			address, nth, _ := strings.Cut(mail, " ")
			n, err := strconv.Atoi(nth)
			if err != nil || n < 1 {
				t.Fatalf("browser.mjs asked for %q", line)
			}
			var codes []string
			for i := 1; len(codes) < n; i++ {
				if code := ms.WaitFor(t, ctx, address, i)[i-1].Code(); code != "" {
					codes = append(codes, code)
				}
			}
			fmt.Fprintln(stdin, codes[n-1])
			continue
		}
		verb, name, ok := strings.Cut(strings.TrimPrefix(line, "@@ "), " ")
		if !strings.HasPrefix(line, "@@ ") || !ok || servers[name] == nil {
			t.Log(line)
			continue
		}
		s := servers[name]
		switch verb {
		case "restart": // same identity, same accounts: an operator's restart
			s.Stop()
			s.MustRestart()
		case "new-identity": // another server answering at the same address
			s.Stop()
			_, id, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			s.Config.Identity = id
			s.MustRestart()
		case "rotate": // accountd identity rotate, then a restart
			s.Stop()
			_, id, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			s.Config.PreviousIdentity, s.Config.PreviousIdentityUntil = s.Config.Identity, s.Clock.Now().Add(time.Hour)
			s.Config.Identity = id
			s.MustRestart()
		default:
			t.Errorf("browser.mjs asked for %q", line)
		}
		fmt.Fprintln(stdin, "done")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("e2e/browser.mjs: %v\n%s", err, stderr.String())
	}
	for _, shot := range []string{"console-logged-in.png", "console-account.png"} {
		if _, err := os.Stat(filepath.Join(shots, shot)); err != nil {
			t.Errorf("no screenshot %s: %v", shot, err)
		}
	}
	t.Logf("screenshots in %s", shots)
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
