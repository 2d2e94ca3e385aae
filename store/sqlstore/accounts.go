package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/accountd/accountd/store"
)

const accountColumns = `id, username, email, password_hash, disabled, created_at, updated_at, pending_email, signup_key`

// accountSelectColumns adds the failed-login counter and the
// second-factor flag, which CreateAccount leaves at their defaults.
const accountSelectColumns = accountColumns + `, failed_logins, last_failed_login_at, second_factor`

// CreateAccount implements store.Store.
func (db *DB) CreateAccount(ctx context.Context, a store.Account, e store.AuthEvent) error {
	const op = "create account"
	if err := checkTimes(op, namedTime{"CreatedAt", a.CreatedAt}, namedTime{"UpdatedAt", a.UpdatedAt}); err != nil {
		return err
	}
	if err := db.checkOptionalEvent(op, e); err != nil {
		return err
	}
	insert := func(x execer) error {
		_, err := x.ExecContext(ctx,
			`INSERT INTO accounts (`+accountColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.Username, nullIfEmpty(a.Email), a.PasswordHash, a.Disabled,
			timeArg(db.dialect, a.CreatedAt), timeArg(db.dialect, a.UpdatedAt), nullIfEmpty(a.PendingEmail), a.SignupKey)
		return err
	}
	var err error
	if e.Type == "" {
		err = insert(db.write)
	} else {
		err = db.write.transact(ctx, func(tx *sql.Tx) error {
			if err := insert(tx); err != nil {
				return err
			}
			return db.insertAuthEvent(ctx, tx, e)
		})
	}
	return db.translate(op, err)
}

// GetAccount implements store.Store.
func (db *DB) GetAccount(ctx context.Context, id string) (store.Account, error) {
	row := db.read.QueryRowContext(ctx,
		`SELECT `+accountSelectColumns+` FROM accounts WHERE id = ?`, id)
	a, err := scanAccount(row)
	return a, db.translateGet("get account", err)
}

// GetAccountByUsername implements store.Store.
func (db *DB) GetAccountByUsername(ctx context.Context, username string) (store.Account, error) {
	row := db.read.QueryRowContext(ctx,
		`SELECT `+accountSelectColumns+` FROM accounts WHERE username = ?`, username)
	a, err := scanAccount(row)
	return a, db.translateGet("get account by username", err)
}

// ListAccounts implements store.Store. It returns an empty, non-nil slice
// when there are no accounts.
func (db *DB) ListAccounts(ctx context.Context) ([]store.Account, error) {
	const op = "list accounts"
	rows, err := db.read.QueryContext(ctx,
		`SELECT `+accountSelectColumns+` FROM accounts ORDER BY username`)
	if err != nil {
		return nil, db.translate(op, err)
	}
	defer rows.Close()
	accounts := []store.Account{}
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, db.translate(op, err)
		}
		accounts = append(accounts, a)
	}
	if err := rows.Err(); err != nil {
		return nil, db.translate(op, err)
	}
	return accounts, nil
}

// CountHashParams implements store.Store.
func (db *DB) CountHashParams(ctx context.Context) (map[string]int64, error) {
	const op = "count hash parameters"
	// SUBSTR and INSTR mean the same in both dialects; the prefix is 15
	// characters long.
	rows, err := db.read.QueryContext(ctx, `SELECT SUBSTR(password_hash, 16, INSTR(SUBSTR(password_hash, 16), '$') - 1) AS params, COUNT(*)
		FROM accounts WHERE password_hash LIKE '$argon2id$v=19$%' GROUP BY params`)
	if err != nil {
		return nil, db.translate(op, err)
	}
	defer rows.Close()
	counts := map[string]int64{}
	for rows.Next() {
		var params string
		var n int64
		if err := rows.Scan(&params, &n); err != nil {
			return nil, db.translate(op, err)
		}
		counts[params] += n
	}
	if err := rows.Err(); err != nil {
		return nil, db.translate(op, err)
	}
	return counts, nil
}

// UpdatePasswordHash implements store.Store.
func (db *DB) UpdatePasswordHash(ctx context.Context, id, hash string, at time.Time) error {
	const op = "update password hash"
	if err := checkTimes(op, namedTime{"at", at}); err != nil {
		return err
	}
	res, err := db.write.ExecContext(ctx,
		`UPDATE accounts SET password_hash = ?, updated_at = ? WHERE id = ?`,
		hash, timeArg(db.dialect, at), id)
	return db.checkUpdated(op, res, err)
}

