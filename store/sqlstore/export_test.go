package sqlstore

import (
	"context"
	"database/sql"

	"github.com/accountd/accountd/store"
)

// SessionSyncWait returns wsrep_sync_wait as a connection of db's pool
// sees it ("0" on MariaDB without Galera).
func SessionSyncWait(ctx context.Context, db *DB) (string, error) {
	var v string
	err := db.read.QueryRowContext(ctx, "SELECT @@SESSION.wsrep_sync_wait").Scan(&v)
	return v, err
}

// MigrateTo moves db's schema up or down to version v.
func MigrateTo(ctx context.Context, db *DB, v int64) error {
	cur, err := db.migrator.GetDBVersion(ctx)
	if err != nil {
		return err
	}
	if v < cur {
		_, err = db.migrator.DownTo(ctx, v)
	} else {
		_, err = db.migrator.UpTo(ctx, v)
	}
	return err
}

// CreateAccountAtSchema7 inserts a as the schema of migration 7 held it
// (no column a later migration added), for tests of later migrations.
func CreateAccountAtSchema7(ctx context.Context, db *DB, a store.Account) error {
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO accounts (id, username, email, password_hash, disabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Username, nullIfEmpty(a.Email), a.PasswordHash, a.Disabled,
		timeArg(db.dialect, a.CreatedAt), timeArg(db.dialect, a.UpdatedAt))
	return err
}

// AccountEmails reads an account's email and pending email with a query
// that every schema since migration 4 answers.
func AccountEmails(ctx context.Context, db *DB, id string) (email, pending string, err error) {
	var e, p sql.NullString
	err = db.read.QueryRowContext(ctx, `SELECT email, pending_email FROM accounts WHERE id = ?`, id).Scan(&e, &p)
	return e.String, p.String, err
}
