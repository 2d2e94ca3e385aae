package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/accountd/accountd/store"
)

const emailCodeColumns = `account_id, purpose, email, code_hash, attempts, expires_at, issued, window_start`

const mailColumns = `id, kind, account_id, address, username, login, notice, attempts, created_at, next_at`

// GetAccountByEmail implements store.Store.
func (db *DB) GetAccountByEmail(ctx context.Context, email string) (store.Account, error) {
	row := db.read.QueryRowContext(ctx,
		`SELECT `+accountSelectColumns+` FROM accounts WHERE email = ?`, email)
	a, err := scanAccount(row)
	return a, db.translateGet("get account by email", err)
}

// PutEmailCode implements store.Store.
func (db *DB) PutEmailCode(ctx context.Context, c store.EmailCode, replaces []byte) error {
	const op = "put email code"
	if err := checkTimes(op, namedTime{"ExpiresAt", c.ExpiresAt}, namedTime{"WindowStart", c.WindowStart}); err != nil {
		return err
	}
	if len(c.Hash) != 32 {
		return fmt.Errorf("sqlstore: %s: hash must be 32 bytes", op)
	}
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = ?`, c.AccountID).Scan(&one); err != nil {
			return err
		}
		if replaces != nil {
			// The delete reads the latest committed row (InnoDB locks
			// it), so a code replaced meanwhile is not found.
			res, err := tx.ExecContext(ctx, `DELETE FROM email_codes WHERE account_id = ? AND purpose = ? AND code_hash = ?`,
				c.AccountID, c.Purpose, replaces)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n != 1 {
				return store.ErrStale
			}
		}
		// Without replaces, a code that exists makes the insert a
		// duplicate key.
		_, err := tx.ExecContext(ctx,
			`INSERT INTO email_codes (`+emailCodeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			c.AccountID, c.Purpose, c.Email, c.Hash, c.Attempts,
			timeArg(db.dialect, c.ExpiresAt), c.Issued, timeArg(db.dialect, c.WindowStart))
		return err
	})
	if errors.Is(err, store.ErrStale) {
		return err
	}
	err = db.translateGet(op, err)
	if errors.As(err, new(*store.ConflictError)) {
		return store.ErrStale
	}
	return err
}

// GetEmailCode implements store.Store.
func (db *DB) GetEmailCode(ctx context.Context, accountID, purpose string) (store.EmailCode, error) {
	row := db.read.QueryRowContext(ctx,
		`SELECT `+emailCodeColumns+` FROM email_codes WHERE account_id = ? AND purpose = ?`, accountID, purpose)
	c, err := scanEmailCode(row)
	return c, db.translateGet("get email code", err)
}

// CountEmailCodeAttempt implements store.Store.
func (db *DB) CountEmailCodeAttempt(ctx context.Context, accountID, purpose string) (store.EmailCode, error) {
	var c store.EmailCode
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE email_codes SET attempts = attempts + 1 WHERE account_id = ? AND purpose = ?`, accountID, purpose)
		if err := checkAffected(res, err); err != nil {
			return err
		}
		c, err = scanEmailCode(tx.QueryRowContext(ctx,
			`SELECT `+emailCodeColumns+` FROM email_codes WHERE account_id = ? AND purpose = ?`, accountID, purpose))
		return err
	})
	return c, db.translateGet("count email code attempt", err)
}

// useCode deletes the account's code for a purpose when its hash is hash;
// no such code is sql.ErrNoRows.
func useCode(ctx context.Context, tx *sql.Tx, accountID, purpose string, hash []byte) error {
	res, err := tx.ExecContext(ctx,
		`DELETE FROM email_codes WHERE account_id = ? AND purpose = ? AND code_hash = ?`, accountID, purpose, hash)
	return checkAffected(res, err)
}

