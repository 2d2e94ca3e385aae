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
// statement and a commit each. It adds no wait: the first caller writes
// its event at once; callers arriving while a write is under way join
// the next batch, which the first of them writes when the current one
// has ended. Each caller returns when its own row is committed (or has
// failed with the rest of its batch).
type eventBatcher struct {
	mu      sync.Mutex
	writing bool
	next    *eventBatch
}

type eventBatch struct {
	events []store.AuthEvent
	// turn is closed when the batch's leader (its first caller) may
	// write it.
	turn chan struct{}
	// done is closed when the batch is written, with err set.
	done chan struct{}
	err  error
}

// addBatched appends e through a batch and returns once it is written.
func (db *DB) addBatched(ctx context.Context, e store.AuthEvent) error {
	b := &db.events
	b.mu.Lock()
	if !b.writing {
		b.writing = true
		b.mu.Unlock()
		batch := &eventBatch{events: []store.AuthEvent{e}, done: make(chan struct{})}
		db.writeBatch(ctx, batch)
		return batch.err
	}
	batch, leader := b.next, false
	switch {
	case batch == nil:
		batch = &eventBatch{turn: make(chan struct{}), done: make(chan struct{})}
		b.next, leader = batch, true
	case len(batch.events) >= maxEventBatch:
		b.mu.Unlock()
		return db.insertAuthEvent(ctx, db.write, e)
	}
	batch.events = append(batch.events, e)
	b.mu.Unlock()
	if leader {
		<-batch.turn
		b.mu.Lock()
		b.next = nil
		b.mu.Unlock()
		db.writeBatch(ctx, batch)
		return batch.err
	}
	select {
	case <-batch.done:
		return batch.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeBatch writes batch, wakes its callers, and hands the writing on to
// the next batch's leader.
func (db *DB) writeBatch(ctx context.Context, batch *eventBatch) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventBatchTimeout)
	batch.err = db.insertAuthEvents(wctx, batch.events)
	cancel()
	close(batch.done)
	b := &db.events
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next != nil {
		close(b.next.turn)
		return
	}
	b.writing = false
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
