package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite connection settings.
//
// Every write goes through a pool of exactly one connection, so writers
// within the process queue in database/sql (honouring each caller's
// context) instead of racing for SQLite's lock and failing with
// SQLITE_BUSY. Reads use a separate pool of read-only connections, which WAL
// mode lets run alongside the writer. Transactions begin IMMEDIATE and
// busy_timeout is set, so another process writing to the same file (an
// admin command beside the server) waits for the lock rather than failing.
const (
	// sqliteBusyTimeout is how long a connection waits for a lock held by
	// another process, in milliseconds.
	sqliteBusyTimeout = 5000
	// sqliteFileMode keeps the database, which holds password hashes and
	// sealed keys, readable by its owner only. SQLite gives the -wal and
	// -shm files the same mode.
	sqliteFileMode = 0o600
)

// sqliteWritePragmas are set on the writer connection. synchronous=FULL
// syncs the WAL at every commit: an acknowledged write survives a power
// cut (NORMAL, the usual WAL choice, may lose the last commits).
var sqliteWritePragmas = []string{
	fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout),
	"foreign_keys(1)",
	"journal_mode(WAL)",
	"synchronous(FULL)",
}

// sqliteReadPragmas are set on reader connections; query_only makes a
// stray write on the read pool an error.
var sqliteReadPragmas = []string{
	fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout),
	"foreign_keys(1)",
	"query_only(1)",
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlstore: open sqlite: empty path")
	}
	if strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return nil, fmt.Errorf("sqlstore: open sqlite: %q: want a file path, not a URI", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open sqlite: %w", err)
	}
	if err := createPrivateFile(abs); err != nil {
		return nil, fmt.Errorf("sqlstore: open sqlite: %w", err)
	}

	write, err := sql.Open("sqlite", sqliteDSN(abs, sqliteWritePragmas, "immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open sqlite: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	// Open the writer first: it switches the file to WAL mode.
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, unavailable("open sqlite", err)
	}

	read, err := sql.Open("sqlite", sqliteDSN(abs, sqliteReadPragmas, "deferred"))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlstore: open sqlite: %w", err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(readers)
	read.SetMaxIdleConns(readers)
	read.SetConnMaxLifetime(0)
	if err := read.PingContext(ctx); err != nil {
		write.Close()
		read.Close()
		return nil, unavailable("open sqlite", err)
	}
	return newDB(sqliteDialect{}, write, read)
}

// createPrivateFile creates an empty file at path with mode 0600 unless a
// file is already there (SQLite would create it with 0644). An existing
// database, or its -wal or -shm file, open to group or others is refused:
// it holds password hashes and sealed keys.
func createPrivateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, sqliteFileMode)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, os.ErrExist) {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) && p != path {
			continue
		}
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return fmt.Errorf("%s has mode %#o, open to group or others\nhint: run `chmod 600 %s`", p, perm, p)
		}
	}
	return nil
}

// sqliteDSN builds a modernc.org/sqlite URI for the absolute path abs. The
// path is escaped so that characters such as '?', '#' or '%' in a folder
// name stay part of the path.
func sqliteDSN(abs string, pragmas []string, txlock string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: C:/x becomes /C:/x, as SQLite URIs expect
	}
	q := url.Values{}
	for _, pragma := range pragmas {
		q.Add("_pragma", pragma)
	}
	q.Set("_txlock", txlock)
	return "file:" + (&url.URL{Path: p}).EscapedPath() + "?" + q.Encode()
}

type sqliteDialect struct{}

func (sqliteDialect) name() string                { return SQLite }
func (sqliteDialect) gooseDialect() goose.Dialect { return goose.DialectSQLite3 }
func (sqliteDialect) migrationsDir() string       { return "sqlite" }

// timeValue encodes t as INTEGER microseconds since the Unix epoch. The
// value is exact, sorts in time order and carries no zone, so reading it
// back gives the same instant in UTC.
func (sqliteDialect) timeValue(t time.Time) driver.Value {
	return t.UnixMicro()
}

func sqliteCode(err error) (int, bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return 0, false
	}
	return se.Code(), true
}

func (sqliteDialect) conflictField(err error) (string, bool) {
	code, ok := sqliteCode(err)
	if !ok || (code != sqlite3.SQLITE_CONSTRAINT_UNIQUE && code != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return "", false
	}
	// "... UNIQUE constraint failed: accounts.username (2067)"
	const marker = "constraint failed: "
	msg := err.Error()
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return "unknown", true
	}
	column := msg[i+len(marker):]
	if j := strings.IndexAny(column, " ,"); j >= 0 {
		column = column[:j]
	}
	if j := strings.LastIndexByte(column, '.'); j >= 0 {
		column = column[j+1:]
	}
	// Columns are named after the fields they hold.
	return column, true
}

func (sqliteDialect) isForeignKeyViolation(err error) bool {
	code, ok := sqliteCode(err)
	return ok && code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// isRetryable is false: the single writer connection and busy_timeout
// already make a write wait for SQLite's lock instead of failing.
func (sqliteDialect) isRetryable(error) bool { return false }

// outcomeUnknown is false: the database is a local file, and an
// interrupted statement is rolled back before the call returns.
func (sqliteDialect) outcomeUnknown(error) bool { return false }

func (sqliteDialect) isUnavailable(err error) bool {
	code, ok := sqliteCode(err)
	if !ok {
		return false
	}
	switch code & 0xff { // the primary result code
	case sqlite3.SQLITE_BUSY, // another process held the lock past busy_timeout
		sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_FULL:
		return true
	}
	return false
}