// VerifyEmail implements store.Store.
func (db *DB) VerifyEmail(ctx context.Context, accountID, email string, hash []byte, e store.AuthEvent) error {
	const op = "verify email"
	if err := db.checkAuthEvent(op, e); err != nil {
		return err
	}
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		if err := useCode(ctx, tx, accountID, store.PurposeVerify, hash); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE accounts SET email = ?, pending_email = NULL, updated_at = ? WHERE id = ? AND pending_email = ?`,
			email, timeArg(db.dialect, e.At), accountID, email)
		if err := checkAffected(res, err); err != nil {
			return err
		}
		return db.insertAuthEvent(ctx, tx, e)
	})
	return db.translateGet(op, err)
}

// ResetPassword implements store.Store.
func (db *DB) ResetPassword(ctx context.Context, accountID string, codeHash []byte, passwordHash string, e store.AuthEvent) (int, error) {
	const op = "reset password"
	if err := db.checkAuthEvent(op, e); err != nil {
		return 0, err
	}
	at := timeArg(db.dialect, e.At)
	var revoked int64
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		revoked = 0
		if err := useCode(ctx, tx, accountID, store.PurposeReset, codeHash); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE accounts SET password_hash = ?, updated_at = ?,
				failed_logins = CASE WHEN second_factor = 1 THEN failed_logins ELSE 0 END,
				last_failed_login_at = CASE WHEN second_factor = 1 THEN last_failed_login_at ELSE NULL END
			WHERE id = ?`,
			passwordHash, at, accountID)
		if err := checkAffected(res, err); err != nil {
			return err
		}
		if revoked, err = revokeLive(ctx, tx, accountID, "", at); err != nil {
			return err
		}
		return db.insertAuthEvent(ctx, tx, e)
	})
	if err != nil {
		return 0, db.translateGet(op, err)
	}
	return int(revoked), nil
}

// EnqueueMail implements store.Store.
func (db *DB) EnqueueMail(ctx context.Context, m store.QueuedMail) error {
	const op = "enqueue mail"
	if err := checkTimes(op, namedTime{"CreatedAt", m.CreatedAt}, namedTime{"NextAt", m.NextAt}); err != nil {
		return err
	}
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO mail_queue (`+mailColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.Kind, m.AccountID, m.Address, m.Username, m.Login, m.Notice, m.Attempts,
		timeArg(db.dialect, m.CreatedAt), timeArg(db.dialect, m.NextAt))
	return db.translate(op, err)
}

// ClaimMail implements store.Store. A mail is claimed by a conditional
// update of its NextAt, so of two senders reading it at once only one
// takes it.
func (db *DB) ClaimMail(ctx context.Context, now, until time.Time, limit int) ([]store.QueuedMail, error) {
	const op = "claim mail"
	if err := checkTimes(op, namedTime{"now", now}, namedTime{"until", until}); err != nil {
		return nil, err
	}
	var claimed []store.QueuedMail
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		claimed = nil
		rows, err := tx.QueryContext(ctx,
			`SELECT `+mailColumns+` FROM mail_queue WHERE next_at <= ? ORDER BY next_at, created_at, id LIMIT ?`,
			timeArg(db.dialect, now), limit)
		if err != nil {
			return err
		}
		var due []store.QueuedMail
		for rows.Next() {
			m, err := scanMail(rows)
			if err != nil {
				rows.Close()
				return err
			}
			due = append(due, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range due {
			res, err := tx.ExecContext(ctx, `UPDATE mail_queue SET next_at = ? WHERE id = ? AND next_at = ?`,
				timeArg(db.dialect, until), m.ID, timeArg(db.dialect, m.NextAt))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				m.NextAt = until
				claimed = append(claimed, m)
			}
		}
		return nil
	})
	if err != nil {
		return nil, db.translate(op, err)
	}
	return claimed, nil
}

// RetryMail implements store.Store.
func (db *DB) RetryMail(ctx context.Context, id string, attempts int, next time.Time) error {
	const op = "retry mail"
	if err := checkTimes(op, namedTime{"next", next}); err != nil {
		return err
	}
	res, err := db.write.ExecContext(ctx, `UPDATE mail_queue SET attempts = ?, next_at = ? WHERE id = ?`,
		attempts, timeArg(db.dialect, next), id)
	return db.checkUpdated(op, res, err)
}

// DeleteMail implements store.Store.
func (db *DB) DeleteMail(ctx context.Context, id string) error {
	_, err := db.write.ExecContext(ctx, `DELETE FROM mail_queue WHERE id = ?`, id)
	return db.translate("delete mail", err)
}

func scanEmailCode(row rowScanner) (store.EmailCode, error) {
	var c store.EmailCode
	err := row.Scan(&c.AccountID, &c.Purpose, &c.Email, &c.Hash, &c.Attempts,
		timeColumn{&c.ExpiresAt}, &c.Issued, timeColumn{&c.WindowStart})
	return c, err
}

func scanMail(row rowScanner) (store.QueuedMail, error) {
	var m store.QueuedMail
	err := row.Scan(&m.ID, &m.Kind, &m.AccountID, &m.Address, &m.Username, &m.Login, &m.Notice,
		&m.Attempts, timeColumn{&m.CreatedAt}, timeColumn{&m.NextAt})
	return m, err
}
