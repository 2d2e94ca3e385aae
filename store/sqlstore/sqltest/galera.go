package sqltest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// galeraProvider is where Debian's galera-4 package installs the
// replication library.
const galeraProvider = "/usr/lib/galera/libgalera_smm.so"

// galeraSyncTimeout bounds the wait for a node to join the cluster and
// reach Synced. A joiner receives the write sets it missed (IST) first;
// on a loaded two-core machine that can take tens of seconds.
const galeraSyncTimeout = 120 * time.Second

// Galera is a multi-master MariaDB Galera cluster of private mariadbd
// servers on loopback, started by StartGaleraCluster. Every node accepts
// reads and writes. Its methods are for the test goroutine; DSN and
// Addr may be called from any goroutine.
type Galera struct {
	tb    testing.TB
	nodes []*MariaDB
}

// StartGaleraCluster starts n mariadbd servers, each in its own temporary
// directory with its own free loopback ports (client, group communication
// and IST), joined into one Galera cluster with Debian's galera-4
// provider. The first node bootstraps the cluster (--wsrep-new-cluster)
// and is stopped; its data directory, which then holds the cluster's
// position, is copied to the others, so that when it bootstraps again
// they join it one by one and receive only the few configuration changes
// they missed (IST), never a full copy (SST). It returns when every node
// is Synced and sees n members. Galera's failure detection keeps its
// defaults, so a killed node stalls commits for as long as it would in
// production (evs.suspect_timeout, 5 s).
//
// State transfers use the mysqldump method: for an IST its script only
// tells the joiner its position, in a few client calls, where the rsync
// method's scripts start and poll an rsync daemon on both sides (seconds
// of CPU and of sleeps per transfer). A node that would need a full copy
// fails the test instead.
//
// The test is skipped when mariadbd, galera-4 or the mariadb and
// mariadb-dump clients are missing, unless the environment variable CI is
// set (then it fails). The servers are stopped when the test ends.
func StartGaleraCluster(tb testing.TB, n int) *Galera {
	tb.Helper()
	if n < 1 {
		tb.Fatalf("sqltest: a Galera cluster needs at least one node, not %d", n)
	}
	var missing []string
	if _, err := os.Stat(galeraProvider); err != nil {
		missing = append(missing, "galera-4 ("+galeraProvider+")")
	}
	if findBinary("mariadb") == "" || findBinary("mariadb-dump") == "" {
		missing = append(missing, "the mariadb and mariadb-dump clients (mariadb-client)")
	}
	if findBinary("wsrep_sst_mysqldump", "/usr/bin/wsrep_sst_mysqldump") == "" {
		missing = append(missing, "wsrep_sst_mysqldump (mariadb-server)")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") != "" {
			tb.Fatalf("sqltest: a Galera cluster needs %s (CI is set); install galera-4 and mariadb-client", strings.Join(missing, ", "))
		}
		tb.Skipf("Galera cluster test needs %s: install galera-4 and mariadb-client to run it", strings.Join(missing, ", "))
	}

	g := &Galera{tb: tb}
	gcomm := make([]string, n)
	for i := range n {
		m := newMariaDB(tb, i == 0)
		m.startTimeout = galeraSyncTimeout
		m.startFailure = g.logTails
		g.nodes = append(g.nodes, m)
		gcomm[i] = "127.0.0.1:" + strconv.Itoa(freeLoopbackPort(tb))
	}
	cluster := "accountd-test-" + randomHex(tb, 4)
	for i, m := range g.nodes {
		m.args = []string{
			"--wsrep-on=ON",
			"--wsrep-provider=" + galeraProvider,
			"--wsrep-cluster-name=" + cluster,
			"--wsrep-cluster-address=gcomm://" + strings.Join(gcomm, ","),
			"--wsrep-node-name=node" + strconv.Itoa(i+1),
			"--wsrep-node-address=" + gcomm[i],
			"--wsrep-node-incoming-address=" + m.Addr(),
			"--wsrep-provider-options=" + strings.Join([]string{
				"gmcast.listen_addr=tcp://" + gcomm[i],
				"ist.recv_addr=127.0.0.1:" + strconv.Itoa(freeLoopbackPort(tb)),
				// Large enough to hold every write set of a test, so that a
				// restarted node catches up by IST rather than a full copy.
				"gcache.size=64M",
			}, ";"),
			// The donor's script connects to the joiner's own server.
			"--wsrep-sst-method=mysqldump",
			"--wsrep-sst-receive-address=" + m.Addr(),
			// What Galera requires of the server.
			"--binlog-format=ROW",
			"--default-storage-engine=InnoDB",
			"--innodb-autoinc-lock-mode=2",
			// The cluster, not each node's log flush, makes a commit
			// durable (the usual Galera setting); the OS still holds
			// the log when mariadbd is killed.
			"--innodb-flush-log-at-trx-commit=2",
		}
	}
	first := g.nodes[0]
	first.start("--wsrep-new-cluster")
	g.WaitSynced(0)
	first.Stop()
	for _, m := range g.nodes[1:] {
		// Not the replication cache: each node makes its own.
		if err := copyDataDir(first.dataDir(), m.dataDir(), "galera.cache"); err != nil {
			tb.Fatal(err)
		}
	}
	first.start("--wsrep-new-cluster")
	g.WaitSynced(0)
	for i := 1; i < n; i++ {
		// One at a time: two joiners at once take longer to agree on a
		// view than two joins.
		g.nodes[i].Start()
		g.WaitSynced(i)
	}
	g.waitSize(n)
	if log := g.fullTransfers(make([]int64, n)); log != "" {
		tb.Fatalf("sqltest: a Galera node joined by a full state transfer (SST), not IST:\n%s", log)
	}
	return g
}

