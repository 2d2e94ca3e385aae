package argon2id

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"time"
)

// ErrBusy is returned by Gate.Do when no slot frees up within the wait.
var ErrBusy = errors.New("argon2id: too many password hashes in progress")

// Gate bounds how many hashes run at once: each holds its memory cost, so
// a login flood must queue rather than allocate. Safe for concurrent use.
type Gate struct {
	slots chan struct{}
	wait  time.Duration

	waiting  atomic.Int64
	running  atomic.Int64
	refusals atomic.Uint64
}

// NewGate returns a gate of n slots where a caller waits at most wait.
func NewGate(n int, wait time.Duration) *Gate {
	return &Gate{slots: make(chan struct{}, n), wait: wait}
}

// Do runs f in a slot, waiting at most the gate's wait (and ctx) for one.
// It returns ErrBusy when none freed in time, or ctx's error.
func (g *Gate) Do(ctx context.Context, f func()) error {
	t := time.NewTimer(g.wait)
	defer t.Stop()
	g.waiting.Add(1)
	select {
	case g.slots <- struct{}{}:
		g.waiting.Add(-1)
	case <-t.C:
		g.waiting.Add(-1)
		g.refusals.Add(1)
		return ErrBusy
	case <-ctx.Done():
		g.waiting.Add(-1)
		return ctx.Err()
	}
	g.running.Add(1)
	defer func() { g.running.Add(-1); <-g.slots }()
	f()
	// The hash's buffer is garbage now: collect it before the slot is
	// handed on, so the process holds at most one buffer per slot (left
	// to the pacer, the heap grows to twice the buffers in flight).
	runtime.GC()
	return nil
}

// Waiting is how many callers wait for a slot now.
func (g *Gate) Waiting() int64 { return g.waiting.Load() }

// Running is how many hashes run now.
func (g *Gate) Running() int64 { return g.running.Load() }

// Refusals is how many callers got ErrBusy so far.
func (g *Gate) Refusals() uint64 { return g.refusals.Load() }
