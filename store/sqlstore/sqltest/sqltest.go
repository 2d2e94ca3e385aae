// Package sqltest opens throwaway sqlstore databases for tests: a fresh,
// randomly named MariaDB/MySQL database per test, dropped afterwards, or an
// SQLite file in the test's temporary directory.
//
// MariaDB is found through ACCOUNTD_TEST_MYSQL_DSN (default
// "root@tcp(127.0.0.1:3306)/"; any database name in it is ignored). When it
// is unreachable the tests that need it are skipped, unless the environment
// variable CI is set, in which case they fail.
//
// StartMariaDB starts a private mariadbd instead, in a temporary folder on a
// free loopback port, for tests that stop, restart or freeze the database;
// StartGaleraCluster starts several of them as a multi-master Galera
// cluster, with Kill and Restart for a node.
//
// The helpers are safe to call from parallel tests.
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore"
)

// DefaultMySQLDSN is used when ACCOUNTD_TEST_MYSQL_DSN is not set.
const DefaultMySQLDSN = "root@tcp(127.0.0.1:3306)/"

// setupTimeout bounds creating, migrating and dropping a test database.
const setupTimeout = 30 * time.Second

// MySQLDSN creates a fresh, empty database named accountd_test_<random hex>
// and returns a DSN for it. The database is dropped when the test ends.
func MySQLDSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("ACCOUNTD_TEST_MYSQL_DSN")
	if base == "" {
		base = DefaultMySQLDSN
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		tb.Fatalf("sqltest: ACCOUNTD_TEST_MYSQL_DSN: %v", err)
	}
	cfg.DBName = "accountd_test_" + randomHex(tb, 8)
	dsn := cfg.FormatDSN()

	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := sqlstore.CreateDatabase(ctx, dsn); err != nil {
		where := cfg.User + "@" + cfg.Net + "(" + cfg.Addr + ")" // no password
		if errors.Is(err, store.ErrUnavailable) {
			if os.Getenv("CI") != "" {
				tb.Fatalf("sqltest: MariaDB not reachable at %s (CI is set, so this is an error; set ACCOUNTD_TEST_MYSQL_DSN): %v", where, err)
			}
			tb.Skipf("MariaDB not reachable at %s (set ACCOUNTD_TEST_MYSQL_DSN): %v", where, err)
		}
		tb.Fatalf("sqltest: create test database on %s: %v", where, err)
	}
	tb.Cleanup(func() { dropDatabase(tb, cfg) })
	return dsn
}

// dropDatabase drops the database cfg names, connecting without it.
func dropDatabase(tb testing.TB, cfg *mysql.Config) {
	tb.Helper()
	name := cfg.DBName
	server := cfg.Clone()
	server.DBName = ""
	connector, err := mysql.NewConnector(server)
	if err != nil {
		tb.Errorf("sqltest: drop database %s: %v", name, err)
		return
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	// The name is ours (accountd_test_ and hex), so it needs no escaping
	// beyond the backticks.
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
		tb.Errorf("sqltest: drop database %s: %v", name, err)
	}
}

// NewMySQL returns a migrated store on a fresh MariaDB/MySQL database
// (see MySQLDSN). It is closed, and the database dropped, when the test
// ends.
func NewMySQL(tb testing.TB) *sqlstore.DB {
	tb.Helper()
	return open(tb, sqlstore.MySQL, MySQLDSN(tb))
}

// NewSQLite returns a migrated store on a new SQLite file in tb.TempDir().
// It is closed when the test ends.
func NewSQLite(tb testing.TB) *sqlstore.DB {
	tb.Helper()
	return open(tb, sqlstore.SQLite, filepath.Join(tb.TempDir(), "accountd.db"))
}

func open(tb testing.TB, driver, dsn string) *sqlstore.DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	db, err := sqlstore.Open(ctx, driver, dsn)
	if err != nil {
		tb.Fatalf("sqltest: open %s: %v", driver, err)
	}
	// Registered after MySQLDSN's cleanup, so it runs first: the store is
	// closed before its database is dropped.
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("sqltest: close %s: %v", driver, err)
		}
	})
	if err := db.Migrate(ctx); err != nil {
		tb.Fatalf("sqltest: migrate %s: %v", driver, err)
	}
	return db
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("sqltest: %v", err)
	}
	return hex.EncodeToString(b)
}
