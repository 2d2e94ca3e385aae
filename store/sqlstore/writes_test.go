package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestMySQLNotGalera checks that on MariaDB without Galera the store
// leaves wsrep_sync_wait at its default.
func TestMySQLNotGalera(t *testing.T) {
	t.Parallel()
	db := sqltest.NewMySQL(t)
	if v, err := sqlstore.SessionSyncWait(ctxFor(t), db); err != nil || v != "0" {
		t.Errorf("wsrep_sync_wait = %q, %v; want 0 (unchanged)", v, err)
	}
}

// TestMySQLRetryLockWait holds the lock on an account's row past the
// server's lock wait timeout (1 s here), so that the first attempt of
// RecordLoginFailure fails with 1205, and releases it only once the store
// has retried: the call must succeed and count once.
func TestMySQLRetryLockWait(t *testing.T) {
	t.Parallel()
	cfg, err := mysql.ParseDSN(sqltest.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Params = map[string]string{"innodb_lock_wait_timeout": "1"}
	db := mustOpen(t, sqlstore.MySQL, cfg.FormatDSN())
	if err := db.Migrate(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	a := galeraAccount(t, time.Now())
	if err := db.CreateAccount(ctxFor(t), a, store.AuthEvent{}); err != nil {
		t.Fatal(err)
	}

	holder, err := rawDB(t, cfg.FormatDSN()).BeginTx(ctxFor(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctxFor(t), "SELECT id FROM accounts WHERE id = ? FOR UPDATE", a.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := db.RecordLoginFailure(ctxFor(t), store.AuthEvent{At: time.Now(), Type: store.EventLoginFailed, AccountID: a.ID})
		done <- err
	}()
	for db.RetryStats().Retries == 0 {
		select {
		case err := <-done:
			t.Fatalf("RecordLoginFailure returned %v while the row was locked, before any retry", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("RecordLoginFailure after a lock wait timeout: %v", err)
	}
	got, err := db.GetAccount(ctxFor(t), a.ID)
	if err != nil || got.Failures.Count != 1 {
		t.Errorf("failed-login count %d, %v; want 1", got.Failures.Count, err)
	}
	if s := db.RetryStats(); s.GaveUp != 0 {
		t.Errorf("RetryStats = %+v, want GaveUp 0", s)
	}
}

// TestMySQLOutcomeUnknown freezes a private mariadbd after the store sent
// a write: the deadline passes with no answer, and the write must be
// reported as store.ErrOutcomeUnknown (it may yet be applied), not as not
// applied. A write whose deadline passed before it was sent is not.
func TestMySQLOutcomeUnknown(t *testing.T) {
	t.Parallel()
	m := sqltest.StartMariaDB(t)
	dsn := m.CreateDatabase(t)
	db := mustOpen(t, sqlstore.MySQL, dsn)
	if err := db.Migrate(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	cancel()
	err := db.CreateAccount(expired, galeraAccount(t, time.Now()), store.AuthEvent{})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, store.ErrOutcomeUnknown) {
		t.Errorf("CreateAccount with an expired context = %v, want context.DeadlineExceeded and not store.ErrOutcomeUnknown", err)
	}

	// An idle connection in the pool, so that the write is sent at once.
	if err := db.Ping(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	m.Pause()
	defer m.Resume()
	// The pause is a signal: make sure the server stopped answering (a
	// ping from a pool of its own, which leaves db's idle connection be)
	// before the write is sent.
	probe := rawDB(t, dsn)
	for deadline := time.Now().Add(30 * time.Second); ; {
		pctx, pcancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		err := probe.PingContext(pctx)
		pcancel()
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the paused server still answers")
		}
	}
	// The frozen server never answers, so the write always ends at this
	// deadline; it is long enough that a loaded machine still sends the
	// write before it (the outcome is unknown only once it was sent).
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err = db.CreateAccount(ctx, galeraAccount(t, time.Now()), store.AuthEvent{})
	if !errors.Is(err, store.ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CreateAccount on a frozen server = %v, want store.ErrOutcomeUnknown and context.DeadlineExceeded", err)
	}
	m.Resume()
	if err := db.Ping(ctxFor(t)); err != nil {
		t.Errorf("Ping after the server resumed: %v", err)
	}
}
