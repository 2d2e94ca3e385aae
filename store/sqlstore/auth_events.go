package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/accountd/accountd/store"
)

const authEventColumns = `id, at, type, reason, ip, account_id, session_id, count`

// Column bounds of auth_events (see the migrations); AddAuthEvent refuses
// longer values rather than let the two databases treat them differently.
const (
	maxEventType   = 32
	maxEventReason = 64
	maxEventIP     = 64
	maxEventID     = 32
)

// AddAuthEvent implements store.Store.
func (db *DB) AddAuthEvent(ctx context.Context, e store.AuthEvent) error {
	const op = "add auth event"
	if err := db.checkAuthEvent(op, e); err != nil {
		return err
	}
	return db.translate(op, db.addBatched(ctx, e))
}

// execer is *sql.DB or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (db *DB) insertAuthEvent(ctx context.Context, x execer, e store.AuthEvent) error {
	_, err := x.ExecContext(ctx,
		`INSERT INTO auth_events (at, type, reason, ip, account_id, session_id, count) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		timeArg(db.dialect, e.At), e.Type, e.Reason, e.IP, nullIfEmpty(e.AccountID), nullIfEmpty(e.SessionID), sql.NullInt64{Int64: e.Count, Valid: e.Count > 0})
	return err
}

// checkOptionalEvent is checkAuthEvent for an event a write appends only
// when its Type is set.
func (db *DB) checkOptionalEvent(op string, e store.AuthEvent) error {
	if e.Type == "" {
		return nil
	}
	return db.checkAuthEvent(op, e)
}

// insertOptionalEvent appends e when its Type is set.
func (db *DB) insertOptionalEvent(ctx context.Context, x execer, e store.AuthEvent) error {
	if e.Type == "" {
		return nil
	}
	return db.insertAuthEvent(ctx, x, e)
}

// checkAuthEvent refuses an event the schema would not hold as given.
func (db *DB) checkAuthEvent(op string, e store.AuthEvent) error {
	if err := checkTimes(op, namedTime{"At", e.At}); err != nil {
		return err
	}
	switch {
	case e.Type == "" || len(e.Type) > maxEventType:
		return fmt.Errorf("sqlstore: %s: type must be 1 to %d bytes", op, maxEventType)
	case len(e.Reason) > maxEventReason:
		return fmt.Errorf("sqlstore: %s: reason longer than %d bytes", op, maxEventReason)
	case len(e.IP) > maxEventIP:
		return fmt.Errorf("sqlstore: %s: ip longer than %d bytes", op, maxEventIP)
	case e.Count < 0:
		return fmt.Errorf("sqlstore: %s: negative count", op)
	case len(e.AccountID) > maxEventID || len(e.SessionID) > maxEventID:
		return fmt.Errorf("sqlstore: %s: account or session id longer than %d bytes", op, maxEventID)
	}
	return nil
}

// ListAuthEvents implements store.Store. It returns an empty, non-nil
// slice when nothing matches.
func (db *DB) ListAuthEvents(ctx context.Context, f store.AuthEventFilter) ([]store.AuthEvent, error) {
	const op = "list auth events"
	if f.Limit < 0 {
		return nil, fmt.Errorf("sqlstore: %s: negative limit", op)
	}
	limit := f.Limit
	if limit == 0 {
		limit = store.DefaultAuthEventLimit
	}
	q := `SELECT ` + authEventColumns + ` FROM auth_events WHERE 1 = 1`
	var args []any
	if f.AccountID != "" {
		q += ` AND account_id = ?`
		args = append(args, f.AccountID)
	}
	if !f.Since.IsZero() {
		q += ` AND at >= ?`
		args = append(args, timeArg(db.dialect, f.Since))
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, db.translate(op, err)
	}
	defer rows.Close()
	events := []store.AuthEvent{}
	for rows.Next() {
		var (
			e                  store.AuthEvent
			account, sessionID sql.NullString
			count              sql.NullInt64
		)
		if err := rows.Scan(&e.ID, timeColumn{&e.At}, &e.Type, &e.Reason, &e.IP, &account, &sessionID, &count); err != nil {
			return nil, db.translate(op, err)
		}
		e.AccountID, e.SessionID, e.Count = account.String, sessionID.String, count.Int64
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, db.translate(op, err)
	}
	return events, nil
}

// PruneAuthEvents implements store.Store.
func (db *DB) PruneAuthEvents(ctx context.Context, before time.Time) (int64, error) {
	const op = "prune auth events"
	if err := checkTimes(op, namedTime{"before", before}); err != nil {
		return 0, err
	}
	res, err := db.write.ExecContext(ctx, `DELETE FROM auth_events WHERE at < ?`, timeArg(db.dialect, before))
	if err != nil {
		return 0, db.translate(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.translate(op, err)
	}
	return n, nil
}
