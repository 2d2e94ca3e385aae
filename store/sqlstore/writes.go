package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/accountd/accountd/store"
)

// Retry bounds for writes the database rolled back.
const (
	// writeAttempts is how many times a write is tried before its last
	// error is returned. Conflicting writes through several Galera nodes
	// each lose certification to another one at a time, so a burst on one
	// row needs a few rounds.
	writeAttempts = 10
	// writeBackoff is the first pause between attempts; it doubles each
	// time up to writeMaxBackoff. The pause is random between zero and the
	// current bound, so that writers that collided do not collide again.
	writeBackoff    = 5 * time.Millisecond
	writeMaxBackoff = 200 * time.Millisecond
)

// writer runs every statement that changes data. Each call is one
// transaction, either one statement in autocommit (ExecContext) or a
// function given a *sql.Tx (transact). When the database answers that it
// rolled the transaction back and a new attempt may succeed (a deadlock,
// a Galera certification conflict, a lock wait timeout: see
// dialect.isRetryable), the whole transaction runs again on a fresh
// connection after a short random pause, up to writeAttempts times and
// never past the context's deadline.
//
// A write whose commit was sent but not answered (a broken connection,
// an expired context) is never run again: its error wraps
// store.ErrOutcomeUnknown.
//
// writer has no BeginTx on purpose: a write transaction goes through
// transact, so that it is retried like every other.
type writer struct {
	pool    *sql.DB
	dialect dialect
	// retries counts the attempts after a first one; gaveUp the writes
	// still rolled back at their last attempt.
	retries, gaveUp atomic.Uint64
}

// ExecContext runs one statement as its own transaction.
func (w *writer) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := w.retry(ctx, func() error {
		// An explicit connection separates failing to get one, when
		// nothing was sent, from failing while the statement ran.
		conn, err := w.pool.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err = conn.ExecContext(ctx, query, args...)
		if err != nil && w.dialect.outcomeUnknown(err) {
			return outcomeUnknown(err)
		}
		return err
	})
	return res, err
}

// QueryRowContext runs a read on the write pool, for a read that must
// follow the caller's own write on the same server.
func (w *writer) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return w.pool.QueryRowContext(ctx, query, args...)
}

// transact runs fn in a transaction and commits it. fn may run more than
// once, each time in a fresh transaction; it must not keep state from an
// attempt that failed.
func (w *writer) transact(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return w.retry(ctx, func() error {
		tx, err := w.pool.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(tx); err != nil {
			// Nothing was committed: the server rolls back an open
			// transaction whose connection breaks.
			return err
		}
		err = tx.Commit()
		// database/sql refuses to send COMMIT once the context has
		// ended (it rolls back instead), so a context error here means
		// not applied; anything else from the connection means COMMIT
		// may have reached the server.
		if err != nil && !errors.Is(err, ctx.Err()) && !errors.Is(err, sql.ErrTxDone) && w.dialect.outcomeUnknown(err) {
			return outcomeUnknown(err)
		}
		return err
	})
}

// retry runs attempt until it returns nil or an error the dialect does
// not call retryable, for at most writeAttempts attempts and while the
// next pause ends before ctx's deadline. It returns attempt's last error.
func (w *writer) retry(ctx context.Context, attempt func() error) error {
	bound := writeBackoff
	for n := 1; ; n++ {
		err := attempt()
		if err == nil || !w.retryable(err) {
			return err
		}
		if n == writeAttempts {
			w.gaveUp.Add(1)
			return err
		}
		pause := rand.N(bound + 1)
		bound = min(2*bound, writeMaxBackoff)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < pause {
			w.gaveUp.Add(1)
			return err
		}
		select {
		case <-ctx.Done():
			w.gaveUp.Add(1)
			return err
		case <-time.After(pause):
		}
		w.retries.Add(1)
	}
}

// retryable reports whether err says the transaction did not happen and
// may succeed if run again: the dialect's "rolled back, try again"
// answers, and driver.ErrBadConn, which database/sql's drivers return
// only when nothing was sent (a pooled connection the server had closed).
func (w *writer) retryable(err error) bool {
	return w.dialect.isRetryable(err) || errors.Is(err, driver.ErrBadConn)
}

// RetryStats counts the writes the database rolled back and sqlstore ran
// again. Both counts only grow, from the DB's Open.
type RetryStats struct {
	// Retries is how many attempts were made after a first one.
	Retries uint64
	// GaveUp is how many writes were still rolled back at their last
	// attempt (or when their deadline left no time for another); they
	// failed with an error wrapping store.ErrUnavailable.
	GaveUp uint64
}

// RetryStats returns the counts of retried writes since Open, for a
// server to export as metrics. Safe for concurrent use.
func (db *DB) RetryStats() RetryStats {
	return RetryStats{Retries: db.write.retries.Load(), GaveUp: db.write.gaveUp.Load()}
}

// errOutcomeUnknown marks an error after which a write may or may not
// have been committed.
type errOutcomeUnknown struct{ err error }

func outcomeUnknown(err error) error { return &errOutcomeUnknown{err} }

func (e *errOutcomeUnknown) Error() string {
	return fmt.Sprintf("%v: %v", store.ErrOutcomeUnknown, e.err)
}

// Unwrap makes errors.Is match both store.ErrOutcomeUnknown and the
// cause (a context error, a broken connection).
func (e *errOutcomeUnknown) Unwrap() []error { return []error{store.ErrOutcomeUnknown, e.err} }
