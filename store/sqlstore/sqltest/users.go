package sqltest

import (
	"context"
	"database/sql"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// MySQLUser is a throwaway MariaDB/MySQL account made by NewMySQLUser.
type MySQLUser struct {
	// Addr is the server's host:port.
	Addr string
	// Name and Password log in; Password is random.
	Name, Password string
	// Database is the one database Name has every privilege on. It does
	// not exist until someone creates it.
	Database string
}

// NewMySQLUser creates an account accountd_u_<random hex> with a random
// password, allowed to connect from anywhere, with every privilege on one
// database accountd_test_<random hex> (which it does not create). The
// account and the database are dropped when the test ends. It needs a
// reachable MariaDB, as MySQLDSN does.
func NewMySQLUser(tb testing.TB) MySQLUser {
	tb.Helper()
	// MySQLDSN skips or fails the test when MariaDB is unreachable; its
	// database is dropped at the end, and the user's own one with it.
	dsn := MySQLDSN(tb)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	u := MySQLUser{
		Addr:     cfg.Addr,
		Name:     "accountd_u_" + randomHex(tb, 6),
		Password: randomHex(tb, 16),
		Database: "accountd_test_" + randomHex(tb, 8),
	}
	root := cfg.Clone()
	root.DBName = ""
	connector, err := mysql.NewConnector(root)
	if err != nil {
		tb.Fatal(err)
	}
	db := sql.OpenDB(connector)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	// Names are ours (fixed prefix and hex): no escaping beyond quotes.
	hosts := []string{"%", "localhost", "127.0.0.1", "::1"}
	for _, h := range hosts {
		stmts := []string{
			"CREATE USER '" + u.Name + "'@'" + h + "' IDENTIFIED BY '" + u.Password + "'",
			"GRANT ALL PRIVILEGES ON `" + u.Database + "`.* TO '" + u.Name + "'@'" + h + "'",
		}
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				db.Close()
				tb.Fatalf("sqltest: create test user: %v", err)
			}
		}
	}
	tb.Cleanup(func() {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		for _, h := range hosts {
			if _, err := db.ExecContext(ctx, "DROP USER IF EXISTS '"+u.Name+"'@'"+h+"'"); err != nil {
				tb.Errorf("sqltest: drop test user: %v", err)
			}
		}
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+u.Database+"`"); err != nil {
			tb.Errorf("sqltest: drop database %s: %v", u.Database, err)
		}
	})
	return u
}
