package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/accountd/accountd/store"
)

const sessionColumns = `id, account_id, created_at, expires_at, revoked_at, last_used_at, client, ip, amr, device_id`

// sessionDest returns the scan destinations of sessionColumns for s.
func sessionDest(s *store.Session) []any {
	return []any{&s.ID, &s.AccountID, timeColumn{&s.CreatedAt}, timeColumn{&s.ExpiresAt},
		timeColumn{&s.RevokedAt}, timeColumn{&s.LastUsedAt}, &s.Client, &s.IP, amrColumn{&s.AMR}, &s.DeviceID}
}

// amrColumn scans the space-separated amr column into a list.
type amrColumn struct{ amr *[]string }

func (c amrColumn) Scan(src any) error {
	var v string
	switch x := src.(type) {
	case string:
		v = x
	case []byte:
		v = string(x)
	default:
		return fmt.Errorf("sqlstore: amr column of type %T", src)
	}
	*c.amr = strings.Fields(v)
	return nil
}

// Column bounds of sessions (see the migrations).
const (
	maxSessionIP  = 64
	maxSessionAMR = 32
)

// CreateSession implements store.Store.
func (db *DB) CreateSession(ctx context.Context, s store.Session, e store.AuthEvent) error {
	const op = "create session"
	if err := db.checkSession(op, s); err != nil {
		return err
	}
	if err := db.checkOptionalEvent(op, e); err != nil {
		return err
	}
	err := db.write.transact(ctx, func(tx *sql.Tx) error { return db.insertSession(ctx, tx, s, e) })
	if err != nil && db.dialect.isForeignKeyViolation(err) {
		return store.ErrNotFound // the account went away meanwhile
	}
	return db.translateGet(op, err)
}

// checkSession refuses a session the schema would not hold as given.
func (db *DB) checkSession(op string, s store.Session) error {
	if err := checkTimes(op, namedTime{"CreatedAt", s.CreatedAt}, namedTime{"ExpiresAt", s.ExpiresAt}); err != nil {
		return err
	}
	if len(s.Client) > store.MaxSessionClient || len(s.IP) > maxSessionIP {
		return fmt.Errorf("sqlstore: %s: client longer than %d bytes or ip longer than %d", op, store.MaxSessionClient, maxSessionIP)
	}
	// The column holds the list joined by spaces.
	for _, m := range s.AMR {
		if m == "" || strings.ContainsAny(m, " \t\r\n") {
			return fmt.Errorf("sqlstore: %s: amr member %q is empty or holds a space", op, m)
		}
	}
	if amr := strings.Join(s.AMR, " "); len(amr) > maxSessionAMR {
		return fmt.Errorf("sqlstore: %s: amr longer than %d bytes", op, maxSessionAMR)
	}
	if len(s.DeviceID) > maxDeviceID {
		return fmt.Errorf("sqlstore: %s: device id longer than %d bytes", op, maxDeviceID)
	}
	return nil
}

// insertSession opens a session inside a transaction: it clears the
// account's failed-login counter unless s.DeviceID is one of the
// account's devices, inserts s and appends e when set.
func (db *DB) insertSession(ctx context.Context, tx *sql.Tx, s store.Session, e store.AuthEvent) error {
	const known = `EXISTS (SELECT 1 FROM devices WHERE id = ? AND account_id = accounts.id)`
	res, err := tx.ExecContext(ctx,
		`UPDATE accounts SET
		   failed_logins = CASE WHEN `+known+` THEN failed_logins ELSE 0 END,
		   last_failed_login_at = CASE WHEN `+known+` THEN last_failed_login_at ELSE NULL END
		 WHERE id = ?`, s.DeviceID, s.DeviceID, s.AccountID)
	if err := checkAffected(res, err); err != nil {
		return err // no such account
	}
	amr := strings.Join(s.AMR, " ")
	if amr == "" {
		amr = "pwd"
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.AccountID, timeArg(db.dialect, s.CreatedAt), timeArg(db.dialect, s.ExpiresAt),
		optionalTimeArg(db.dialect, s.RevokedAt), optionalTimeArg(db.dialect, s.LastUsedAt), s.Client, s.IP, amr, s.DeviceID)
	if err != nil {
		return err
	}
	return db.insertOptionalEvent(ctx, tx, e)
}

