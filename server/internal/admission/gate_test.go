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
		return g.patience(g.def, "\x00new", clock.Now())
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

// holdIn is hold for a caller of class c.
func holdIn(c *Class, key string) *holder {
	h := &holder{started: make(chan struct{}), release: make(chan struct{}), err: make(chan error, 1)}
	go func() {
		h.err <- c.Do(context.Background(), key, func() { close(h.started); <-h.release })
	}()
	return h
}

// TestClassesShareSlots: two classes on one gate of 2 slots never hold
// more than 2 between them, each keeps to its own cap and per-key limit,
// a key is a different key in each class, and a freed slot goes to the
// lightest waiter whatever its class.
func TestClassesShareSlots(t *testing.T) {
	t.Parallel()
	g := New(Config{Slots: 2, Wait: time.Minute})
	hash := g.Class("hash", ClassConfig{Max: 2})
	hs := g.Class("handshake", ClassConfig{Max: 1})

	// The same key holds a slot in each class at once.
	h1, k1 := holdIn(hash, "a"), holdIn(hs, "a")
	h1.mustStart(t, "hash a")
	k1.mustStart(t, "handshake a")
	if g.Running() != 2 || hash.Running() != 1 || hs.Running() != 1 {
		t.Fatalf("running %d (hash %d, handshake %d), want 2 (1, 1)", g.Running(), hash.Running(), hs.Running())
	}
	// The gate is full: another class's caller waits although its class
	// holds nothing of its cap.
	h2 := holdIn(hash, "b")
	waitQueued(t, g, 1)
	if hash.Waiting() != 1 || hs.Waiting() != 0 {
		t.Fatalf("waiting hash %d, handshake %d; want 1, 0", hash.Waiting(), hs.Waiting())
	}
	// A handshake frees its slot: the hash waiter takes it.
	k1.mustFinish(t)
	h2.mustStart(t, "hash b after the handshake slot freed")

	// Handshakes are capped at 1: with a slot free, a second handshake
	// still waits for the first, and a hash that comes later takes the
	// free slot past it.
	h1.mustFinish(t)
	k2 := holdIn(hs, "c")
	k2.mustStart(t, "handshake c")
	h2.mustFinish(t)
	k3 := holdIn(hs, "d")
	waitQueued(t, g, 1)
	h3 := holdIn(hash, "e")
	h3.mustStart(t, "hash e, past the capped handshake class")
	k2.mustFinish(t)
	k3.mustStart(t, "handshake d after c")
	h3.mustFinish(t)
	k3.mustFinish(t)
	if g.Running() != 0 || g.Waiting() != 0 {
		t.Fatalf("running %d, waiting %d at the end", g.Running(), g.Waiting())
	}
}

// TestLightestFirstAcrossClasses: when a slot frees, a handshake of a
// key that used the gate little goes before the hashes of keys that
// used it much, and the other way round.
func TestLightestFirstAcrossClasses(t *testing.T) {
	t.Parallel()
	clock := &stoppedClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	g := New(Config{Slots: 1, Wait: time.Minute, Now: clock.Now})
	hash := g.Class("hash", ClassConfig{})
	hs := g.Class("handshake", ClassConfig{})
	for range 5 {
		if err := hash.Do(context.Background(), "heavy", func() {}); err != nil {
			t.Fatal(err)
		}
	}
	running := holdIn(hash, "other")
	running.mustStart(t, "other")
	heavy := holdIn(hash, "heavy")
	waitQueued(t, g, 1)
	light := holdIn(hs, "heavy") // the same IP, but its first handshake
	waitQueued(t, g, 2)
	running.mustFinish(t)
	light.mustStart(t, "the light handshake")
	select {
	case <-heavy.started:
		t.Fatal("the heavy key's hash ran before the light handshake")
	default:
	}
	light.mustFinish(t)
	heavy.mustStart(t, "the heavy hash")
	heavy.mustFinish(t)
}

// TestWeightedClassWaitsForRoom: a caller that takes both slots waits
// until both are free, and while it waits the slots that free are kept
// for it rather than given to heavier callers of a lighter class.
func TestWeightedClassWaitsForRoom(t *testing.T) {
	t.Parallel()
	clock := &stoppedClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	g := New(Config{Slots: 2, Wait: time.Minute, Now: clock.Now})
	hash := g.Class("hash", ClassConfig{Weight: 2, Max: 8})
	hs := g.Class("handshake", ClassConfig{})
	if hash.cfg.Max != 1 {
		t.Fatalf("a class of weight 2 on 2 slots runs %d at once, want 1", hash.cfg.Max)
	}
	for range 5 {
		if err := hs.Do(context.Background(), "flood", func() {}); err != nil {
			t.Fatal(err)
		}
	}
	a, b := holdIn(hs, "a"), holdIn(hs, "b")
	a.mustStart(t, "handshake a")
	b.mustStart(t, "handshake b")
	light := holdIn(hash, "light")
	waitQueued(t, g, 1)
	a.mustFinish(t)
	// One slot is free, but the hash needs two: it is kept, and a
	// heavier key's handshake waits behind the hash.
	heavy := holdIn(hs, "flood")
	waitQueued(t, g, 2)
	if g.Running() != 1 {
		t.Fatalf("running %d slots, want 1 (the free one kept for the hash)", g.Running())
	}
	b.mustFinish(t)
	light.mustStart(t, "the hash, once both slots were free")
	if g.Running() != 2 {
		t.Fatalf("running %d slots with the hash in, want 2", g.Running())
	}
	light.mustFinish(t)
	heavy.mustStart(t, "the heavy handshake after the hash")
	heavy.mustFinish(t)
}
