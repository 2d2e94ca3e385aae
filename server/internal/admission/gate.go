package admission

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"
)

// ErrBusy is returned by Gate.Do when the caller's key already waits, when
// the queue is full of keys that used the gate less, or when no slot
// freed within the wait.
var ErrBusy = errors.New("admission: busy")

// Config configures a Gate. Zero fields take the default documented on
// each, except Slots and Wait, which are required.
type Config struct {
	// Slots is how many callers run at once. Required.
	Slots int
	// Wait is how long a caller waits for a slot beyond the wait the
	// gate expects for it: for each caller ahead of it in the queue, and
	// itself, the mean time a caller of that one's class holds its
	// slots, over how many of that class run at once, counted up to
	// Wait. A caller thus waits
	// at most twice Wait, and a queue the gate drains at its measured
	// rate within Wait is served whole, however the rate dips. Required.
	Wait time.Duration
	// PerKey is how many slots one key may hold at once, and how many
	// queue places besides. Default 1.
	PerKey int
	// HalfLife is how fast a key's usage is forgotten: a slot used
	// HalfLife ago counts half. It must be long beside the time a
	// flooding key waits between two slots, or every key looks alike.
	// Default 1 min.
	HalfLife time.Duration
	// MaxQueue bounds the waiters (one per key). When it is full, a
	// newcomer whose key used the gate less than the heaviest waiter's
	// takes that waiter's place; otherwise the newcomer is refused.
	// Default 4096.
	MaxQueue int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Gate admits callers to a fixed number of slots, fairly across keys.
type Gate struct {
	cfg Config
	def *Class

	mu      sync.Mutex
	running int
	queue   []*waiter
	keys    map[string]*keyState
	seq     uint64
	swept   time.Time
}

// ClassConfig configures a Class. Zero fields take the gate's.
type ClassConfig struct {
	// Max is how many callers of the class may run at once. Default: as
	// many as the gate's slots hold.
	Max int
	// Weight is how many of the gate's slots each caller takes: the
	// cores a password hash keeps busy with its lanes. Default 1; at
	// most the gate's slots.
	Weight int
	// Wait is the class's Config.Wait.
	Wait time.Duration
	// PerKey is the class's Config.PerKey.
	PerKey int
}

// Class is one kind of work sharing a gate's slots with the others: a
// hash and a handshake decryption each take a core, so both count
// against one number of slots. A key's usage, slot and queue place are
// its own in each class; waiters of all classes are served lightest key
// first.
type Class struct {
	g    *Gate
	cfg  ClassConfig
	name string
	// Guarded by g.mu.
	running  int
	refusals uint64
	// hold is the mean time a caller of the class holds its slots
	// (exponentially weighted), 0 until one has.
	hold time.Duration
}

// keyState is what the gate remembers of a key: whether it runs or waits
// now, and its usage (slots taken, decayed) as of at.
type keyState struct {
	running, queued int
	usage           float64
	at              time.Time
}

type waiter struct {
	class *Class
	// key is the caller's key qualified by its class.
	key string
	seq uint64
	// done receives nil when the waiter was given a slot, ErrBusy when it
	// lost its place.
	done chan error
}

// maxIdleKeys is how many keys with no caller the gate remembers before
// it forgets those whose usage has decayed to nearly nothing.
const maxIdleKeys = 1 << 16

// New returns a Gate.
func New(cfg Config) *Gate {
	if cfg.HalfLife <= 0 {
		cfg.HalfLife = time.Minute
	}
	if cfg.PerKey <= 0 {
		cfg.PerKey = 1
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 4096
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Gate{cfg: cfg, keys: make(map[string]*keyState)}
	g.def = g.Class("", ClassConfig{})
	return g
}

// Class returns a new class of work on g's slots. Its name sets its keys
// apart from other classes'; each class needs its own.
func (g *Gate) Class(name string, cfg ClassConfig) *Class {
	if cfg.Weight <= 0 {
		cfg.Weight = 1
	}
	cfg.Weight = min(cfg.Weight, g.cfg.Slots)
	if fit := g.cfg.Slots / cfg.Weight; cfg.Max <= 0 || cfg.Max > fit {
		cfg.Max = fit
	}
	if cfg.Wait <= 0 {
		cfg.Wait = g.cfg.Wait
	}
	if cfg.PerKey <= 0 {
		cfg.PerKey = g.cfg.PerKey
	}
	return &Class{g: g, cfg: cfg, name: name}
}

// Do runs f in a slot for key in the gate's default class.
func (g *Gate) Do(ctx context.Context, key string, f func()) error { return g.def.Do(ctx, key, f) }

// Do runs f in a slot for key. It returns ErrBusy when the key already
// has a caller of this class waiting, when the queue is full of lighter
// keys, or when no slot came within the class's wait; ctx's error when
// ctx ends first.
func (c *Class) Do(ctx context.Context, key string, f func()) error {
	key = c.name + "\x00" + key
	if err := c.g.acquire(ctx, c, key); err != nil {
		return err
	}
	start := c.g.cfg.Now()
	defer func() { c.g.release(c, key, c.g.cfg.Now().Sub(start)) }()
	f()
	return nil
}

// patience is how long a newcomer of key in class c waits for a slot:
// the class's Wait, plus the wait the gate expects for it at its
// measured rate (for the waiters it would wait behind, and itself, each
// one's class's mean hold over the callers of that class that run at
// once) up to that Wait. Caller holds g.mu.
func (g *Gate) patience(c *Class, key string, now time.Time) time.Duration {
	mine := g.usage(key, now)
	expected := c.turn()
	for _, w := range g.queue {
		// Waiters of lighter keys go first, and of as heavy ones (its
		// own key's among them) in order of arrival.
		if g.usage(w.key, now) <= mine {
			expected += w.class.turn()
		}
	}
	return c.cfg.Wait + min(expected, c.cfg.Wait)
}

// turn is how much a caller of c adds to the wait of those behind it: the
// class's mean hold over how many of its callers run at once. Caller
// holds g.mu.
func (c *Class) turn() time.Duration { return c.hold / time.Duration(c.cfg.Max) }

// usage is key's usage decayed to now. Waiters are ordered by their
// key's usage now, not when they came, so that the waiters of one key
// keep their order of arrival. Caller holds g.mu.
func (g *Gate) usage(key string, now time.Time) float64 { return g.state(key, now).usage }

// before reports whether waiter a goes before waiter b at now: the
// lighter key first, then the earlier arrival. Caller holds g.mu.
func (g *Gate) before(a, b *waiter, now time.Time) bool {
	ua, ub := g.usage(a.key, now), g.usage(b.key, now)
	return ua < ub || (ua == ub && a.seq < b.seq)
}

func (g *Gate) acquire(ctx context.Context, c *Class, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	g.mu.Lock()
	now := g.cfg.Now()
	ks := g.state(key, now)
	if ks.queued >= c.cfg.PerKey {
		c.refusals++
		g.mu.Unlock()
		return ErrBusy
	}
	// A free slot is the newcomer's unless a waiter that may run is owed
	// it: one waits for more slots to free (its weight).
	if g.mayRun(c, ks) && g.running+c.cfg.Weight <= g.cfg.Slots && !g.anyMayRun() {
		g.start(c, ks)
		g.mu.Unlock()
		return nil
	}
	w := &waiter{class: c, key: key, seq: g.seq, done: make(chan error, 1)}
	patience := g.patience(c, key, now)
	g.seq++
	if len(g.queue) >= g.cfg.MaxQueue {
		i := g.heaviest(now)
		if g.usage(g.queue[i].key, now) <= ks.usage {
			c.refusals++
			g.mu.Unlock()
			return ErrBusy
		}
		g.drop(i, ErrBusy)
	}
	ks.queued++
	g.queue = append(g.queue, w)
	// Slots may be free while every waiter's key runs already.
	g.dispatch(now)
	g.mu.Unlock()

	t := time.NewTimer(patience)
	defer t.Stop()
	var err error
	select {
	case err = <-w.done:
		return err
	case <-t.C:
		err = ErrBusy
	case <-ctx.Done():
		err = ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := g.index(w); i >= 0 {
		if err == ErrBusy {
			c.refusals++
		}
		g.drop(i, nil)
		return err
	}
	// Given a slot or dropped just as the wait ended: the gate's answer
	// stands, unless the caller has gone.
	if derr := <-w.done; derr != nil {
		return derr
	}
	if err != ErrBusy {
		g.releaseLocked(c, key, -1)
		return err
	}
	return nil
}

// state returns key's state with its usage decayed to now.
func (g *Gate) state(key string, now time.Time) *keyState {
	ks, ok := g.keys[key]
	if !ok {
		ks = &keyState{at: now}
		g.keys[key] = ks
		return ks
	}
	if dt := now.Sub(ks.at); dt > 0 {
		ks.usage *= math.Exp2(-float64(dt) / float64(g.cfg.HalfLife))
		ks.at = now
	}
	return ks
}

func (g *Gate) start(c *Class, ks *keyState) {
	g.running += c.cfg.Weight
	c.running++
	ks.running++
	ks.usage++
}

// release gives key's slot in class c back after it was held for held
// (negative: not used, so not measured).
func (g *Gate) release(c *Class, key string, held time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.releaseLocked(c, key, held)
}

func (g *Gate) releaseLocked(c *Class, key string, held time.Duration) {
	switch {
	case held < 0:
	case c.hold == 0:
		c.hold = held
	default:
		// Weight 1/8: the rate follows the load within a few dozen slots.
		c.hold += (held - c.hold) / 8
	}
	g.running -= c.cfg.Weight
	c.running--
	now := g.cfg.Now()
	g.state(key, now).running--
	g.dispatch(now)
	g.sweep(now)
}

// mayRun reports whether a caller of class c and key state ks may run as
// far as their limits go (room in the gate aside). Caller holds g.mu.
func (g *Gate) mayRun(c *Class, ks *keyState) bool {
	return ks.running < c.cfg.PerKey && c.running < c.cfg.Max
}

// anyMayRun reports whether a waiter may run as far as its limits go.
// Caller holds g.mu.
func (g *Gate) anyMayRun() bool {
	for _, w := range g.queue {
		if g.mayRun(w.class, g.keys[w.key]) {
			return true
		}
	}
	return false
}

// dispatch hands free slots to the lightest waiters that may run. When
// the lightest needs more slots than are free, the free ones are kept
// for it: lighter callers of other classes would otherwise take them one
// by one and it would never run.
func (g *Gate) dispatch(now time.Time) {
	for g.running < g.cfg.Slots {
		best := -1
		for i, w := range g.queue {
			if !g.mayRun(w.class, g.keys[w.key]) {
				continue
			}
			if best < 0 || g.before(w, g.queue[best], now) {
				best = i
			}
		}
		if best < 0 || g.running+g.queue[best].class.cfg.Weight > g.cfg.Slots {
			return
		}
		w := g.queue[best]
		g.drop(best, nil)
		g.start(w.class, g.state(w.key, now))
		w.done <- nil
	}
}

// heaviest returns the index of the waiter that would go last: of the
// heaviest key, the latest arrival.
func (g *Gate) heaviest(now time.Time) int {
	worst := 0
	for i, w := range g.queue {
		if g.before(g.queue[worst], w, now) {
			worst = i
		}
	}
	return worst
}

func (g *Gate) index(w *waiter) int {
	for i, q := range g.queue {
		if q == w {
			return i
		}
	}
	return -1
}

// drop removes waiter i from the queue, telling it err when err is set.
func (g *Gate) drop(i int, err error) {
	w := g.queue[i]
	last := len(g.queue) - 1
	g.queue[i] = g.queue[last]
	g.queue[last] = nil
	g.queue = g.queue[:last]
	g.keys[w.key].queued--
	if err != nil {
		w.class.refusals++
		w.done <- err
	}
}

// sweep forgets idle keys whose usage has decayed below a hundredth of a
// slot, when there are many, at most once per half-life.
func (g *Gate) sweep(now time.Time) {
	if len(g.keys) <= maxIdleKeys || now.Sub(g.swept) < g.cfg.HalfLife {
		return
	}
	g.swept = now
	for k, ks := range g.keys {
		if ks.running == 0 && ks.queued == 0 {
			if ks.usage*math.Exp2(-float64(now.Sub(ks.at))/float64(g.cfg.HalfLife)) < 0.01 {
				delete(g.keys, k)
			}
		}
	}
}

// Waiting is how many callers of every class wait for a slot now.
func (g *Gate) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

// Running is how many slots are held now (a caller holds its class's
// weight).
func (g *Gate) Running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running
}

// Refusals is how many callers of the default class got ErrBusy so far.
func (g *Gate) Refusals() uint64 { return g.def.Refusals() }

// Waiting is how many callers of c wait for a slot now.
func (c *Class) Waiting() int {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	n := 0
	for _, w := range c.g.queue {
		if w.class == c {
			n++
		}
	}
	return n
}

// Running is how many callers of c hold a slot now.
func (c *Class) Running() int {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	return c.running
}

// Refusals is how many callers of c got ErrBusy so far.
func (c *Class) Refusals() uint64 {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	return c.refusals
}
