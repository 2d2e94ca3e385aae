package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
)

// Pool settings for MariaDB/MySQL.
const (
	// mysqlConnMaxLifetime is below the 5 minutes the driver advises, so
	// connections are recycled before a server, proxy or firewall with a
	// short idle timeout drops them, and so the pool follows a DNS change
	// or a failover within minutes.
	mysqlConnMaxLifetime = 3 * time.Minute
	// mysqlMaxOpenConns bounds the connections one accountd instance holds,
	// so that several instances stay well below the server's
	// max_connections (151 by default) and a load spike queues in the pool
	// instead of being refused by the server.
	mysqlMaxOpenConns = 32
	// mysqlMaxIdleConns keeps half the pool warm between bursts without
	// holding every connection open when idle.
	mysqlMaxIdleConns = 16
	// mysqlDialTimeout applies when the DSN sets no timeout, so that an
	// unreachable server fails in seconds rather than after the operating
	// system's TCP timeout (about two minutes).
	mysqlDialTimeout = 10 * time.Second
	// mysqlIOTimeout applies when the DSN sets no readTimeout or
	// writeTimeout. accountd's queries are point lookups and single-row
	// writes; callers bound them more tightly with their contexts.
	mysqlIOTimeout = 30 * time.Second
)

// mysqlConfig parses dsn and applies the settings sqlstore relies on.
func mysqlConfig(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		// ParseDSN's messages do not repeat the DSN, which may hold a
		// password.
		return nil, fmt.Errorf("parse dsn: %w", err)
	}
	// DATETIME columns scan into time.Time, written and read in UTC.
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	// RowsAffected counts matched rows, not changed rows, as SQLite does: an
	// UPDATE that sets a value to itself still finds its row.
	cfg.ClientFoundRows = true
	// The driver places arguments into the statement itself (escaping
	// them for the connection's utf8mb4 charset; it refuses the charsets
	// where that is unsafe) instead of a server-side prepare, execute
	// and close per query: one round trip instead of three, about a third
	// of the database's work per read.
	cfg.InterpolateParams = true
	if cfg.Timeout == 0 {
		cfg.Timeout = mysqlDialTimeout
	}
	// I/O deadlines on every read and write, so that a server that stops
	// answering without closing the connection cannot hold a caller that
	// passed no deadline of its own.
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = mysqlIOTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = mysqlIOTimeout
	}
	if _, ok := cfg.Params["sql_mode"]; !ok {
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		// Strict mode whatever the server's default: a value that does not
		// fit is an error, never silently truncated.
		cfg.Params["sql_mode"] = "'TRADITIONAL'"
	}
	return cfg, nil
}

func openMySQL(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := mysqlConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open mysql: %w", err)
	}
	if cfg.DBName == "" {
		return nil, errors.New("sqlstore: open mysql: the dsn names no database (want user@tcp(host:port)/dbname)")
	}
	pool, err := openMySQLPool(ctx, cfg)
	if err != nil {
		return nil, err
	}
	galera, err := wsrepOn(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if _, set := cfg.Params["wsrep_sync_wait"]; galera && !set {
		// The driver sends Params on every new connection; the pool is
		// opened again so that each of its connections has the setting.
		pool.Close()
		cfg.Params["wsrep_sync_wait"] = galeraSyncWait
		if pool, err = openMySQLPool(ctx, cfg); err != nil {
			return nil, err
		}
	}
	return newDB(mysqlDialect{}, pool, pool)
}

// openMySQLPool opens sqlstore's connection pool for cfg and checks that
// the server answers.
func openMySQLPool(ctx context.Context, cfg *mysql.Config) (*sql.DB, error) {
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open mysql: %w", err)
	}
	pool := sql.OpenDB(connector)
	pool.SetConnMaxLifetime(mysqlConnMaxLifetime)
	pool.SetMaxOpenConns(mysqlMaxOpenConns)
	pool.SetMaxIdleConns(mysqlMaxIdleConns)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, unavailable("open mysql", err)
	}
	return pool, nil
}

// databaseName is what CreateDatabase accepts as a database name: a
// conservative subset of MySQL identifiers.
var databaseName = regexp.MustCompile(`^[A-Za-z0-9_$-]{1,64}$`)

// CreateDatabase creates the database named in the MySQL dsn, with the
// utf8mb4 character set, if it does not exist yet. It connects without
// selecting a database, so the account in the dsn needs the CREATE
// privilege. The name may hold letters, digits, '_', '$' and '-' (at most
// 64). Connection failures wrap store.ErrUnavailable.
func CreateDatabase(ctx context.Context, dsn string) error {
	cfg, err := mysqlConfig(dsn)
	if err != nil {
		return fmt.Errorf("sqlstore: create database: %w", err)
	}
	name := cfg.DBName
	if name == "" {
		return errors.New("sqlstore: create database: the dsn names no database (want user@tcp(host:port)/dbname)")
	}
	if !databaseName.MatchString(name) {
		return fmt.Errorf("sqlstore: create database: invalid name %q (use letters, digits, '_', '$' or '-', at most 64)", name)
	}
	cfg.DBName = ""
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("sqlstore: create database: %w", err)
	}
	pool := sql.OpenDB(connector)
	defer pool.Close()
	// The name is validated above; quoting it as an identifier as well
	// keeps '-' and '$' and any reserved word safe.
	query := "CREATE DATABASE IF NOT EXISTS " + quoteMySQLIdentifier(name) +
		" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
	if _, err := pool.ExecContext(ctx, query); err != nil {
		d := mysqlDialect{}
		if d.isUnavailable(err) {
			return unavailable("create database", err)
		}
		return fmt.Errorf("sqlstore: create database: %w", err)
	}
	return nil
}

