package account

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// fakeLog is a revocation log whose entries become visible in an order
// the test chooses, as concurrent transactions commit on MariaDB or on
// the nodes of a Galera cluster: an id can appear after a larger one.
type fakeLog struct {
	mu      sync.Mutex
	visible map[int64]store.Revocation
	at      time.Time // the RevokedAt of the entries committed next
}

func (l *fakeLog) commit(ids ...int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		l.visible[id] = store.Revocation{ID: id, SessionID: fmt.Sprintf("%032x", id), ExpiresAt: time.Unix(1e9, 0).UTC(), RevokedAt: l.at}
	}
}

func (l *fakeLog) list(_ context.Context, after int64, limit int) ([]store.Revocation, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []store.Revocation
	for id, r := range l.visible {
		if id > after {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b store.Revocation) int { return int(a.ID - b.ID) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

type feedHarness struct {
	log       *fakeLog
	f         *feed
	now       time.Time
	delivered []int64
}

func newFeedHarness(t *testing.T, window time.Duration) *feedHarness {
	h := &feedHarness{log: &fakeLog{visible: map[int64]store.Revocation{}}, now: time.Unix(2e9, 0)}
	h.f = newFeed(h.log.list, 25*time.Millisecond, window, func() time.Time { return h.now }, func() time.Time { return h.now }, func(rs []store.Revocation) {
		for _, r := range rs {
			h.delivered = append(h.delivered, r.ID)
		}
	})
	return h
}

func (h *feedHarness) step(t *testing.T) []int64 {
	t.Helper()
	before := len(h.delivered)
	if err := h.f.step(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h.delivered[before:]
}

// TestFeedLateCommit: an id that commits after a larger one was read is
// still delivered, once, as long as it commits within the window; the
// position a watcher may resume from never passes a gap still waited
// for.
func TestFeedLateCommit(t *testing.T) {
	t.Parallel()
	h := newFeedHarness(t, 10*time.Second)
	h.log.commit(1, 2)
	if got := h.step(t); len(got) != 0 {
		t.Fatalf("first read delivered %v; it only finds the start", got)
	}
	// 3 and 4 are open; 5 commits first.
	h.log.commit(5)
	if got := h.step(t); !slices.Equal(got, []int64{5}) {
		t.Fatalf("delivered %v, want [5]", got)
	}
	if p := h.f.positionLocked(); p != 2 {
		t.Fatalf("position with 3 and 4 open = %d, want 2", p)
	}
	h.now = h.now.Add(9 * time.Second)
	h.log.commit(4)
	if got := h.step(t); !slices.Equal(got, []int64{4}) {
		t.Fatalf("late commit: delivered %v, want [4]", got)
	}
	if got := h.step(t); len(got) != 0 {
		t.Fatalf("a read with nothing new delivered %v", got)
	}
	if p := h.f.positionLocked(); p != 2 {
		t.Fatalf("position with 3 open = %d, want 2", p)
	}
	// 3 was rolled back: once the window has passed it is no longer
	// waited for, and the position moves past it.
	h.now = h.now.Add(2 * time.Second)
	h.log.commit(6)
	if got := h.step(t); !slices.Equal(got, []int64{6}) {
		t.Fatalf("delivered %v, want [6]", got)
	}
	if p := h.f.positionLocked(); p != 6 {
		t.Fatalf("position after the window = %d, want 6", p)
	}
	if from := h.f.from(h.now); from != 6 {
		t.Fatalf("next read from %d, want 6: a gap past its window must not be read again", from)
	}
}

// TestFeedStartsAmidLateCommits: an instance that starts while an id
// below a recent entry is still open delivers it when it commits; gaps
// between old entries are not waited for.
func TestFeedStartsAmidLateCommits(t *testing.T) {
	t.Parallel()
	h := newFeedHarness(t, 10*time.Second)
	h.log.at = h.now.Add(-time.Hour)
	h.log.commit(1, 3)
	h.log.at = h.now
	h.log.commit(6)
	if got := h.step(t); len(got) != 0 {
		t.Fatalf("first read delivered %v", got)
	}
	if from := h.f.from(h.now); from != 3 {
		t.Fatalf("next read from %d, want 3: only the gap below the recent entry 6 is waited for", from)
	}
	h.log.commit(5)
	if got := h.step(t); !slices.Equal(got, []int64{5}) {
		t.Fatalf("delivered %v, want [5]", got)
	}
}

// TestFeedLost: the feed counts as current only while its last
// successful read is at most feedLostAfter polls old.
func TestFeedLost(t *testing.T) {
	t.Parallel()
	h := newFeedHarness(t, time.Second)
	if h.f.current() {
		t.Fatal("current before the first read")
	}
	h.step(t)
	if !h.f.current() {
		t.Fatal("not current right after a read")
	}
	h.now = h.now.Add(feedLostAfter * h.f.poll)
	if !h.f.current() {
		t.Fatal("not current at the bound")
	}
	h.now = h.now.Add(time.Millisecond)
	if h.f.current() {
		t.Fatal("current past the bound")
	}
}

// TestFeedGaleraOffsets: ids handed out by two nodes (odd and even), with
// one node's commits arriving later than the other's, are all delivered.
func TestFeedGaleraOffsets(t *testing.T) {
	t.Parallel()
	h := newFeedHarness(t, 10*time.Second)
	h.step(t)
	h.log.commit(2, 4, 6)
	h.step(t)
	h.log.commit(1, 3, 5, 8)
	h.log.commit(7)
	got := h.step(t)
	slices.Sort(got)
	if want := []int64{1, 3, 5, 7, 8}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if all := slices.Sorted(slices.Values(h.delivered)); !slices.Equal(all, []int64{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("delivered in all %v, want each of 1..8 once", all)
	}
}

// TestFeedPaging: more entries than one page are all delivered.
func TestFeedPaging(t *testing.T) {
	t.Parallel()
	h := newFeedHarness(t, time.Second)
	h.step(t)
	var ids []int64
	for i := int64(1); i <= 2*revocationPage+5; i++ {
		ids = append(ids, i)
	}
	h.log.commit(ids...)
	if got := h.step(t); len(got) != len(ids) {
		t.Fatalf("delivered %d entries, want %d", len(got), len(ids))
	}
}

// TestWatchCatchUpAndPosition: a watch gets the log past its position
// first, then what the feed delivers; its position never passes an
// entry it was not given.
func TestWatchCatchUpAndPosition(t *testing.T) {
	t.Parallel()
	h := newFeedHarness(t, 10*time.Second)
	h.log.commit(1, 2, 3)
	h.step(t)
	w, err := h.f.subscribe(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := w.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Revoked) != 2 || p.Revoked[0].SessionID != fmt.Sprintf("%032x", 2) || p.Position != 3 {
		t.Fatalf("catch-up = %+v, want sessions 2 and 3 at position 3", p)
	}
	h.log.commit(5)
	h.step(t)
	p, err = w.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Revoked) != 1 || p.Position != 3 {
		t.Fatalf("push with 4 open = %+v, want session 5 at position 3", p)
	}
	h.log.commit(4)
	h.step(t)
	if p, err = w.Next(ctx); err != nil || p.Position != 5 {
		t.Fatalf("push after 4 committed = %+v, %v; want position 5", p, err)
	}
}

// TestFeedLateCommitMariaDB: on MariaDB an id is handed out when its
// transaction inserts, not when it commits, so the log shows a larger id
// before a smaller one; a follower that read only past the largest id
// would never see the smaller. The feed does.
func TestFeedLateCommitMariaDB(t *testing.T) {
	t.Parallel()
	dsn := sqltest.MySQLDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := sqlstore.Open(ctx, sqlstore.MySQL, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	var delivered []string
	f := newFeed(st.ListRevocations, 25*time.Millisecond, 10*time.Second, time.Now, time.Now, func(rs []store.Revocation) {
		for _, r := range rs {
			delivered = append(delivered, r.SessionID)
		}
	})
	step := func() []string {
		t.Helper()
		before := len(delivered)
		if err := f.step(ctx); err != nil {
			t.Fatal(err)
		}
		return delivered[before:]
	}
	step()

	now := time.Now().UTC().Truncate(time.Microsecond)
	a := store.Account{ID: fmt.Sprintf("%032x", 1), Username: "alice", PasswordHash: "$argon2id$x", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateAccount(ctx, a, store.AuthEvent{}); err != nil {
		t.Fatal(err)
	}
	sess := store.Session{ID: fmt.Sprintf("%032x", 2), AccountID: a.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := st.CreateSession(ctx, sess, store.AuthEvent{}); err != nil {
		t.Fatal(err)
	}
	// A revocation whose transaction takes the next id and stays open.
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	early := fmt.Sprintf("%032x", 3)
	if _, err := tx.ExecContext(ctx, `INSERT INTO revocations (session_id, expires_at, revoked_at) VALUES (?, ?, ?)`, early, now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	// A later revocation commits first, with a larger id.
	if err := st.RevokeSession(ctx, a.ID, sess.ID, store.AuthEvent{At: now}); err != nil {
		t.Fatal(err)
	}
	log, err := st.ListRevocations(ctx, 0, 10)
	if err != nil || len(log) != 1 || log[0].SessionID != sess.ID {
		t.Fatalf("log with one transaction open = %+v, %v; want only %s", log, err, sess.ID)
	}
	if got := step(); !slices.Equal(got, []string{sess.ID}) {
		t.Fatalf("delivered %v, want [%s]", got, sess.ID)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if past, err := st.ListRevocations(ctx, log[0].ID, 10); err != nil || len(past) != 0 {
		t.Fatalf("entries past the largest id = %+v, %v; want none (this is the skip the feed must avoid)", past, err)
	}
	if got := step(); !slices.Equal(got, []string{early}) {
		t.Fatalf("after the late commit: delivered %v, want [%s]", got, early)
	}
	if got := step(); len(got) != 0 {
		t.Fatalf("a read with nothing new delivered %v", got)
	}
}
