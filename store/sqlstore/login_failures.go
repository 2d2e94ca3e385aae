package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/accountd/accountd/store"
)

// RecordLoginFailure implements store.Store. The increment, the read back
// and the audit row are one transaction (one commit, one sync to disk), so
// concurrent failures each count and each caller sees the count its own
// failure produced.
func (db *DB) RecordLoginFailure(ctx context.Context, e store.AuthEvent) (store.LoginFailures, error) {
	const op = "record login failure"
	if err := db.checkAuthEvent(op, e); err != nil {
		return store.LoginFailures{}, err
	}
	accountID, at := e.AccountID, e.At
	if accountID == "" {
		return store.LoginFailures{}, fmt.Errorf("sqlstore: %s: no account id", op)
	}
	var f store.LoginFailures
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE accounts SET failed_logins = failed_logins + 1, last_failed_login_at = ? WHERE id = ?`,
			timeArg(db.dialect, at), accountID)
		if err := checkAffected(res, err); err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx,
			`SELECT failed_logins, last_failed_login_at FROM accounts WHERE id = ?`, accountID).
			Scan(&f.Count, timeColumn{&f.LastAt})
		if err != nil {
			return err
		}
		return db.insertAuthEvent(ctx, tx, e)
	})
	if err != nil {
		return store.LoginFailures{}, db.translateGet(op, err)
	}
	return f, nil
}

// ResetLoginFailures implements store.Store.
func (db *DB) ResetLoginFailures(ctx context.Context, accountID string, e store.AuthEvent) (int, error) {
	const op = "reset login failures"
	if err := db.checkOptionalEvent(op, e); err != nil {
		return 0, err
	}
	var cleared int
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT failed_logins FROM accounts WHERE id = ?`, accountID).Scan(&cleared)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE accounts SET failed_logins = 0, last_failed_login_at = NULL WHERE id = ?`, accountID)
		if err := checkAffected(res, err); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE devices SET failed_logins = 0, last_failed_login_at = NULL WHERE account_id = ? AND failed_logins > 0`, accountID)
		if err != nil {
			return err
		}
		return db.insertOptionalEvent(ctx, tx, e)
	})
	if err != nil {
		return 0, db.translateGet(op, err)
	}
	return cleared, nil
}
