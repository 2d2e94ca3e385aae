package sqlstore

import (
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/pressly/goose/v3"
)

// dialect is what differs between the SQL databases sqlstore supports.
// Queries are shared: both drivers take "?" placeholders and the schema uses
// the same table and column names.
type dialect interface {
	// name is the driver name given to Open.
	name() string
	// timeValue encodes a non-zero time for a query argument.
	timeValue(t time.Time) driver.Value
	// conflictField reports whether err is a unique-key violation and, if
	// so, which field (store.ConflictError.Field) collided.
	conflictField(err error) (field string, ok bool)
	// isForeignKeyViolation reports whether err is a foreign-key violation
	// (a session for an account that does not exist).
	isForeignKeyViolation(err error) bool
	// isUnavailable reports whether err means the database cannot be
	// reached or cannot serve requests right now.
	isUnavailable(err error) bool
	// isRetryable reports whether err means the database rolled the
	// transaction back and running it again may succeed.
	isRetryable(err error) bool
	// outcomeUnknown reports whether err, from a statement that commits
	// or from COMMIT, leaves open whether the server committed: the
	// request may have reached it but no answer came back.
	outcomeUnknown(err error) bool
	// gooseDialect and migrationsDir tell goose how to run the embedded
	// migrations.
	gooseDialect() goose.Dialect
	migrationsDir() string
}

// timeArg encodes a required time for the dialect.
func timeArg(d dialect, t time.Time) driver.Value { return d.timeValue(t) }

// optionalTimeArg encodes an optional time: zero becomes NULL.
func optionalTimeArg(d dialect, t time.Time) driver.Value {
	if t.IsZero() {
		return nil
	}
	return d.timeValue(t)
}

// timeColumn scans a time column of either dialect into *t, in UTC. NULL
// scans as the zero time.
type timeColumn struct{ t *time.Time }

func (c timeColumn) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.t = time.Time{}
	case time.Time: // MySQL DATETIME(6) with parseTime=true
		if v.IsZero() {
			*c.t = time.Time{}
		} else {
			*c.t = v.UTC()
		}
	case int64: // SQLite INTEGER microseconds since the Unix epoch
		*c.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", src)
	}
	return nil
}

// blobArg stores a nil byte slice as an empty BLOB rather than NULL, so that
// NOT NULL BLOB columns accept it.
func blobArg(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nullIfEmpty stores "" as NULL, so that a UNIQUE column allows many rows
// without a value (Account.Email).
func nullIfEmpty(s string) driver.Value {
	if s == "" {
		return nil
	}
	return s
}
