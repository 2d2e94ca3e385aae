package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tmuxSession is a detached tmux session on a private server socket.
type tmuxSession struct {
	t      *testing.T
	socket string
}

func newTmux(t *testing.T, script string, env []string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is not installed (CI is set, so this is an error; .ci/run installs it)")
		}
		t.Skip("tmux is not installed; the wizard is not tested in a real terminal")
	}
	s := &tmuxSession{t: t, socket: "accountd-test-" + randomString(t)[:12]}
	args := []string{"-L", s.socket, "-f", "/dev/null", "new-session", "-d", "-x", "110", "-y", "45", "sh", "-c", script}
	cmd := exec.Command("tmux", args...)
	cmd.Env = append(env, "TERM=xterm-256color")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	return s
}

// screen returns the visible pane and its scrollback.
func (s *tmuxSession) screen() string {
	out, err := exec.Command("tmux", "-L", s.socket, "capture-pane", "-p", "-S", "-200").Output()
	if err != nil {
		s.t.Fatalf("tmux capture-pane: %v", err)
	}
	return string(out)
}

// waitFor waits up to 60 s for the screen to match re.
func (s *tmuxSession) waitFor(re string) string {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if sc := s.screen(); rx.MatchString(sc) {
			return sc
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("the terminal never showed %q; it shows:\n%s", re, s.screen())
	return ""
}

// keys sends tmux key names (Enter, C-c, ...).
func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	args := append([]string{"-L", s.socket, "send-keys"}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		s.t.Fatalf("tmux send-keys: %v\n%s", err, out)
	}
	time.Sleep(150 * time.Millisecond)
}

// text types literal text.
func (s *tmuxSession) text(text string) {
	s.t.Helper()
	if out, err := exec.Command("tmux", "-L", s.socket, "send-keys", "-l", text).CombinedOutput(); err != nil {
		s.t.Fatalf("tmux send-keys: %v\n%s", err, out)
	}
	time.Sleep(150 * time.Millisecond)
}

// TestWizardInTerminal runs plain `accountd` in a real terminal as a
// person would: the full-screen wizard with the proposed answers, then a
// wrong admin password (refused), then the right one (serves) and Ctrl-C.
func TestWizardInTerminal(t *testing.T) {
	home := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + port
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "PATH=" + binDir + ":" + os.Getenv("PATH")}
	// The shell traps SIGINT (the Ctrl-C that stops the server reaches the
	// whole foreground group) so that it lives on to print the exit code.
	script := `trap : INT; cd "$HOME"; accountd --listen ` + addr + `; echo "EXIT1=$?"; accountd; echo "EXIT2=$?"; accountd; echo "EXIT3=$?"; sleep 600`
	s := newTmux(t, script, env)
	const password = "swordfish swordfish"

	s.waitFor(`accountd first run`)
	s.waitFor(`Data folder`)
	s.keys("Enter") // the proposed folder
	s.waitFor(`Admin password`)
	s.text(password)
	if sc := s.screen(); strings.Contains(sc, "swordfish") {
		t.Fatalf("the password is echoed:\n%s", sc)
	}
	s.keys("Tab") // huh's next field; Enter on the last one submits
	s.text("not the same password")
	s.keys("Enter")
	s.waitFor(`the two passwords differ`)
	s.keys("C-u")
	s.text(password)
	s.keys("Enter")
	s.waitFor(`Where should the accounts live\?`)
	s.keys("Enter") // SQLite, the first choice
	s.waitFor(`Listen address`)
	s.keys("Enter") // the proposed address
	s.waitFor(`Web app origins allowed`)
	s.keys("Enter") // no other origins
	s.waitFor(`SMTP server for mail`)
	s.keys("Enter") // no mail
	s.waitFor(`Set up accountd now\?`)
	s.keys("Enter")
	sc := s.waitFor(`EXIT1=0`)
	for _, want := range []string{"accountd is set up", "identity:    SHA256:", "Start the server with:"} {
		if !strings.Contains(sc, want) {
			t.Fatalf("the wizard's end lacks %q:\n%s", want, sc)
		}
	}

	// Later runs ask for the password, with no echo; a wrong one exits.
	s.waitFor(`Admin password:`)
	s.text("swordfish swordfisH")
	s.keys("Enter")
	sc = s.waitFor(`EXIT2=1`)
	if !strings.Contains(sc, "wrong admin password") {
		t.Fatalf("no clear message for a wrong password:\n%s", sc)
	}
	s.waitFor(`(?s)EXIT2=1.*Admin password:`)
	s.text(password)
	s.keys("Enter")
	s.waitFor(`accountd serving`)
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("the server the terminal started does not answer: %v", err)
	}
	resp.Body.Close()
	s.keys("C-c")
	sc = s.waitFor(`EXIT3=0`)
	if strings.Contains(sc, "swordfish") {
		t.Fatalf("a password appeared on the terminal:\n%s", sc)
	}
	if _, err := os.Stat(filepath.Join(home, ".config", "accountd", "accountd.conf")); err != nil {
		t.Fatalf("no config in the proposed folder: %v", err)
	}
}

// TestWizardCtrlC cancels the full-screen wizard: nothing is written.
func TestWizardCtrlC(t *testing.T) {
	home := t.TempDir()
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "PATH=" + binDir + ":" + os.Getenv("PATH")}
	s := newTmux(t, `cd "$HOME"; accountd --data-dir "$HOME/data"; echo "EXIT=$?"; sleep 600`, env)
	s.waitFor(`Data folder`)
	s.keys("Enter")
	s.waitFor(`Admin password`)
	s.text("swordfish swordfish")
	s.keys("C-c")
	sc := s.waitFor(`EXIT=130`)
	if !strings.Contains(sc, "Setup cancelled; nothing was written") {
		t.Fatalf("no word on the cancelled setup:\n%s", sc)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("a cancelled wizard left %v", names)
	}
}

// TestAccessibleWizardCtrlC interrupts the accessible wizard at its
// no-echo password prompt: nothing is written and the terminal echoes
// again afterwards.
func TestAccessibleWizardCtrlC(t *testing.T) {
	home := t.TempDir()
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "PATH=" + binDir + ":" + os.Getenv("PATH")}
	s := newTmux(t, `trap : INT; cd "$HOME"; accountd --accessible --data-dir "$HOME/data"; echo "EXIT=$?"; read x; echo "READ=$x"; sleep 600`, env)
	s.waitFor(`Data folder`)
	s.keys("Enter")
	s.waitFor(`Admin password`)
	s.text("swordfish")
	s.keys("C-c")
	s.waitFor(`EXIT=130`)
	s.text("typed-after")
	s.keys("Enter")
	sc := s.waitFor(`READ=typed-after`)
	if !regexp.MustCompile(`(?m)^typed-after\s*$`).MatchString(sc) {
		t.Fatalf("the terminal does not echo after the interrupted password prompt:\n%s", sc)
	}
	if strings.Contains(sc, "swordfish") {
		t.Fatalf("the password was echoed:\n%s", sc)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Fatalf("an interrupted wizard left %d entries", len(entries))
	}
}