// quoteMySQLIdentifier quotes name with backticks, doubling any backtick
// inside it.
func quoteMySQLIdentifier(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// MySQL server error numbers sqlstore interprets.
const (
	mysqlErrDupEntry         = 1062 // ER_DUP_ENTRY
	mysqlErrNoReferencedRow  = 1452 // ER_NO_REFERENCED_ROW_2
	mysqlErrNoReferencedRow1 = 1216 // ER_NO_REFERENCED_ROW (older servers)
	mysqlErrUnknownSystemVar = 1193 // ER_UNKNOWN_SYSTEM_VARIABLE
)

// mysqlRetryable lists server errors after which the transaction has been
// rolled back and may succeed if run again. A Galera node that is not part
// of the primary component answers 1047 instead (see mysqlUnavailable):
// running the transaction again on that node cannot help.
var mysqlRetryable = map[uint16]bool{
	// ER_LOCK_DEADLOCK: an InnoDB deadlock victim, and how Galera reports
	// a transaction that lost certification to a conflicting one from
	// another node, or that a replicated write aborted ("try restarting
	// transaction").
	1213: true,
	// ER_LOCK_WAIT_TIMEOUT: a row lock was not granted in time, and how
	// Galera reports a causality wait (wsrep_sync_wait) that timed out.
	// Only the statement is rolled back; the writer rolls back the rest.
	1205: true,
}

// mysqlUnavailable lists server errors that mean the server cannot serve
// requests now, as opposed to rejecting this one.
var mysqlUnavailable = map[uint16]bool{
	1040: true, // ER_CON_COUNT_ERROR: too many connections
	1045: true, // ER_ACCESS_DENIED_ERROR: credentials no longer accepted
	1047: true, // ER_UNKNOWN_COM_ERROR: Galera node not ready (WSREP)
	1049: true, // ER_BAD_DB_ERROR: the database is gone
	1053: true, // ER_SERVER_SHUTDOWN
	1129: true, // ER_HOST_IS_BLOCKED
	1290: true, // ER_OPTION_PREVENTS_STATEMENT: --read-only during failover
	1698: true, // ER_ACCESS_DENIED_NO_PASSWORD_ERROR: the user is gone
	1836: true, // ER_READ_ONLY_MODE
	1927: true, // ER_CONNECTION_KILLED (MariaDB)
}

// mysqlUniqueKeys maps the unique key names of migrations/mysql to the
// store.ConflictError field they protect.
var mysqlUniqueKeys = map[string]string{
	"PRIMARY":           "id",
	"accounts_username": "username",
	"accounts_email":    "email",
	// migrations/mysql/00003
	"signing_keys_generation": "generation",
	// migrations/mysql/00005
	"service_keys_name": "name",
}

type mysqlDialect struct{}

func (mysqlDialect) name() string                { return MySQL }
func (mysqlDialect) gooseDialect() goose.Dialect { return goose.DialectMySQL }
func (mysqlDialect) migrationsDir() string       { return "mysql" }

// timeValue passes a time.Time, which the driver sends in UTC (loc=UTC).
// It is truncated here because MySQL rounds, rather than drops, digits
// beyond the microsecond in a literal (interpolateParams=true), which could
// move a time into the next second, day or year.
func (mysqlDialect) timeValue(t time.Time) driver.Value {
	return t.UTC().Truncate(time.Microsecond)
}

func (mysqlDialect) conflictField(err error) (string, bool) {
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != mysqlErrDupEntry {
		return "", false
	}
	// "Duplicate entry 'x' for key 'accounts_username'" (MariaDB) or
	// "... for key 'accounts.accounts_username'" (MySQL 8). The entry may
	// contain anything, so look from the end.
	const marker = " for key '"
	i := strings.LastIndex(me.Message, marker)
	if i < 0 {
		return "unknown", true
	}
	key := strings.TrimSuffix(me.Message[i+len(marker):], "'")
	if j := strings.LastIndexByte(key, '.'); j >= 0 {
		key = key[j+1:]
	}
	if field, ok := mysqlUniqueKeys[key]; ok {
		return field, true
	}
	return key, true
}

func (mysqlDialect) isForeignKeyViolation(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) &&
		(me.Number == mysqlErrNoReferencedRow || me.Number == mysqlErrNoReferencedRow1)
}

func (mysqlDialect) isRetryable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && mysqlRetryable[me.Number]
}

// outcomeUnknown is true for a connection that broke or was closed for an
// expired context after the request went out. The driver returns
// driver.ErrBadConn instead when it sent nothing, and a *mysql.MySQLError
// is an answer.
func (mysqlDialect) outcomeUnknown(err error) bool {
	return errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, io.ErrUnexpectedEOF) || isNetError(err) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func (mysqlDialect) isUnavailable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || isNetError(err) {
		return true
	}
	var me *mysql.MySQLError
	return errors.As(err, &me) && mysqlUnavailable[me.Number]
}
