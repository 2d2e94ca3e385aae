package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
	"github.com/accountd/accountd/store/storetest"
)

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return sqltest.NewSQLite(t)
	})
}

func TestMySQL(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return sqltest.NewMySQL(t)
	})
}

// opener opens an unmigrated store of one dialect on a fresh database.
type opener struct {
	driver string
	dsn    func(t *testing.T) string
}

var openers = []opener{
	{sqlstore.SQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "accountd.db") }},
	{sqlstore.MySQL, func(t *testing.T) string { return sqltest.MySQLDSN(t) }},
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustOpen(t *testing.T, driver, dsn string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(ctxFor(t), driver, dsn)
	if err != nil {
		t.Fatalf("Open(%s): %v", driver, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	for _, o := range openers {
		t.Run(o.driver, func(t *testing.T) {
			t.Parallel()
			db := mustOpen(t, o.driver, o.dsn(t))
			if got := db.Driver(); got != o.driver {
				t.Errorf("Driver() = %q, want %q", got, o.driver)
			}
			v, err := db.SchemaVersion(ctxFor(t))
			if err != nil || v != 0 {
				t.Fatalf("SchemaVersion before Migrate = %d, %v; want 0, nil", v, err)
			}
			latest := db.LatestSchemaVersion()
			if latest < 1 {
				t.Fatalf("LatestSchemaVersion() = %d, want at least 1", latest)
			}
			// Migrate twice: the second run finds nothing to do.
			for i := range 2 {
				if err := db.Migrate(ctxFor(t)); err != nil {
					t.Fatalf("Migrate #%d: %v", i+1, err)
				}
				v, err := db.SchemaVersion(ctxFor(t))
				if err != nil || v != latest {
					t.Fatalf("SchemaVersion after Migrate #%d = %d, %v; want %d, nil", i+1, v, err, latest)
				}
			}
			// The schema works.
			a := store.Account{ID: "0123456789abcdef0123456789abcdef", Username: "alice",
				PasswordHash: "h", CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := db.CreateAccount(ctxFor(t), a, store.AuthEvent{}); err != nil {
				t.Fatalf("CreateAccount after Migrate: %v", err)
			}
		})
	}
}

// TestMigrateConcurrently starts several instances on one new database at
// once, as several servers starting together would: each migration must be
// applied once and every instance must succeed.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	for _, o := range openers {
		t.Run(o.driver, func(t *testing.T) {
			t.Parallel()
			dsn := o.dsn(t)
			const instances = 4
			dbs := make([]*sqlstore.DB, instances)
			for i := range dbs {
				dbs[i] = mustOpen(t, o.driver, dsn)
			}
			var wg sync.WaitGroup
			for _, db := range dbs {
				wg.Go(func() {
					if err := db.Migrate(ctxFor(t)); err != nil {
						t.Errorf("Migrate: %v", err)
					}
				})
			}
			wg.Wait()
			v, err := dbs[0].SchemaVersion(ctxFor(t))
			if err != nil || v != dbs[0].LatestSchemaVersion() {
				t.Errorf("SchemaVersion = %d, %v; want %d", v, err, dbs[0].LatestSchemaVersion())
			}
		})
	}
}

func TestZeroRequiredTime(t *testing.T) {
	t.Parallel()
	db := sqltest.NewSQLite(t)
	a := store.Account{ID: "0123456789abcdef0123456789abcdef", Username: "alice", PasswordHash: "h"}
	err := db.CreateAccount(ctxFor(t), a, store.AuthEvent{})
	if err == nil || !strings.Contains(err.Error(), "CreatedAt is zero") {
		t.Errorf("CreateAccount with zero CreatedAt = %v, want an error naming CreatedAt", err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, driver, dsn string
		want              string // in the error message
		unavailable       bool
	}{
		{"unknown driver", "postgres", "x", `unknown driver "postgres"`, false},
		{"mysql dsn without slash", sqlstore.MySQL, "root@tcp(127.0.0.1:3306)", "missing the slash", false},
		{"mysql dsn unterminated address", sqlstore.MySQL, "root@tcp(127.0.0.1:3306/db", "invalid DSN", false},
		{"mysql dsn without database", sqlstore.MySQL, "root@tcp(127.0.0.1:3306)/", "names no database", false},
		{"mysql unreachable", sqlstore.MySQL, "root@tcp(127.0.0.1:1)/accountd", "connection refused", true},
		{"sqlite empty path", sqlstore.SQLite, "", "empty path", false},
		{"sqlite uri", sqlstore.SQLite, "file:x.db?mode=ro", "want a file path", false},
		{"sqlite missing folder", sqlstore.SQLite, filepath.Join(t.TempDir(), "no", "such", "dir", "a.db"), "no such file or directory", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sqlstore.Open(ctxFor(t), tt.driver, tt.dsn)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q, %q) succeeded, want an error", tt.driver, tt.dsn)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "sqlstore: ") {
				t.Errorf("Open error = %q, want it to start with \"sqlstore: \" and contain %q", err, tt.want)
			}
			if got := errors.Is(err, store.ErrUnavailable); got != tt.unavailable {
				t.Errorf("errors.Is(%v, store.ErrUnavailable) = %v, want %v", err, got, tt.unavailable)
			}
		})
	}
}

func TestOpenSQLiteNotADatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(ctxFor(t), sqlstore.SQLite, path)
	if err == nil {
		db.Close()
		t.Fatal("Open of a file that is not a database succeeded")
	}
	if !strings.Contains(err.Error(), "not a database") {
		t.Errorf("Open error = %q, want it to say the file is not a database", err)
	}
}

func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "accountd")
	defer os.RemoveAll(dir)

	db, err := sqlstore.Open(ctx, sqlstore.SQLite, filepath.Join(dir, "accountd.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}
	v, _ := db.SchemaVersion(ctx)
	fmt.Println(db.Driver(), "schema version", v)
	// Output: sqlite schema version 12
}