// fullTransfers returns the error logs since from (an offset per node)
// of the nodes that served a full state transfer (SST) in that time, or
// "". The transfer script logs "mysqldump IST started on donor" when the
// provider chose IST and it sends no data, "mysqldump SST ..." otherwise.
func (g *Galera) fullTransfers(from []int64) string {
	var b strings.Builder
	for i, m := range g.nodes {
		if since := readFrom(m.errorLog(), from[i]); strings.Contains(since, "SST started on donor") {
			fmt.Fprintf(&b, "--- node %d error log ---\n%s\n", i, since)
		}
	}
	return b.String()
}

// Len is the number of nodes.
func (g *Galera) Len() int { return len(g.nodes) }

// Node returns node i (from 0) as a private MariaDB server.
func (g *Galera) Node(i int) *MariaDB { return g.nodes[i] }

// CreateDatabase creates a database with a random name on node 0 (Galera
// replicates it to the others) and returns one DSN per node for it.
func (g *Galera) CreateDatabase(tb testing.TB) []string {
	tb.Helper()
	cfg, err := mysql.ParseDSN(g.nodes[0].CreateDatabase(tb))
	if err != nil {
		tb.Fatal(err)
	}
	dsns := make([]string, len(g.nodes))
	for i, m := range g.nodes {
		c := cfg.Clone()
		c.Addr = m.Addr()
		dsns[i] = c.FormatDSN()
		// Galera certifies the CREATE DATABASE at once but each node
		// applies it in its own time: wait until this one has.
		g.waitForDatabase(tb, m, cfg.DBName)
	}
	return dsns
}

