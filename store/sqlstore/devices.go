package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/accountd/accountd/store"
)

const deviceColumns = `id, account_id, secret_hash, created_at, last_login_at, failed_logins, last_failed_login_at`

// maxDeviceID bounds a device id (see the migrations).
const maxDeviceID = 32

// GetDevice implements store.Store.
func (db *DB) GetDevice(ctx context.Context, id string) (store.Device, error) {
	var d store.Device
	err := db.read.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = ?`, id).
		Scan(&d.ID, &d.AccountID, &d.SecretHash, timeColumn{&d.CreatedAt}, timeColumn{&d.LastLoginAt},
			&d.Failures.Count, timeColumn{&d.Failures.LastAt})
	if err != nil {
		return store.Device{}, db.translateGet("get device", err)
	}
	return d, nil
}

// PutDevice implements store.Store.
func (db *DB) PutDevice(ctx context.Context, d store.Device, keep int) error {
	const op = "put device"
	if err := checkTimes(op, namedTime{"CreatedAt", d.CreatedAt}, namedTime{"LastLoginAt", d.LastLoginAt}); err != nil {
		return err
	}
	if d.ID == "" || len(d.ID) > maxDeviceID || len(d.SecretHash) != store.DeviceSecretHashLength || keep < 1 {
		return fmt.Errorf("sqlstore: %s: id empty or longer than %d bytes, secret hash not %d bytes, or keep below 1",
			op, maxDeviceID, store.DeviceSecretHashLength)
	}
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE devices SET secret_hash = ?, last_login_at = ?, failed_logins = 0, last_failed_login_at = NULL
			 WHERE id = ? AND account_id = ?`,
			d.SecretHash, timeArg(db.dialect, d.LastLoginAt), d.ID, d.AccountID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			_, err = tx.ExecContext(ctx,
				`INSERT INTO devices (`+deviceColumns+`) VALUES (?, ?, ?, ?, ?, 0, NULL)`,
				d.ID, d.AccountID, d.SecretHash, timeArg(db.dialect, d.CreatedAt), timeArg(db.dialect, d.LastLoginAt))
			if err != nil {
				return err
			}
		}
		return db.pruneDevices(ctx, tx, d.AccountID, keep)
	})
	switch {
	case err != nil && db.dialect.isForeignKeyViolation(err):
		return store.ErrNotFound // the account went away meanwhile
	}
	if _, dup := db.dialect.conflictField(err); err != nil && dup {
		return store.ErrNotFound // the id is another account's
	}
	return db.translate(op, err)
}

// pruneDevices deletes an account's devices beyond the keep most
// recently logged in. PutDevice calls it at every insert, so there are
// at most a few to delete.
func (db *DB) pruneDevices(ctx context.Context, tx *sql.Tx, accountID string, keep int) error {
	rows, err := tx.QueryContext(ctx,
		`SELECT id FROM devices WHERE account_id = ? ORDER BY last_login_at DESC, id`, accountID)
	if err != nil {
		return err
	}
	var stale []string
	for i := 0; rows.Next(); i++ {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		if i >= keep {
			stale = append(stale, id)
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range stale {
		if _, err := tx.ExecContext(ctx, `DELETE FROM devices WHERE id = ?`, id); err != nil {
			return err
		}
	}
	return nil
}

// RecordDeviceFailure implements store.Store. Like RecordLoginFailure,
// the increment, the read back and the audit row are one transaction.
func (db *DB) RecordDeviceFailure(ctx context.Context, id string, e store.AuthEvent) (store.LoginFailures, error) {
	const op = "record device failure"
	if err := db.checkAuthEvent(op, e); err != nil {
		return store.LoginFailures{}, err
	}
	if e.AccountID == "" {
		return store.LoginFailures{}, fmt.Errorf("sqlstore: %s: no account id", op)
	}
	var f store.LoginFailures
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE devices SET failed_logins = failed_logins + 1, last_failed_login_at = ? WHERE id = ? AND account_id = ?`,
			timeArg(db.dialect, e.At), id, e.AccountID)
		if err := checkAffected(res, err); err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx,
			`SELECT failed_logins, last_failed_login_at FROM devices WHERE id = ?`, id).
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
