package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/accountd/accountd/store"
)

const sessionColumns = `id, account_id, created_at, expires_at, revoked_at`

// CreateSession implements store.Store.
func (db *DB) CreateSession(ctx context.Context, s store.Session) error {
	const op = "create session"
	if err := checkTimes(op, namedTime{"CreatedAt", s.CreatedAt}, namedTime{"ExpiresAt", s.ExpiresAt}); err != nil {
		return err
	}
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?)`,
		s.ID, s.AccountID, timeArg(db.dialect, s.CreatedAt), timeArg(db.dialect, s.ExpiresAt),
		optionalTimeArg(db.dialect, s.RevokedAt))
	if err != nil && db.dialect.isForeignKeyViolation(err) {
		return store.ErrNotFound // no such account
	}
	return db.translate(op, err)
}

// GetSession implements store.Store.
func (db *DB) GetSession(ctx context.Context, id string) (store.Session, error) {
	var s store.Session
	err := db.read.QueryRowContext(ctx,
		`SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id).
		Scan(&s.ID, &s.AccountID, timeColumn{&s.CreatedAt}, timeColumn{&s.ExpiresAt}, timeColumn{&s.RevokedAt})
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
	a, err := scanAccount(prefixScanner{row, []any{&s.ID, &s.AccountID, timeColumn{&s.CreatedAt}, timeColumn{&s.ExpiresAt}, timeColumn{&s.RevokedAt}}})
	if err != nil {
		return store.Session{}, store.Account{}, db.translateGet("get session and account", err)
	}
	return s, a, nil
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
func (db *DB) RevokeSession(ctx context.Context, id string, at time.Time) error {
	const op = "revoke session"
	if err := checkTimes(op, namedTime{"at", at}); err != nil {
		return err
	}
	res, err := db.write.ExecContext(ctx,
		`UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
		timeArg(db.dialect, at), id)
	if err != nil {
		return db.translate(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return db.translate(op, err)
	}
	if n > 0 {
		return nil
	}
	// Nothing updated: already revoked (fine) or no such session.
	var one int
	err = db.write.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ?`, id).Scan(&one)
	return db.translateGet(op, err)
}

// RevokeAccountSessions implements store.Store. A live session is one
// neither revoked nor expired at the time given; the count is of those.
func (db *DB) RevokeAccountSessions(ctx context.Context, accountID string, at time.Time) (int, error) {
	const op = "revoke account sessions"
	if err := checkTimes(op, namedTime{"at", at}); err != nil {
		return 0, err
	}
	t := timeArg(db.dialect, at)
	res, err := db.write.ExecContext(ctx,
		`UPDATE sessions SET revoked_at = ?
		 WHERE account_id = ? AND revoked_at IS NULL AND expires_at > ?`,
		t, accountID, t)
	if err != nil {
		return 0, db.translate(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.translate(op, err)
	}
	return int(n), nil
}
