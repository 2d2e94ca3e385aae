package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/accountd/accountd/store"
)

// Column bounds of the second-factor tables (see the migrations).
const (
	maxSealedSecret = 128
	maxBinding      = 64
)

// BeginSecondFactor implements store.Store.
func (db *DB) BeginSecondFactor(ctx context.Context, f store.SecondFactor, e store.AuthEvent) error {
	const op = "begin second factor"
	if err := checkTimes(op, namedTime{"CreatedAt", f.CreatedAt}); err != nil {
		return err
	}
	if len(f.SealedSecret) == 0 || len(f.SealedSecret) > maxSealedSecret {
		return fmt.Errorf("sqlstore: %s: sealed secret must be 1 to %d bytes", op, maxSealedSecret)
	}
	if err := db.checkOptionalEvent(op, e); err != nil {
		return err
	}
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = ?`, f.AccountID).Scan(&one); err != nil {
			return err
		}
		var enabled bool
		err := tx.QueryRowContext(ctx, `SELECT enabled FROM second_factors WHERE account_id = ?`, f.AccountID).Scan(&enabled)
		switch {
		case err == sql.ErrNoRows:
		case err != nil:
			return err
		case enabled:
			return &store.ConflictError{Field: "account_id"}
		default:
			if _, err := tx.ExecContext(ctx, `DELETE FROM second_factors WHERE account_id = ? AND enabled = ?`, f.AccountID, false); err != nil {
				return err
			}
		}
		at := timeArg(db.dialect, f.CreatedAt)
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO second_factors (account_id, sealed_secret, enabled, last_step, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?)`,
			f.AccountID, f.SealedSecret, false, at, at); err != nil {
			return err
		}
		return db.insertOptionalEvent(ctx, tx, e)
	})
	return db.translateGet(op, err)
}

// GetSecondFactor implements store.Store.
func (db *DB) GetSecondFactor(ctx context.Context, accountID string) (store.SecondFactor, error) {
	f := store.SecondFactor{AccountID: accountID}
	err := db.read.QueryRowContext(ctx,
		`SELECT sealed_secret, enabled, last_step, created_at, updated_at,
		        (SELECT COUNT(*) FROM recovery_codes r WHERE r.account_id = f.account_id AND r.used_at IS NULL)
		 FROM second_factors f WHERE account_id = ?`, accountID).
		Scan(&f.SealedSecret, &f.Enabled, &f.LastStep, timeColumn{&f.CreatedAt}, timeColumn{&f.UpdatedAt}, &f.RecoveryCodesLeft)
	if err != nil {
		return store.SecondFactor{}, db.translateGet("get second factor", err)
	}
	return f, nil
}

// ListSealedSecrets implements store.Store.
func (db *DB) ListSealedSecrets(ctx context.Context, after string, limit int) ([]store.SecondFactor, error) {
	const op = "list sealed secrets"
	if limit <= 0 {
		return nil, fmt.Errorf("sqlstore: %s: limit must be positive", op)
	}
	rows, err := db.read.QueryContext(ctx,
		`SELECT account_id, sealed_secret, enabled FROM second_factors WHERE account_id > ? ORDER BY account_id LIMIT ?`, after, limit)
	if err != nil {
		return nil, db.translate(op, err)
	}
	defer rows.Close()
	var out []store.SecondFactor
	for rows.Next() {
		var f store.SecondFactor
		if err := rows.Scan(&f.AccountID, &f.SealedSecret, &f.Enabled); err != nil {
			return nil, db.translate(op, err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, db.translate(op, err)
	}
	return out, nil
}

// ResealSecondFactor implements store.Store.
func (db *DB) ResealSecondFactor(ctx context.Context, accountID string, old, sealed []byte) error {
	const op = "reseal second factor"
	if len(sealed) == 0 || len(sealed) > maxSealedSecret {
		return fmt.Errorf("sqlstore: %s: sealed secret must be 1 to %d bytes", op, maxSealedSecret)
	}
	res, err := db.write.ExecContext(ctx,
		`UPDATE second_factors SET sealed_secret = ? WHERE account_id = ? AND sealed_secret = ?`, sealed, accountID, old)
	if err != nil {
		return db.translate(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return db.translate(op, err)
	} else if n == 0 {
		return fmt.Errorf("sqlstore: %s %s: %w", op, accountID, store.ErrNotFound)
	}
	return nil
}

// EnableSecondFactor implements store.Store. The update names the
// sealed secret the code was checked against, so that an enrolment
// begun again meanwhile is not turned on by the old one's code.
func (db *DB) EnableSecondFactor(ctx context.Context, accountID string, sealed []byte, step int64, codeHashes [][]byte, e store.AuthEvent) error {
	const op = "enable second factor"
	if err := db.checkAuthEvent(op, e); err != nil {
		return err
	}
	if err := checkCodeHashes(op, codeHashes); err != nil {
		return err
	}
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE second_factors SET enabled = ?, last_step = ?, updated_at = ?
			 WHERE account_id = ? AND enabled = ? AND sealed_secret = ?`,
			true, step, timeArg(db.dialect, e.At), accountID, false, sealed)
		if err := checkAffected(res, err); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET second_factor = ? WHERE id = ?`, true, accountID); err != nil {
			return err
		}
		if err := db.putRecoveryCodes(ctx, tx, accountID, codeHashes); err != nil {
			return err
		}
		return db.insertAuthEvent(ctx, tx, e)
	})
	return db.translateGet(op, err)
}

