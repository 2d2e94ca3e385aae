package argon2id

import (
	"context"
	"errors"
	"runtime"

	"github.com/accountd/accountd/server/internal/admission"
)

// ErrBusy is returned by Gate.Do when no slot frees up within the wait, or
// when the caller's client already has a hash waiting.
var ErrBusy = errors.New("argon2id: too many password hashes in progress")

// Gate bounds how many hashes run at once: each holds its memory cost, so
// a login flood must queue rather than allocate. Slots go to clients
// fairly (package admission): a client holds at most one slot and one
// queue place, and one that hashed little lately goes first. Safe for
// concurrent use.
type Gate struct {
	g *admission.Class
}

// NewGate returns a gate whose hashes take slots of class c: its slots,
// wait and per-client limit are the class's.
func NewGate(c *admission.Class) *Gate { return &Gate{g: c} }

// collectFromKiB is the smallest memory cost whose buffer the gate
// collects as soon as its hash ends. A smaller buffer is ordinary
// garbage, which the collector's pacing bounds like the rest of a
// request's, and a full collection after each such hash would cost more
// than the hash.
const collectFromKiB = 4 << 10

// Do runs f, a hash of memoryKiB, in a slot for client (an IPv4 address
// or IPv6 /64; "" for callers without one), waiting at most the gate's
// wait (and ctx) for one. It returns ErrBusy when refused, or ctx's
// error.
func (g *Gate) Do(ctx context.Context, client string, memoryKiB uint32, f func()) error {
	err := g.g.Do(ctx, client, func() {
		f()
		if memoryKiB >= collectFromKiB {
			// The hash's buffer is garbage now: collect it before the
			// slot is handed on, so the process holds at most one buffer
			// per slot (left to the pacer, the heap grows to twice the
			// buffers in flight).
			runtime.GC()
		}
	})
	if errors.Is(err, admission.ErrBusy) {
		return ErrBusy
	}
	return err
}

// Waiting is how many callers wait for a slot now.
func (g *Gate) Waiting() int64 { return int64(g.g.Waiting()) }

// Running is how many hashes run now.
func (g *Gate) Running() int64 { return int64(g.g.Running()) }

// Refusals is how many callers got ErrBusy so far.
func (g *Gate) Refusals() uint64 { return g.g.Refusals() }
