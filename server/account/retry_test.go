package account_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store/sqlstore"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestReadRetriedOnKilledConnection kills the MariaDB connection an
// authenticate is reading on, in the middle of its query: the read is run
// again on a new connection and the operation succeeds. It runs on a
// private mariadbd, where killing connections disturbs no one.
func TestReadRetriedOnKilledConnection(t *testing.T) {
	t.Parallel()
	m := sqltest.StartMariaDB(t)
	dsn := m.CreateDatabase(t)
	ctx := ctxT(t)
	st, err := sqlstore.Open(ctx, sqlstore.MySQL, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, st, servertest.NewClock())
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	svc := mustService(t, cfg)
	mustSignup(t, svc, "kim")
	tok := mustLogin(t, svc, "kim")

	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// A table lock holds the read in flight until the connection is killed.
	locker, err := admin.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	if _, err := locker.ExecContext(ctx, "LOCK TABLES sessions WRITE"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: tok.Token})
		done <- err
	}()
	var victim int64
	waitFor(t, "the authenticate to wait on the lock", func() bool {
		err := admin.QueryRowContext(ctx, `SELECT id FROM information_schema.processlist
			WHERE db = DATABASE() AND id <> CONNECTION_ID() AND state LIKE '%metadata lock%'`).Scan(&victim)
		return err == nil
	})
	if _, err := admin.ExecContext(ctx, "KILL CONNECTION ?", victim); err != nil {
		t.Fatal(err)
	}
	if _, err := locker.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("authenticate whose connection was killed mid-read: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("authenticate did not return")
	}
	// The read was run again by the Service, not by database/sql: the
	// connection died after the query was sent.
	if n := counterValue(t, reg, "accountd_db_read_retries_total", ""); n < 1 {
		t.Fatalf("accountd_db_read_retries_total = %v, want at least 1", n)
	}
}