// DisableSecondFactor implements store.Store.
func (db *DB) DisableSecondFactor(ctx context.Context, accountID string, endSessions bool, keep string, e store.AuthEvent) (int, error) {
	const op = "disable second factor"
	if err := db.checkAuthEvent(op, e); err != nil {
		return 0, err
	}
	var revoked int64
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM second_factors WHERE account_id = ?`, accountID)
		if err := checkAffected(res, err); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE account_id = ?`, accountID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET second_factor = ? WHERE id = ?`, false, accountID); err != nil {
			return err
		}
		if endSessions {
			if revoked, err = revokeLive(ctx, tx, accountID, keep, timeArg(db.dialect, e.At)); err != nil {
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

// UseTOTPStep implements store.Store with one conditional update: of
// concurrent uses of one step, exactly one moves LastStep.
func (db *DB) UseTOTPStep(ctx context.Context, accountID string, step int64) (bool, error) {
	res, err := db.write.ExecContext(ctx,
		`UPDATE second_factors SET last_step = ? WHERE account_id = ? AND enabled = ? AND last_step < ?`,
		step, accountID, true, step)
	if err != nil {
		return false, db.translate("use totp step", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, db.translate("use totp step", err)
	}
	return n == 1, nil
}

// UseRecoveryCode implements store.Store with one conditional update:
// of concurrent uses of one code, exactly one marks it.
func (db *DB) UseRecoveryCode(ctx context.Context, accountID string, codeHash []byte, e store.AuthEvent) (bool, error) {
	const op = "use recovery code"
	if err := db.checkAuthEvent(op, e); err != nil {
		return false, err
	}
	used := false
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE recovery_codes SET used_at = ?
			 WHERE account_id = ? AND code_hash = ? AND used_at IS NULL
			   AND EXISTS (SELECT 1 FROM second_factors f WHERE f.account_id = ? AND f.enabled = ?)`,
			timeArg(db.dialect, e.At), accountID, codeHash, accountID, true)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		used = true
		return db.insertAuthEvent(ctx, tx, e)
	})
	if err != nil {
		return false, db.translate(op, err)
	}
	return used, nil
}

// ReplaceRecoveryCodes implements store.Store.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, accountID string, codeHashes [][]byte, e store.AuthEvent) error {
	const op = "replace recovery codes"
	if err := db.checkAuthEvent(op, e); err != nil {
		return err
	}
	if err := checkCodeHashes(op, codeHashes); err != nil {
		return err
	}
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx,
			`SELECT 1 FROM second_factors WHERE account_id = ? AND enabled = ?`, accountID, true).Scan(&one); err != nil {
			return err
		}
		if err := db.putRecoveryCodes(ctx, tx, accountID, codeHashes); err != nil {
			return err
		}
		return db.insertAuthEvent(ctx, tx, e)
	})
	return db.translateGet(op, err)
}

