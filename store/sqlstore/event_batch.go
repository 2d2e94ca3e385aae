package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"time"

	"github.com/accountd/accountd/store"
)

// maxEventBatch bounds the rows of one batched INSERT (7 placeholders a
// row, well under both databases' limits).
const maxEventBatch = 512

// eventBatchTimeout bounds the write of a batch: it is written for every
// caller in it, so no one caller's context may cut it short.
const eventBatchTimeout = 30 * time.Second

// eventBatcher groups the audit events that callers append at the same
// time into one INSERT, one commit: under load the audit row that some
// operations write alone (a refresh, a refusal) would otherwise cost a
// statement and a commit each. It adds no wait: a write starts as soon
// as an event comes and none is under way; events that come during a
// write go in the next one. Each caller returns when its own row is
// committed (or has failed with the rest of its batch), or when its
// context ends.
type eventBatcher struct {
	mu      sync.Mutex
	writing bool
	next    *eventBatch
}

type eventBatch struct {
	events []store.AuthEvent
	// done is closed when the batch is written, with err set.
	done chan struct{}
	err  error
}

// addBatched appends e through a batch and returns once it is written.
func (db *DB) addBatched(ctx context.Context, e store.AuthEvent) error {
	b := &db.events
	b.mu.Lock()
	if b.next == nil {
		b.next = &eventBatch{done: make(chan struct{})}
	}
	batch := b.next
	if len(batch.events) >= maxEventBatch {
		b.mu.Unlock()
		return db.insertAuthEvent(ctx, db.write, e)
	}
	batch.events = append(batch.events, e)
	if !b.writing {
		b.writing = true
		go db.writeEvents()
	}
	b.mu.Unlock()
	select {
	case <-batch.done:
		return batch.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeEvents writes the waiting batches one after the other, until none
// is left. Its writes are bounded by eventBatchTimeout, not by any one
// caller's context: a batch is written for all of its callers.
func (db *DB) writeEvents() {
	b := &db.events
	for {
		b.mu.Lock()
		batch := b.next
		if batch == nil {
			b.writing = false
			b.mu.Unlock()
			return
		}
		b.next = nil
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), eventBatchTimeout)
		batch.err = db.insertAuthEvents(ctx, batch.events)
		cancel()
		close(batch.done)
	}
}

// insertAuthEvents appends events in one statement.
func (db *DB) insertAuthEvents(ctx context.Context, events []store.AuthEvent) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO auth_events (at, type, reason, ip, account_id, session_id, count) VALUES `)
	args := make([]any, 0, 7*len(events))
	for i, e := range events {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?)")
		args = append(args, timeArg(db.dialect, e.At), e.Type, e.Reason, e.IP, nullIfEmpty(e.AccountID), nullIfEmpty(e.SessionID), sql.NullInt64{Int64: e.Count, Valid: e.Count > 0})
	}
	_, err := db.write.ExecContext(ctx, q.String(), args...)
	return err
}