// GetSession implements store.Store.
func (db *DB) GetSession(ctx context.Context, id string) (store.Session, error) {
	var s store.Session
	err := db.read.QueryRowContext(ctx,
		`SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id).Scan(sessionDest(&s)...)
	if err != nil {
		return store.Session{}, db.translateGet("get session", err)
	}
	return s, nil
}

// GetSessionAccount implements store.Store with one joined query.
func (db *DB) GetSessionAccount(ctx context.Context, id string) (store.Session, store.Account, error) {
	var s store.Session
	row := db.read.QueryRowContext(ctx,
		`SELECT `+prefixColumns("s", sessionColumns)+`, `+prefixColumns("a", accountSelectColumns)+
			` FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.id = ?`, id)
	a, err := scanAccount(prefixScanner{row, sessionDest(&s)})
	if err != nil {
		return store.Session{}, store.Account{}, db.translateGet("get session and account", err)
	}
	return s, a, nil
}

// ListSessions implements store.Store. It returns an empty, non-nil slice
// when the account has no live session.
func (db *DB) ListSessions(ctx context.Context, accountID string, t time.Time) ([]store.Session, error) {
	const op = "list sessions"
	if err := checkTimes(op, namedTime{"t", t}); err != nil {
		return nil, err
	}
	rows, err := db.read.QueryContext(ctx,
		`SELECT `+sessionColumns+` FROM sessions
		 WHERE account_id = ? AND revoked_at IS NULL AND expires_at > ?
		 ORDER BY created_at, id`, accountID, timeArg(db.dialect, t))
	if err != nil {
		return nil, db.translate(op, err)
	}
	defer rows.Close()
	sessions := []store.Session{}
	for rows.Next() {
		var s store.Session
		if err := rows.Scan(sessionDest(&s)...); err != nil {
			return nil, db.translate(op, err)
		}
		sessions = append(sessions, s)
	}
	if err := rows.Err(); err != nil {
		return nil, db.translate(op, err)
	}
	return sessions, nil
}

// TouchSession implements store.Store.
func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	const op = "touch session"
	if err := checkTimes(op, namedTime{"at", at}); err != nil {
		return err
	}
	t := timeArg(db.dialect, at)
	_, err := db.write.ExecContext(ctx,
		`UPDATE sessions SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`, t, id, t)
	return db.translate(op, err)
}

// prefixColumns qualifies each column of a comma-separated list with a
// table alias.
func prefixColumns(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// prefixScanner scans a joined row: its own destinations first, then the
// ones the caller passes.
type prefixScanner struct {
	row   rowScanner
	first []any
}

func (p prefixScanner) Scan(dest ...any) error {
	return p.row.Scan(append(append([]any{}, p.first...), dest...)...)
}

// RevokeSession implements store.Store. Only a live session is updated, so
// the first revocation time is kept and concurrent revocations agree on it.
func (db *DB) RevokeSession(ctx context.Context, accountID, id string, e store.AuthEvent) error {
	const op = "revoke session"
	if err := checkTimes(op, namedTime{"At", e.At}); err != nil {
		return err
	}
	if err := db.checkOptionalEvent(op, e); err != nil {
		return err
	}
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx,
			`SELECT 1 FROM sessions WHERE id = ? AND account_id = ?`, id, accountID).Scan(&one)
		if err != nil {
			return err // sql.ErrNoRows: not this account's session
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
			timeArg(db.dialect, e.At), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n > 0 {
			_, err = tx.ExecContext(ctx,
				`INSERT INTO revocations (session_id, expires_at, revoked_at)
				 SELECT id, expires_at, revoked_at FROM sessions WHERE id = ?`, id)
			if err != nil {
				return err
			}
		}
		return db.insertOptionalEvent(ctx, tx, e)
	})
	return db.translateGet(op, err)
}

// RevokeAccountSessions implements store.Store. A live session is one
// neither revoked nor expired at e.At; the count is of those.
func (db *DB) RevokeAccountSessions(ctx context.Context, accountID, keep string, e store.AuthEvent) (int, error) {
	const op = "revoke account sessions"
	if err := db.checkAuthEvent(op, e); err != nil {
		return 0, err
	}
	var revoked int64
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = ?`, accountID).Scan(&one); err != nil {
			return err
		}
		var err error
		if revoked, err = revokeLive(ctx, tx, accountID, keep, timeArg(db.dialect, e.At)); err != nil {
			return err
		}
		return db.insertAuthEvent(ctx, tx, e)
	})
	if err != nil {
		return 0, db.translateGet(op, err)
	}
	return int(revoked), nil
}

// revokeLive revokes, inside a transaction, every session of an account
// live at at but keep, appends them to the revocation log, and returns
// how many.
func revokeLive(ctx context.Context, tx *sql.Tx, accountID, keep string, at any) (int64, error) {
	n, err := logLive(ctx, tx, accountID, keep, at)
	if err != nil || n == 0 {
		return n, err
	}
	_, err = tx.ExecContext(ctx,
		`UPDATE sessions SET revoked_at = ?
		 WHERE account_id = ? AND id <> ? AND revoked_at IS NULL AND expires_at > ?`,
		at, accountID, keep, at)
	return n, err
}

// PruneSessions implements store.Store.
func (db *DB) PruneSessions(ctx context.Context, before time.Time) (int64, error) {
	const op = "prune sessions"
	if err := checkTimes(op, namedTime{"before", before}); err != nil {
		return 0, err
	}
	res, err := db.write.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ?`, timeArg(db.dialect, before))
	if err != nil {
		return 0, db.translate(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.translate(op, err)
	}
	return n, nil
}
