package account

import (
	"context"
	"sync"
	"time"

	"github.com/accountd/accountd/store"
)

// maxTallyKeys bounds the refusals counted per interval by client, type
// and reason; past it, refusals from new clients are counted together
// under an empty IP.
const maxTallyKeys = 1 << 14

// tally aggregates the audit events of refusals tied to no account, so
// that nobody can grow the audit log (or the log) by sending garbage: the
// first such refusal of a client (IPv4 address or IPv6 /64), type and
// reason in an interval is written at once; the rest of the interval's
// are written as one row, with their count, when it ends. Safe for
// concurrent use.
type tally struct {
	mu     sync.Mutex
	counts map[tallyKey]*tallyCount
}

type tallyKey struct{ ip, typ, reason string }

type tallyCount struct {
	n    int64
	last time.Time
}

// aggregated reports whether e is a refusal the tally takes: one that
// names no account. A decision about an account is always its own row.
func aggregated(e store.AuthEvent) bool {
	if e.AccountID != "" {
		return false
	}
	switch e.Type {
	case store.EventLoginFailed, store.EventTokenRejected, store.EventRateLimited:
		return true
	}
	return false
}

// add counts e; it reports true when e is the first of its key in this
// interval and must be written now.
func (t *tally) add(e store.AuthEvent) bool {
	k := tallyKey{ip: ClientKey(e.IP), typ: e.Type, reason: e.Reason}
	if e.Type == store.EventRateLimited {
		// The reason is the refused request's op, which a client can
		// make up: it must not make rows of its own.
		k.reason = ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.counts == nil {
		t.counts = make(map[tallyKey]*tallyCount)
	}
	c, ok := t.counts[k]
	if !ok {
		if len(t.counts) >= maxTallyKeys {
			k.ip = ""
			if c, ok = t.counts[k]; ok {
				c.n++
				c.last = e.At
				return false
			}
		}
		// The first is written now; the entry counts those after it.
		t.counts[k] = &tallyCount{}
		return true
	}
	c.n++
	c.last = e.At
	return false
}

// take returns the interval's aggregated events (one per key that had
// more than its first) and starts a new interval.
func (t *tally) take() []store.AuthEvent {
	t.mu.Lock()
	counts := t.counts
	t.counts = nil
	t.mu.Unlock()
	var out []store.AuthEvent
	for k, c := range counts {
		if c.n > 0 {
			out = append(out, store.AuthEvent{At: c.last, Type: k.typ, Reason: k.reason, IP: k.ip, Count: c.n})
		}
	}
	return out
}

// flushTally writes the interval's aggregated refusals, one row and one
// log line each.
func (s *Service) flushTally(ctx context.Context) {
	for _, e := range s.refusals.take() {
		s.log.Info("auth events aggregated", "type", e.Type, "reason", e.Reason, "ip", e.IP, "count", e.Count)
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditWriteTimeout)
		if err := s.store.AddAuthEvent(wctx, e); err != nil {
			s.log.Error("audit log write failed", "type", e.Type, "count", e.Count, "err", err)
		}
		cancel()
	}
}

// runTally flushes the tally every AuditAggregateInterval until ctx ends,
// and once more then.
func (s *Service) runTally(ctx context.Context) {
	t := time.NewTicker(s.cfg.AuditAggregateInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flushTally(ctx)
			return
		case <-t.C:
			s.flushTally(ctx)
		}
	}
}
