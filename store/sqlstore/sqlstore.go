// Package sqlstore is accountd's SQL implementation of store.Store, for
// MariaDB/MySQL (github.com/go-sql-driver/mysql) and for an embedded SQLite
// file (modernc.org/sqlite, pure Go, no cgo).
//
// Both databases run the same queries; a small dialect covers what differs:
// how times are encoded, how driver errors map to the store's errors, and
// which migrations build the schema. The schema is versioned: migrations are
// embedded per dialect under migrations/ and applied by [DB.Migrate]
// (pressly/goose). store/storetest is the conformance suite both dialects
// pass; store/sqlstore/sqltest opens throwaway databases for tests.
//
// Times are written in UTC truncated to the microsecond and read back in UTC.
// MariaDB/MySQL stores them as DATETIME(6); SQLite as INTEGER microseconds
// since the Unix epoch. Optional times (Session.RevokedAt, SigningKey.RetireAt
// and ExpiresAt, Account.Failures.LastAt) are NULL when zero; required ones
// (CreatedAt, UpdatedAt, ExpiresAt of a session, ActiveAt, AuthEvent.At)
// must be set.
//
// A DB is safe for concurrent use.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/accountd/accountd/store"
)

// Driver names accepted by Open.
const (
	// MySQL selects MariaDB/MySQL; the DSN is a go-sql-driver/mysql DSN,
	// e.g. "user:pass@tcp(127.0.0.1:3306)/accountd".
	MySQL = "mysql"
	// SQLite selects the embedded store; the DSN is a file path.
	SQLite = "sqlite"
)

// DB is a store.Store backed by MariaDB/MySQL or SQLite. Create it with Open
// and call Migrate before use.
type DB struct {
	dialect dialect
	// write runs every statement that changes data, retrying the ones the
	// database rolled back. Its pool also runs migrations.
	write *writer
	// read runs queries. For MySQL it is the same pool as write's; for
	// SQLite it is a separate pool of read-only connections, so that reads
	// run in parallel with the single writer (WAL mode).
	read     *sql.DB
	migrator *goose.Provider
	// events batches AddAuthEvent's rows.
	events eventBatcher
}

var _ store.Store = (*DB)(nil)

// Open connects to the database named by driver (MySQL or SQLite) and dsn,
// and checks that it answers. It does not change the schema: call Migrate.
// Connection failures are returned wrapping store.ErrUnavailable.
func Open(ctx context.Context, driver, dsn string) (*DB, error) {
	switch driver {
	case MySQL:
		return openMySQL(ctx, dsn)
	case SQLite:
		return openSQLite(ctx, dsn)
	default:
		return nil, fmt.Errorf("sqlstore: unknown driver %q (want %q or %q)", driver, MySQL, SQLite)
	}
}

// newDB finishes Open for both dialects: it builds the migration provider.
func newDB(d dialect, write, read *sql.DB) (*DB, error) {
	db := &DB{dialect: d, write: &writer{pool: write, dialect: d}, read: read}
	migrator, err := newMigrator(d, write)
	if err != nil {
		db.Close()
		return nil, err
	}
	db.migrator = migrator
	return db, nil
}

// Driver returns the driver name the DB was opened with: MySQL or SQLite.
func (db *DB) Driver() string { return db.dialect.name() }

// Ping checks that the database answers. It returns an error wrapping
// store.ErrUnavailable when it does not.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.pool.PingContext(ctx); err != nil {
		return unavailable("ping", err)
	}
	if db.read != db.write.pool {
		if err := db.read.PingContext(ctx); err != nil {
			return unavailable("ping", err)
		}
	}
	return nil
}

// Stats returns the connection pool's statistics (for MySQL the one pool;
// for SQLite the writer's).
func (db *DB) Stats() sql.DBStats { return db.write.pool.Stats() }

// Close closes the database connections.
func (db *DB) Close() error {
	err := db.write.pool.Close()
	if db.read != db.write.pool {
		err = errors.Join(err, db.read.Close())
	}
	if err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}

// translate maps a driver error from operation op to the store's errors:
// a unique-key violation becomes a *store.ConflictError, a connection
// failure or a rollback that retrying did not clear wraps
// store.ErrUnavailable, a cancelled or expired context is passed on as it
// is, and anything else is wrapped with op as context. An error that
// matches store.ErrOutcomeUnknown keeps matching it.
func (db *DB) translate(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	if field, ok := db.dialect.conflictField(err); ok {
		return &store.ConflictError{Field: field}
	}
	if db.dialect.isUnavailable(err) || db.dialect.isRetryable(err) {
		return unavailable(op, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// unavailable wraps err so that it matches store.ErrUnavailable, unless it
// is a context error, which the caller caused and should see as such.
func unavailable(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	return fmt.Errorf("sqlstore: %s: %w: %w", op, store.ErrUnavailable, err)
}

// isNetError reports whether err comes from the network (refused, reset,
// timed out, unknown host), as opposed to an answer from the database.
func isNetError(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr)
}

// checkTimes returns an error naming the first required time that is zero.
// A zero required time would be a bug in the caller, and MySQL (in strict
// mode) and SQLite would store it differently.
func checkTimes(op string, times ...namedTime) error {
	for _, nt := range times {
		if nt.t.IsZero() {
			return fmt.Errorf("sqlstore: %s: %s is zero", op, nt.name)
		}
	}
	return nil
}

type namedTime struct {
	name string
	t    time.Time
}
