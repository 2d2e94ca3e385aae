package sqltest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MariaDB is a private mariadbd server a test starts in its own temporary
// directory on its own loopback port, so that it can be stopped and
// started again without touching any shared server. Start and Stop are
// safe to call from several goroutines.
type MariaDB struct {
	tb   testing.TB
	bin  string
	dir  string
	port int
	// args are added to mariadbd's command line at every start.
	args []string
	// startTimeout bounds the wait for a started server to answer.
	startTimeout time.Duration
	// startFailure, when set, describes the failure of a start in place
	// of the server's own log (a cluster node's depends on its peers).
	startFailure func() string
	mu           sync.Mutex
	cmd          *exec.Cmd
	exited       chan struct{}
	running      bool
}

// StartMariaDB initialises a data directory with mariadb-install-db and
// starts mariadbd on a free loopback port. The server is stopped when the
// test ends. When mariadbd or mariadb-install-db is not installed the test
// is skipped, unless the environment variable CI is set (then it fails).
func StartMariaDB(tb testing.TB) *MariaDB {
	tb.Helper()
	m := newMariaDB(tb, true)
	m.Start()
	return m
}

// newMariaDB finds mariadbd, makes a private directory for one server and
// picks its port; with install it also initialises the data directory
// (see installDataDir), else leaves it empty. The server is stopped and
// the directory removed when the test ends.
func newMariaDB(tb testing.TB, install bool) *MariaDB {
	tb.Helper()
	bin := findBinary("mariadbd", "/usr/sbin/mariadbd", "/usr/libexec/mariadbd")
	installDB := findBinary("mariadb-install-db", "/usr/bin/mariadb-install-db")
	if bin == "" || installDB == "" {
		if os.Getenv("CI") != "" {
			tb.Fatal("sqltest: mariadbd and mariadb-install-db are required (CI is set); install mariadb-server")
		}
		tb.Skip("mariadbd or mariadb-install-db not installed: install mariadb-server to run this test")
	}
	// Not tb.TempDir: its long path could push the socket path past the
	// 108 bytes a Unix socket name may have.
	dir, err := os.MkdirTemp("", "accountd-mariadb-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	// A temporary folder of its own: servers bootstrapping at once in the
	// shared /tmp remove each other's temporary tables.
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o700); err != nil {
		tb.Fatal(err)
	}
	if install {
		note, err := installDataDir(bin, installDB, filepath.Join(dir, "tmp"), data)
		if err != nil {
			tb.Fatal(err)
		}
		if note != "" {
			tb.Log(note)
		}
	} else if err := os.Mkdir(data, 0o700); err != nil {
		tb.Fatal(err)
	}
	m := &MariaDB{tb: tb, bin: bin, dir: dir, port: freeLoopbackPort(tb), startTimeout: 60 * time.Second}
	tb.Cleanup(func() { m.Stop() })
	return m
}

func findBinary(name string, fallbacks ...string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range fallbacks {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

func freeLoopbackPort(tb testing.TB) int {
	tb.Helper()
	p, err := FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Addr is the server's host:port.
func (m *MariaDB) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.port)) }

// Start starts mariadbd (again) on the same data directory and port and
// waits until it answers. It does nothing when the server runs.
func (m *MariaDB) Start() { m.tb.Helper(); m.start() }

// start is Start with arguments for this start only.
func (m *MariaDB) start(once ...string) {
	m.tb.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running {
		return
	}
	cmd := exec.Command(m.bin, m.serverArgs(once...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		m.tb.Fatalf("sqltest: start mariadbd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	m.cmd, m.exited, m.running = cmd, exited, true

	deadline := time.Now().Add(m.startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := m.ping(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-exited:
			m.tb.Fatalf("sqltest: mariadbd exited at start: %s", m.describeFailure())
		default:
		}
		if time.Now().After(deadline) {
			m.tb.Fatalf("sqltest: mariadbd did not answer within %v: %v\n%s", m.startTimeout, err, m.describeFailure())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *MariaDB) dataDir() string { return filepath.Join(m.dir, "data") }

// serverArgs is mariadbd's command line: the options every private
// server uses, then m.args, then once.
func (m *MariaDB) serverArgs(once ...string) []string {
	args := []string{"--no-defaults",
		"--datadir=" + m.dataDir(),
		"--socket=" + filepath.Join(m.dir, "mysqld.sock"),
		"--pid-file=" + filepath.Join(m.dir, "mysqld.pid"),
		"--log-error=" + m.errorLog(),
		"--tmpdir=" + filepath.Join(m.dir, "tmp"),
		"--bind-address=127.0.0.1", "--port=" + strconv.Itoa(m.port),
		"--skip-grant-tables", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
		"--max-connections=200",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	args = append(args, m.args...)
	return append(args, once...)
}

func (m *MariaDB) describeFailure() string {
	if m.startFailure != nil {
		return m.startFailure()
	}
	log, _ := os.ReadFile(m.errorLog())
	return string(log)
}

func (m *MariaDB) errorLog() string { return filepath.Join(m.dir, "error.log") }

func (m *MariaDB) ping(ctx context.Context) error {
	db, err := sql.Open("mysql", m.BaseDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// Stop shuts mariadbd down (SIGTERM, then SIGKILL after 30 s) and waits
// for it to exit. It does nothing when the server is stopped.
func (m *MariaDB) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running {
		return
	}
	m.cmd.Process.Signal(syscall.SIGCONT) // in case it is paused
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(30 * time.Second):
		m.cmd.Process.Kill()
		<-m.exited
	}
	m.running = false
}

// BaseDSN is a DSN for the server with no database selected.
func (m *MariaDB) BaseDSN() string {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = m.Addr()
	cfg.Timeout = 2 * time.Second
	return cfg.FormatDSN()
}

// CreateDatabase creates a database with a random name on the server and
// returns a DSN for it.
func (m *MariaDB) CreateDatabase(tb testing.TB) string {
	tb.Helper()
	cfg, err := mysql.ParseDSN(m.BaseDSN())
	if err != nil {
		tb.Fatal(err)
	}
	cfg.DBName = "accountd_test_" + randomHex(tb, 8)
	db, err := sql.Open("mysql", m.BaseDSN())
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := db.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", cfg.DBName)); err != nil {
		tb.Fatalf("sqltest: create database: %v", err)
	}
	return cfg.FormatDSN()
}

// Pause freezes mariadbd (SIGSTOP): it keeps its connections and accepts
// new ones but answers nothing, like a hung server. Resume undoes it.
func (m *MariaDB) Pause() { m.signal(syscall.SIGSTOP) }

// Resume lets a paused mariadbd run again (SIGCONT).
func (m *MariaDB) Resume() { m.signal(syscall.SIGCONT) }

func (m *MariaDB) signal(sig syscall.Signal) {
	m.tb.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running {
		m.tb.Fatal("sqltest: mariadbd is not running")
	}
	if err := m.cmd.Process.Signal(sig); err != nil {
		m.tb.Fatalf("sqltest: signal mariadbd: %v", err)
	}
}
