package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/accountd/accountd/store"
)

// maxRevocationsPage bounds one ListRevocations answer.
const maxRevocationsPage = 10000

// logLive appends to the revocation log, inside a revoking transaction
// and before it revokes, the sessions of account accountID live at at,
// keep excepted, with revoked_at = at, and returns how many. Its
// condition is the revoking UPDATE's, so that the two select the same
// rows in one transaction.
func logLive(ctx context.Context, tx *sql.Tx, accountID, keep string, at any) (int64, error) {
	res, err := tx.ExecContext(ctx,
		`INSERT INTO revocations (session_id, expires_at, revoked_at)
		 SELECT id, expires_at, ? FROM sessions
		 WHERE account_id = ? AND id <> ? AND revoked_at IS NULL AND expires_at > ?`, at, accountID, keep, at)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// ListRevocations implements store.Store.
func (db *DB) ListRevocations(ctx context.Context, after int64, limit int) ([]store.Revocation, error) {
	const op = "list revocations"
	if limit <= 0 || limit > maxRevocationsPage {
		return nil, fmt.Errorf("sqlstore: %s: limit %d out of 1..%d", op, limit, maxRevocationsPage)
	}
	rows, err := db.read.QueryContext(ctx,
		`SELECT id, session_id, expires_at, revoked_at FROM revocations WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, db.translate(op, err)
	}
	defer rows.Close()
	out := []store.Revocation{}
	for rows.Next() {
		var r store.Revocation
		if err := rows.Scan(&r.ID, &r.SessionID, timeColumn{&r.ExpiresAt}, timeColumn{&r.RevokedAt}); err != nil {
			return nil, db.translate(op, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, db.translate(op, err)
	}
	return out, nil
}

// PruneRevocations implements store.Store.
func (db *DB) PruneRevocations(ctx context.Context, before time.Time) (int64, error) {
	const op = "prune revocations"
	if err := checkTimes(op, namedTime{"before", before}); err != nil {
		return 0, err
	}
	res, err := db.write.ExecContext(ctx, `DELETE FROM revocations WHERE expires_at < ?`, timeArg(db.dialect, before))
	if err != nil {
		return 0, db.translate(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.translate(op, err)
	}
	return n, nil
}