// ChangePassword implements store.Store.
func (db *DB) ChangePassword(ctx context.Context, id, hash string, endOthers bool, keep string, e store.AuthEvent) (int, error) {
	const op = "change password"
	if err := db.checkAuthEvent(op, e); err != nil {
		return 0, err
	}
	at := timeArg(db.dialect, e.At)
	var revoked int64
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		revoked = 0
		// A change from a known device says nothing of strangers' guesses:
		// the account's counter restarts only for a session without one.
		res, err := tx.ExecContext(ctx,
			`UPDATE accounts SET password_hash = ?, updated_at = ?,
			   failed_logins = CASE WHEN EXISTS (SELECT 1 FROM sessions WHERE id = ? AND device_id <> '') THEN failed_logins ELSE 0 END,
			   last_failed_login_at = CASE WHEN EXISTS (SELECT 1 FROM sessions WHERE id = ? AND device_id <> '') THEN last_failed_login_at ELSE NULL END
			 WHERE id = ?`,
			hash, at, keep, keep, id)
		if err := checkAffected(res, err); err != nil {
			return err
		}
		// The calling session's device proved itself: its counter
		// restarts.
		if _, err := tx.ExecContext(ctx,
			`UPDATE devices SET failed_logins = 0, last_failed_login_at = NULL
			 WHERE account_id = ? AND id = (SELECT device_id FROM sessions WHERE id = ?)`,
			id, keep); err != nil {
			return err
		}
		if endOthers {
			if revoked, err = revokeLive(ctx, tx, id, keep, at); err != nil {
				return err
			}
		}
		return db.insertAuthEvent(ctx, tx, e)
	})
	if err != nil {
		return 0, db.translateGet(op, err)
	}
	return int(revoked), nil
}

// SetPendingEmail implements store.Store.
func (db *DB) SetPendingEmail(ctx context.Context, id, pendingEmail string, e store.AuthEvent) error {
	const op = "set pending email"
	if err := db.checkAuthEvent(op, e); err != nil {
		return err
	}
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE accounts SET pending_email = ?, updated_at = ? WHERE id = ?`,
			nullIfEmpty(pendingEmail), timeArg(db.dialect, e.At), id)
		if err := checkAffected(res, err); err != nil {
			return err
		}
		return db.insertAuthEvent(ctx, tx, e)
	})
	return db.translateGet(op, err)
}

// SetAccountDisabled implements store.Store.
func (db *DB) SetAccountDisabled(ctx context.Context, id string, disabled bool, e store.AuthEvent) (int, error) {
	const op = "set account disabled"
	if err := db.checkAuthEvent(op, e); err != nil {
		return 0, err
	}
	at := timeArg(db.dialect, e.At)
	var revoked int64
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		revoked = 0
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET disabled = ?, updated_at = ? WHERE id = ?`, disabled, at, id)
		if err := checkAffected(res, err); err != nil {
			return err
		}
		if disabled {
			if revoked, err = revokeLive(ctx, tx, id, "", at); err != nil {
				return err
			}
		}
		return db.insertAuthEvent(ctx, tx, e)
	})
	if err != nil {
		return 0, db.translateGet(op, err)
	}
	return int(revoked), nil
}

// DeleteAccount implements store.Store. The foreign key deletes the
// account's sessions with it; the live ones go to the revocation log
// first.
func (db *DB) DeleteAccount(ctx context.Context, id string, e store.AuthEvent) (int, error) {
	const op = "delete account"
	if err := db.checkAuthEvent(op, e); err != nil {
		return 0, err
	}
	at := timeArg(db.dialect, e.At)
	var live int64
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		var err error
		if live, err = logLive(ctx, tx, id, "", at); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM accounts WHERE id = ?`, id)
		if err := checkAffected(res, err); err != nil {
			return err
		}
		return db.insertAuthEvent(ctx, tx, e)
	})
	if err != nil {
		return 0, db.translateGet(op, err)
	}
	return int(live), nil
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

func scanAccount(row rowScanner) (store.Account, error) {
	var (
		a              store.Account
		email, pending sql.NullString
	)
	err := row.Scan(&a.ID, &a.Username, &email, &a.PasswordHash, &a.Disabled,
		timeColumn{&a.CreatedAt}, timeColumn{&a.UpdatedAt}, &pending, &a.SignupKey,
		&a.Failures.Count, timeColumn{&a.Failures.LastAt}, &a.SecondFactor)
	if err != nil {
		return store.Account{}, err
	}
	a.Email, a.PendingEmail = email.String, pending.String
	return a, nil
}

// translateGet maps sql.ErrNoRows to store.ErrNotFound and other errors
// with translate.
func (db *DB) translateGet(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return db.translate(op, err)
}

// checkUpdated returns store.ErrNotFound when a statement that targets one
// row by id matched none. Both dialects count matched rows (MySQL with
// clientFoundRows), so an update that changes nothing still counts.
func (db *DB) checkUpdated(op string, res sql.Result, err error) error {
	if err := checkAffected(res, err); err != nil {
		return db.translateGet(op, err)
	}
	return nil
}

// checkAffected is checkUpdated for a statement inside a transaction: its
// error is translated when the transaction ends. No row is sql.ErrNoRows.
func checkAffected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return sql.ErrNoRows
	}
	return nil
}
