package admission

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// stoppedClock is a clock that moves only when the test says.
type stoppedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stoppedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stoppedClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// holder runs a caller of key that holds its slot until released.
type holder struct {
	started, release chan struct{}
	err              chan error
}

func hold(g *Gate, key string) *holder {
	h := &holder{started: make(chan struct{}), release: make(chan struct{}), err: make(chan error, 1)}
	go func() {
		h.err <- g.Do(context.Background(), key, func() { close(h.started); <-h.release })
	}()
	return h
}

func (h *holder) mustStart(t *testing.T, what string) {
	t.Helper()
	select {
	case <-h.started:
	case err := <-h.err:
		t.Fatalf("%s: refused: %v", what, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not admitted within 10s", what)
	}
}

func (h *holder) mustFinish(t *testing.T) {
	t.Helper()
	close(h.release)
	if err := <-h.err; err != nil {
		t.Fatal(err)
	}
}

// waitQueued waits until n callers wait.
func waitQueued(t *testing.T, g *Gate, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); g.Waiting() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("waiting = %d, want %d", g.Waiting(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestOneSlotOneQueuePlacePerKey: a key runs at most once at a time even
// with slots free, waits at most once, and is refused at once beyond
// that; another key takes the free slot.
func TestOneSlotOneQueuePlacePerKey(t *testing.T) {
	t.Parallel()
	g := New(Config{Slots: 2, Wait: time.Minute})
	a1 := hold(g, "a")
	a1.mustStart(t, "a's first caller")
	a2 := hold(g, "a")
	waitQueued(t, g, 1)
	if err := g.Do(context.Background(), "a", func() { t.Error("a third caller of one key ran") }); !errors.Is(err, ErrBusy) {
		t.Fatalf("a's third caller: %v, want ErrBusy at once", err)
	}
	b := hold(g, "b")
	b.mustStart(t, "b, with a slot free")
	if got := g.Running(); got != 2 {
		t.Fatalf("running = %d, want 2 (a and b)", got)
	}
	a1.mustFinish(t)
	a2.mustStart(t, "a's second caller after its first")
	a2.mustFinish(t)
	b.mustFinish(t)
	if g.Running() != 0 || g.Waiting() != 0 || g.Refusals() != 1 {
		t.Fatalf("after: running %d, waiting %d, refusals %d; want 0, 0, 1", g.Running(), g.Waiting(), g.Refusals())
	}
}

// TestLightKeyGoesFirst: with the gate's one slot taken and 49 keys that
// have each used it waiting, a key that has not used it lately is
// admitted at the next free slot, ahead of all 49.
func TestLightKeyGoesFirst(t *testing.T) {
	t.Parallel()
	clock := &stoppedClock{t: time.Unix(1e9, 0)}
	g := New(Config{Slots: 1, Wait: time.Minute, Now: clock.Now})
	const attackers = 49
	for i := range attackers {
		h := hold(g, fmt.Sprint("attacker", i))
		h.mustStart(t, "attacker's first")
		h.mustFinish(t)
	}
	clock.Advance(time.Second)
	running := hold(g, "attacker0")
	running.mustStart(t, "attacker0 again")
	var order []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	enqueue := func(key string) {
		wg.Go(func() {
			if err := g.Do(context.Background(), key, func() { mu.Lock(); order = append(order, key); mu.Unlock() }); err != nil {
				t.Errorf("%s: %v", key, err)
			}
		})
	}
	for i := 1; i < attackers; i++ {
		enqueue(fmt.Sprint("attacker", i))
		waitQueued(t, g, i)
	}
	enqueue("legitimate")
	waitQueued(t, g, attackers)
	running.mustFinish(t)
	wg.Wait()
	if len(order) != attackers || order[0] != "legitimate" {
		pos := -1
		for i, k := range order {
			if k == "legitimate" {
				pos = i
			}
		}
		t.Fatalf("the legitimate key was admitted at position %d of %d (want 0, next after the running caller)", pos, len(order))
	}
	// The others keep their arrival order among equals.
	for i, k := range order[1:] {
		if want := fmt.Sprint("attacker", i+1); k != want {
			t.Fatalf("position %d: %s, want %s", i+1, k, want)
		}
	}
}

// TestWaitBoundAndCancel: a waiter gets ErrBusy after the wait, or ctx's
// error, and leaves no trace in the queue.
func TestWaitBoundAndCancel(t *testing.T) {
	t.Parallel()
	g := New(Config{Slots: 1, Wait: 50 * time.Millisecond})
	h := hold(g, "a")
	h.mustStart(t, "a")
	if err := g.Do(context.Background(), "b", func() { t.Error("ran past the bound") }); !errors.Is(err, ErrBusy) {
		t.Fatalf("b: %v, want ErrBusy after the wait", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Do(ctx, "c", func() { t.Error("ran cancelled") }); !errors.Is(err, context.Canceled) {
		t.Fatalf("c: %v, want context.Canceled", err)
	}
	h.mustFinish(t)
	if g.Running() != 0 || g.Waiting() != 0 {
		t.Fatalf("after: running %d, waiting %d", g.Running(), g.Waiting())
	}
	if err := g.Do(context.Background(), "b", func() {}); err != nil {
		t.Fatalf("b again: %v", err)
	}
}

// TestFullQueueLightKeyDisplacesHeaviest: in a full queue, a key that has
// not used the gate takes the place of the heaviest waiter, which is
// refused; a key as heavy as the heaviest is refused itself.
func TestFullQueueLightKeyDisplacesHeaviest(t *testing.T) {
	t.Parallel()
	clock := &stoppedClock{t: time.Unix(1e9, 0)}
	g := New(Config{Slots: 1, Wait: time.Minute, MaxQueue: 2, Now: clock.Now})
	for _, k := range []string{"heavy", "heavy", "medium", "other"} {
		h := hold(g, k)
		h.mustStart(t, k)
		h.mustFinish(t)
	}
	running := hold(g, "other")
	running.mustStart(t, "other")
	heavy := make(chan error, 1)
	go func() { heavy <- g.Do(context.Background(), "heavy", func() {}) }()
	waitQueued(t, g, 1)
	medium := make(chan error, 1)
	go func() { medium <- g.Do(context.Background(), "medium", func() {}) }()
	waitQueued(t, g, 2)
	light := make(chan error, 1)
	go func() { light <- g.Do(context.Background(), "light", func() {}) }()
	if err := <-heavy; !errors.Is(err, ErrBusy) {
		t.Fatalf("heaviest waiter: %v, want ErrBusy when a light key needs its place", err)
	}
	waitQueued(t, g, 2)
	if err := g.Do(context.Background(), "other", func() {}); !errors.Is(err, ErrBusy) {
		t.Fatalf("a key heavier than every waiter, queue full: %v, want ErrBusy", err)
	}
	running.mustFinish(t)
	for name, ch := range map[string]chan error{"light": light, "medium": medium} {
		if err := <-ch; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestWaitSizedFromRate: a waiter waits the gate's wait plus the wait
// its place in the queue should take at the rate slots were held, that
// part counted up to the gate's wait.
func TestWaitSizedFromRate(t *testing.T) {
	t.Parallel()
	clock := &stoppedClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	g := New(Config{Slots: 2, Wait: 10 * time.Second, Now: clock.Now})
	patience := func() time.Duration {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.patience("new", clock.Now())
	}
	if p := patience(); p != 10*time.Second {
		t.Fatalf("before any slot was held: %v, want the wait, 10s", p)
	}
	// One use of a slot, 4 s long: with 2 slots, a caller is expected
	// to wait 2 s per place.
	if err := g.Do(context.Background(), "x", func() { clock.Advance(4 * time.Second) }); err != nil {
		t.Fatal(err)
	}
	a, b := hold(g, "a"), hold(g, "b")
	a.mustStart(t, "a")
	b.mustStart(t, "b")
	if p := patience(); p != 12*time.Second {
		t.Fatalf("first in the queue: %v, want 10s + 2s", p)
	}
	var queued []*holder
	for i := range 6 {
		queued = append(queued, hold(g, fmt.Sprint("q", i)))
		waitQueued(t, g, i+1)
	}
	if p := patience(); p != 20*time.Second {
		t.Fatalf("seventh in the queue: %v, want 10s + 10s (14s expected, counted up to the wait)", p)
	}
	a.mustFinish(t)
	b.mustFinish(t)
	for i, q := range queued {
		q.mustStart(t, fmt.Sprint("q", i))
		q.mustFinish(t)
	}
	if g.Running() != 0 || g.Waiting() != 0 {
		t.Fatalf("after: running %d, waiting %d", g.Running(), g.Waiting())
	}
}

// TestOneKeyInOrder: the waiters of one key get slots in their order of
// arrival, however the key's usage decayed between their arrivals.
func TestOneKeyInOrder(t *testing.T) {
	t.Parallel()
	clock := &stoppedClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	g := New(Config{Slots: 1, Wait: time.Minute, PerKey: 4, Now: clock.Now})
	first := hold(g, "k")
	first.mustStart(t, "first")
	var waiters []*holder
	for i := range 3 {
		waiters = append(waiters, hold(g, "k"))
		waitQueued(t, g, i+1)
		clock.Advance(time.Minute) // the key's usage halves
	}
	first.mustFinish(t)
	for i, w := range waiters {
		for j, other := range waiters[i+1:] {
			select {
			case <-other.started:
				t.Fatalf("waiter %d started before waiter %d", i+j+1, i)
			default:
			}
		}
		w.mustStart(t, fmt.Sprint("waiter ", i))
		w.mustFinish(t)
	}
}