// putRecoveryCodes replaces an account's recovery codes inside a
// transaction.
func (db *DB) putRecoveryCodes(ctx context.Context, tx *sql.Tx, accountID string, codeHashes [][]byte) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE account_id = ?`, accountID); err != nil {
		return err
	}
	if len(codeHashes) == 0 {
		return nil
	}
	q := `INSERT INTO recovery_codes (account_id, code_hash) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?), ", len(codeHashes)), ", ")
	args := make([]any, 0, 2*len(codeHashes))
	for _, h := range codeHashes {
		args = append(args, accountID, h)
	}
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

func checkCodeHashes(op string, hashes [][]byte) error {
	for _, h := range hashes {
		if len(h) != store.RecoveryCodeHashLength {
			return fmt.Errorf("sqlstore: %s: a recovery code hash is not %d bytes", op, store.RecoveryCodeHashLength)
		}
	}
	return nil
}

const challengeColumns = `id, account_id, binding, client, ip, attempts, created_at, expires_at, used_at, device_id`

// CreateLoginChallenge implements store.Store.
func (db *DB) CreateLoginChallenge(ctx context.Context, c store.LoginChallenge) error {
	const op = "create login challenge"
	if err := checkTimes(op, namedTime{"CreatedAt", c.CreatedAt}, namedTime{"ExpiresAt", c.ExpiresAt}); err != nil {
		return err
	}
	if len(c.Binding) > maxBinding || len(c.Client) > store.MaxSessionClient || len(c.IP) > maxSessionIP || len(c.DeviceID) > maxDeviceID {
		return fmt.Errorf("sqlstore: %s: binding, client, ip or device id too long", op)
	}
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_challenges WHERE expires_at < ?`, timeArg(db.dialect, c.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO login_challenges (`+challengeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.AccountID, c.Binding, c.Client, c.IP, c.Attempts,
			timeArg(db.dialect, c.CreatedAt), timeArg(db.dialect, c.ExpiresAt), optionalTimeArg(db.dialect, c.UsedAt), c.DeviceID)
		return err
	})
	if err != nil && db.dialect.isForeignKeyViolation(err) {
		return store.ErrNotFound
	}
	return db.translate(op, err)
}

// GetLoginChallenge implements store.Store.
func (db *DB) GetLoginChallenge(ctx context.Context, id string) (store.LoginChallenge, error) {
	var c store.LoginChallenge
	err := db.read.QueryRowContext(ctx, `SELECT `+challengeColumns+` FROM login_challenges WHERE id = ?`, id).
		Scan(&c.ID, &c.AccountID, &c.Binding, &c.Client, &c.IP, &c.Attempts,
			timeColumn{&c.CreatedAt}, timeColumn{&c.ExpiresAt}, timeColumn{&c.UsedAt}, &c.DeviceID)
	if err != nil {
		return store.LoginChallenge{}, db.translateGet("get login challenge", err)
	}
	return c, nil
}

// ClaimChallengeAttempt implements store.Store. The check and the
// increment are one statement, so concurrent answers can never be
// checked more than maxAttempts times in all.
func (db *DB) ClaimChallengeAttempt(ctx context.Context, id string, now time.Time, maxAttempts int) (bool, error) {
	const op = "claim challenge attempt"
	if err := checkTimes(op, namedTime{"now", now}); err != nil {
		return false, err
	}
	res, err := db.write.ExecContext(ctx,
		`UPDATE login_challenges SET attempts = attempts + 1
		 WHERE id = ? AND used_at IS NULL AND expires_at > ? AND attempts < ?`,
		id, timeArg(db.dialect, now), maxAttempts)
	if err != nil {
		return false, db.translate(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, db.translate(op, err)
	}
	return n == 1, nil
}

// CompleteLoginChallenge implements store.Store.
func (db *DB) CompleteLoginChallenge(ctx context.Context, id string, s store.Session, e store.AuthEvent) error {
	const op = "complete login challenge"
	if err := db.checkSession(op, s); err != nil {
		return err
	}
	if err := db.checkOptionalEvent(op, e); err != nil {
		return err
	}
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE login_challenges SET used_at = ? WHERE id = ? AND account_id = ? AND used_at IS NULL`,
			timeArg(db.dialect, s.CreatedAt), id, s.AccountID)
		if err := checkAffected(res, err); err != nil {
			return err
		}
		return db.insertSession(ctx, tx, s, e)
	})
	if err != nil && db.dialect.isForeignKeyViolation(err) {
		return store.ErrNotFound
	}
	return db.translateGet(op, err)
}