// waitForDatabase waits until node m has the database name.
func (g *Galera) waitForDatabase(tb testing.TB, m *MariaDB, name string) {
	tb.Helper()
	db, err := sql.Open("mysql", m.BaseDSN())
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	for {
		var n int
		err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`, name).Scan(&n)
		if err == nil && n == 1 {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("sqltest: Galera node %s never saw database %s: %v", m.Addr(), name, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Kill stops node i at once with SIGKILL, as a crash would, together with
// any state transfer process it started, and waits for it to exit.
func (g *Galera) Kill(i int) {
	g.tb.Helper()
	m := g.nodes[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running {
		g.tb.Fatalf("sqltest: Galera node %d is not running", i)
	}
	// The process group: mariadbd and a transfer script it may have
	// started.
	if err := syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		g.tb.Fatalf("sqltest: kill Galera node %d: %v", i, err)
	}
	<-m.exited
	m.running = false
}

// recoveredPosition matches the line mariadbd --wsrep-recover logs.
var recoveredPosition = regexp.MustCompile(`WSREP: Recovered position: ?([0-9a-f-]+:-?[0-9]+)`)

// Restart starts a killed node i again the way galera_recovery does:
// mariadbd --wsrep-recover reads the last committed position from InnoDB
// (a crash leaves none in grastate.dat), and the node starts from it with
// --wsrep-start-position, so that it receives only the write sets it
// missed (IST) from a donor's cache. It returns once the node is Synced
// and the cluster has every node again. It fails the test when the node
// received a full copy (SST) instead.
//
// galera_recovery itself is not run because it forces --user=mysql, which
// cannot enter the private directory, and reads its options from the
// system's configuration files.
func (g *Galera) Restart(i int) {
	g.tb.Helper()
	m := g.nodes[i]
	began := time.Now()
	logStart := make([]int64, len(g.nodes))
	for j, n := range g.nodes {
		logStart[j] = fileSize(n.errorLog())
	}
	recoverLog := m.errorLog() + ".recover"
	args := append(m.serverArgs(), "--wsrep-recover", "--log-error="+recoverLog)
	if out, err := exec.Command(m.bin, args...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(recoverLog)
		g.tb.Fatalf("sqltest: mariadbd --wsrep-recover on node %d: %v\n%s%s", i, err, out, log)
	}
	log, err := os.ReadFile(recoverLog)
	if err != nil {
		g.tb.Fatal(err)
	}
	os.Remove(recoverLog)
	match := recoveredPosition.FindSubmatch(log)
	if match == nil {
		g.tb.Fatalf("sqltest: mariadbd --wsrep-recover on node %d logged no position:\n%s", i, log)
	}
	recovered := time.Now()
	m.start("--wsrep-start-position=" + string(match[1]))
	answered := time.Now()
	g.WaitSynced(i)
	g.waitSize(len(g.nodes))
	g.tb.Logf("sqltest: Galera node %d restarted: position %s recovered in %v, answering %v later, Synced %v after that",
		i, match[1], recovered.Sub(began).Round(time.Millisecond), answered.Sub(recovered).Round(time.Millisecond),
		time.Since(answered).Round(time.Millisecond))
	if log := g.fullTransfers(logStart); log != "" {
		g.tb.Fatalf("sqltest: Galera node %d rejoined by a full state transfer (SST), not IST; the donor's log since the restart:\n%s", i, log)
	}
}

// WaitSynced waits until node i answers and reports wsrep_local_state
// Synced.
func (g *Galera) WaitSynced(i int) {
	g.tb.Helper()
	g.waitStatus(i, "Synced", func(s galeraStatus) bool { return s.state == "Synced" })
}

// waitSize waits until every running node is Synced in a cluster of n.
func (g *Galera) waitSize(n int) {
	g.tb.Helper()
	for i, m := range g.nodes {
		m.mu.Lock()
		running := m.running
		m.mu.Unlock()
		if running {
			g.waitStatus(i, fmt.Sprintf("Synced in a cluster of %d", n), func(s galeraStatus) bool {
				return s.state == "Synced" && s.size == n
			})
		}
	}
}

type galeraStatus struct {
	state string
	size  int
}

func (g *Galera) waitStatus(i int, want string, ok func(galeraStatus) bool) {
	g.tb.Helper()
	deadline := time.Now().Add(galeraSyncTimeout)
	var (
		last galeraStatus
		err  error
	)
	for time.Now().Before(deadline) {
		last, err = g.status(i)
		if err == nil && ok(last) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	g.tb.Fatalf("sqltest: Galera node %d not %s within %v: state %q, cluster size %d, error %v\n%s",
		i, want, galeraSyncTimeout, last.state, last.size, err, g.logTails())
}

// logTails returns the end of every node's error log, for failure
// messages.
func (g *Galera) logTails() string {
	var b strings.Builder
	for i, m := range g.nodes {
		lines := strings.Split(readFrom(m.errorLog(), 0), "\n")
		fmt.Fprintf(&b, "--- node %d error log (end) ---\n%s\n", i, strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
	return b.String()
}

func (g *Galera) status(i int) (galeraStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	db, err := sql.Open("mysql", g.nodes[i].BaseDSN())
	if err != nil {
		return galeraStatus{}, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx,
		"SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment', 'wsrep_cluster_size')")
	if err != nil {
		return galeraStatus{}, err
	}
	defer rows.Close()
	var s galeraStatus
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return galeraStatus{}, err
		}
		switch strings.ToLower(name) {
		case "wsrep_local_state_comment":
			s.state = value
		case "wsrep_cluster_size":
			s.size, _ = strconv.Atoi(value)
		}
	}
	return s, rows.Err()
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom returns the file from offset on, or "" when it cannot be read.
func readFrom(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return ""
	}
	return string(b[offset:])
}
