package account

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/accountd/accountd/store"
)

// fakeLog is a revocation log whose entries become visible in an order
// the test chooses, as concurrent transactions commit on MariaDB or on
// the nodes of a Galera cluster: an id can appear after a larger one.
type fakeLog struct {
	mu      sync.Mutex
	visible map[int64]store.Revocation
}

func (l *fakeLog) commit(ids ...int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		l.visible[id] = store.Revocation{ID: id, SessionID: fmt.Sprintf("%032x", id), ExpiresAt: time.Unix(1e9, 0).UTC()}
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
	h.f = newFeed(h.log.list, 25*time.Millisecond, window, func() time.Time { return h.now }, func(rs []store.Revocation) {
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
	if p := h.f.positionLocked(h.now); p != 2 {
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
	if p := h.f.positionLocked(h.now); p != 2 {
		t.Fatalf("position with 3 open = %d, want 2", p)
	}
	// 3 was rolled back: once the window has passed it is no longer
	// waited for, and the position moves past it.
	h.now = h.now.Add(2 * time.Second)
	h.log.commit(6)
	if got := h.step(t); !slices.Equal(got, []int64{6}) {
		t.Fatalf("delivered %v, want [6]", got)
	}
	if p := h.f.positionLocked(h.now); p != 6 {
		t.Fatalf("position after the window = %d, want 6", p)
	}
	if from := h.f.from(h.now); from != 6 {
		t.Fatalf("next read from %d, want 6: a gap past its window must not be read again", from)
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
