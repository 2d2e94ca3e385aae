package account

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
)

// The revocation feed: every instance follows the store's revocation log
// (a bounded poll, RevocationPoll apart), drops what it learns from its
// session view (sessionview.go), and passes it on to the service-key
// connections that watch it (watch_revocations).
//
// Ids in the log are handed out when the revoking transaction writes its
// entry, not when it commits. On MariaDB two concurrent revocations can
// commit in the other order (the one holding id 7 after the one holding
// id 8), and on a Galera cluster each node hands out its own ids; a
// follower that only ever asked for "id > the last id seen" would skip id
// 7 for good. So the follower remembers the ids it has not seen below the
// largest one it has (gaps), and asks again from the oldest gap until the
// gap fills or is older than settleWindow: a write transaction never stays
// open that long (each database call is bounded by StoreTimeout), so an id
// still missing then was rolled back or never used (InnoDB drops ids,
// Galera nodes skip the other nodes' ones). Entries seen twice are
// delivered once.

// revocationPage is how many entries one read of the log takes.
const revocationPage = 1000

// feedLostAfter is how many poll intervals after the start of the last
// successful read the feed counts as lost: the session view stops
// answering (token checks read the database) and watchers get no
// heartbeat. A revocation that committed after that read began is in
// the next one, so the view never answers for a session more than
// feedLostAfter polls (50 ms by default) after its revocation committed,
// however late the machine runs the poll.
const feedLostAfter = 2

// revocationHeartbeat is how often a watcher hears from the feed when
// nothing was revoked, so that it can tell a quiet feed from a lost one.
const revocationHeartbeat = time.Second

// maxWatchBacklog bounds what one watcher may have queued; a watcher that
// falls further behind is dropped (it resumes from its position).
const maxWatchBacklog = 100000

// revocationPruneMargin keeps log entries this long past their session's
// end, for verifiers whose clocks run behind.
const revocationPruneMargin = 5 * time.Minute

// revocationSettleMargin is added to StoreTimeout for how long a gap in the
// log's ids is waited for: a node of a Galera cluster may apply a
// commit a little after it was certified.
const revocationSettleMargin = 5 * time.Second

// gap is a range of ids below the largest seen that no entry has filled
// yet, and when it was first missed.
type gap struct {
	lo, hi int64
	since  time.Time
}

// feed follows the revocation log. Safe for concurrent use.
type feed struct {
	list   func(ctx context.Context, after int64, limit int) ([]store.Revocation, error)
	poll   time.Duration
	window time.Duration
	// lostAfter is how old the last successful read may be for the feed
	// to count as current: feedLostAfter polls.
	lostAfter time.Duration
	// clock is a monotonic clock for gaps and freshness (real time, not
	// the Service's clock: polls run on real timers).
	clock func() time.Time
	// evicted is told each session id the log names (the session view).
	evicted func([]store.Revocation)
	// wall is the clock revocations are stamped with (the Service's):
	// at start, gaps are waited for only between recent entries.
	wall func() time.Time

	mu      sync.Mutex
	started bool      // the first read has set max
	max     int64     // the largest id seen
	gaps    []gap     // ids below max not seen yet, oldest first
	lastOK  time.Time // when the last successful read began
	watches map[*Watch]struct{}
}

func newFeed(list func(context.Context, int64, int) ([]store.Revocation, error), poll, window time.Duration, clock, wall func() time.Time, evicted func([]store.Revocation)) *feed {
	return &feed{list: list, poll: poll, window: window, lostAfter: feedLostAfter * poll, clock: clock, wall: wall, evicted: evicted,
		watches: map[*Watch]struct{}{}}
}

// run polls until ctx ends.
func (f *feed) run(ctx context.Context, log func(error)) {
	t := time.NewTicker(f.poll)
	defer t.Stop()
	failing := false
	for {
		err := f.step(ctx)
		if err != nil && !failing && ctx.Err() == nil {
			log(err)
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			f.closeWatches()
			return
		case <-t.C:
		}
	}
}

// from is where the next read starts: below the oldest gap still worth
// waiting for, else past the largest id seen.
func (f *feed) from(now time.Time) int64 {
	f.gaps = slices.DeleteFunc(f.gaps, func(g gap) bool { return now.Sub(g.since) > f.window })
	if len(f.gaps) > 0 {
		return f.gaps[0].lo - 1
	}
	return f.max
}

// step reads the log once (page by page) and delivers what is new.
func (f *feed) step(ctx context.Context) error {
	f.mu.Lock()
	began := f.clock()
	after := f.from(began)
	started := f.started
	f.mu.Unlock()
	if !started {
		// A fresh instance needs nothing older than now: its session
		// view is empty, and watchers catch up from the log themselves.
		after = -1
	}
	var fresh []store.Revocation
	var all []store.Revocation
	for {
		page, err := f.list(ctx, max(after, 0), revocationPage)
		if err != nil {
			return err
		}
		all = append(all, page...)
		if len(page) < revocationPage {
			break
		}
		after = page[len(page)-1].ID
	}
	now := f.clock()
	f.mu.Lock()
	if !f.started {
		f.started = true
		recent := f.wall().Add(-f.window)
		for _, r := range all {
			if r.ID > f.max+1 && f.max > 0 && r.RevokedAt.After(recent) {
				// An id below a recent entry may still commit.
				f.gaps = append(f.gaps, gap{lo: f.max + 1, hi: r.ID - 1, since: now})
			}
			f.max = max(f.max, r.ID)
		}
		f.lastOK = began
		f.mu.Unlock()
		return nil
	}
	for _, r := range all {
		if r.ID <= f.max && !f.inGap(r.ID) {
			continue // delivered already
		}
		if r.ID > f.max {
			if r.ID > f.max+1 {
				f.gaps = append(f.gaps, gap{lo: f.max + 1, hi: r.ID - 1, since: now})
			}
			f.max = r.ID
		} else {
			f.fill(r.ID)
		}
		fresh = append(fresh, r)
	}
	f.lastOK = began
	if len(fresh) > 0 {
		f.evicted(fresh)
	}
	position := f.positionLocked()
	for w := range f.watches {
		w.deliver(fresh, position)
	}
	f.mu.Unlock()
	return nil
}

// inGap reports whether id is in a gap still waited for.
func (f *feed) inGap(id int64) bool {
	for _, g := range f.gaps {
		if g.lo <= id && id <= g.hi {
			return true
		}
	}
	return false
}

// fill removes id from its gap, splitting it.
func (f *feed) fill(id int64) {
	for i, g := range f.gaps {
		if g.lo <= id && id <= g.hi {
			var parts []gap
			if g.lo < id {
				parts = append(parts, gap{lo: g.lo, hi: id - 1, since: g.since})
			}
			if id < g.hi {
				parts = append(parts, gap{lo: id + 1, hi: g.hi, since: g.since})
			}
			f.gaps = slices.Replace(f.gaps, i, i+1, parts...)
			return
		}
	}
}

// positionLocked is the id up to which every entry that will ever be
// committed has been delivered: below the oldest gap, or max.
func (f *feed) positionLocked() int64 {
	if len(f.gaps) > 0 {
		return f.gaps[0].lo - 1
	}
	return f.max
}

// current reports whether the last successful read began within
// lostAfter: every revocation committed before then has been delivered.
func (f *feed) current() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started && f.clock().Sub(f.lastOK) <= f.lostAfter
}

// readWithin reports whether a successful read of the log began within
// d: the heartbeat's test, looser than current's, since a watcher
// applies what it is pushed whenever it comes.
func (f *feed) readWithin(d time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started && f.clock().Sub(f.lastOK) <= d
}

func (f *feed) closeWatches() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for w := range f.watches {
		w.end(errFeedClosed)
	}
	clear(f.watches)
}

// Errors that end a Watch.
var (
	errFeedClosed = errors.New("account: revocation feed closed")
	// ErrWatchBehind: the watcher did not take what was queued for it
	// fast enough and was dropped; it may watch again from its position.
	ErrWatchBehind = errors.New("account: revocation watcher fell behind")
)

// Watch is one connection's subscription to the revocation feed
// (watch_revocations). The transport calls Next in a loop and sends what
// it returns as a push packet, until Next returns an error.
type Watch struct {
	f *feed

	mu       sync.Mutex
	ready    bool // the catch-up is queued; nothing is handed out before
	sent     bool // the first push (the catch-up, maybe empty) went out
	pending  []protocol.RevokedSession
	position int64
	err      error
	wake     chan struct{}
}

// deliver queues entries and the feed's position; called with f.mu held.
func (w *Watch) deliver(rs []store.Revocation, position int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	for _, r := range rs {
		w.pending = append(w.pending, protocol.RevokedSession{SessionID: r.SessionID, ExpiresAt: r.ExpiresAt})
	}
	if w.ready {
		w.position = max(w.position, position)
	}
	if len(w.pending) > maxWatchBacklog {
		w.err = ErrWatchBehind
		w.pending = nil
	}
	w.notify()
}

func (w *Watch) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *Watch) end(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.notify()
}

// Next waits for entries to push (the first call returns the catch-up at
// once, even when empty), or for the heartbeat to be due while the feed
// reads the log (it read it successfully within the last second), and returns them with the position a watcher may
// resume from. It returns an error once the watch ended (the feed closed,
// or the watcher fell behind), or ctx's.
func (w *Watch) Next(ctx context.Context) (*protocol.RevocationsPush, error) {
	beat := time.NewTimer(revocationHeartbeat)
	defer beat.Stop()
	for {
		w.mu.Lock()
		if w.err != nil {
			err := w.err
			w.mu.Unlock()
			return nil, err
		}
		if w.ready && (len(w.pending) > 0 || !w.sent) {
			// The first push goes out even when empty: it tells the
			// watcher it is caught up.
			p := &protocol.RevocationsPush{Revoked: w.pending, Position: w.position}
			if p.Revoked == nil {
				p.Revoked = []protocol.RevokedSession{}
			}
			w.pending, w.sent = nil, true
			w.mu.Unlock()
			return p, nil
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-w.wake:
		case <-beat.C:
			if w.f.readWithin(revocationHeartbeat) {
				w.mu.Lock()
				p := &protocol.RevocationsPush{Revoked: []protocol.RevokedSession{}, Position: w.position}
				w.mu.Unlock()
				return p, nil
			}
			beat.Reset(w.f.poll)
		}
	}
}

// Close ends the watch.
func (w *Watch) Close() {
	w.f.mu.Lock()
	delete(w.f.watches, w)
	w.f.mu.Unlock()
	w.end(errFeedClosed)
}

// subscribe registers a watch that receives every entry the feed
// delivers from now on, then queues the log's entries past after (read
// after registering, so that nothing falls between; an entry may come
// twice). The watch hands nothing out until the catch-up is queued.
func (f *feed) subscribe(ctx context.Context, after int64) (*Watch, error) {
	w := &Watch{f: f, position: after, wake: make(chan struct{}, 1)}
	f.mu.Lock()
	f.watches[w] = struct{}{}
	position := f.positionLocked()
	f.mu.Unlock()
	var caught []protocol.RevokedSession
	for from := after; ; {
		page, err := f.list(ctx, from, revocationPage)
		if err != nil {
			w.Close()
			return nil, err
		}
		for _, r := range page {
			caught = append(caught, protocol.RevokedSession{SessionID: r.SessionID, ExpiresAt: r.ExpiresAt})
		}
		if len(caught) > maxWatchBacklog {
			w.Close()
			return nil, ErrWatchBehind
		}
		if len(page) < revocationPage {
			break
		}
		from = page[len(page)-1].ID
	}
	w.mu.Lock()
	w.pending = append(caught, w.pending...)
	w.position = max(after, position)
	w.ready = true
	w.mu.Unlock()
	w.notify()
	return w, nil
}

// Watch returns the connection's revocation watch, or nil.
func (c *Connection) Watch() *Watch {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.watch
}

var errNotService = NewError(protocol.CodeForbidden, "watch_revocations needs a connection that presented a service key")

// WatchRevocations subscribes a service-key connection to the
// revocation feed from a position: the transport then pushes the revoked
// sessions (Watch.Next) until the connection closes.
func (s *Service) WatchRevocations(ctx context.Context, req protocol.WatchRevocationsRequest) (*protocol.WatchRevocationsResult, error) {
	conn := ConnectionFrom(ctx)
	if conn.Service() == nil {
		return nil, errNotService
	}
	if req.After < 0 || req.After > protocol.MaxRequestID {
		return nil, NewError(protocol.CodeBadRequest, "after must be between 0 and 2^53-1")
	}
	conn.mu.Lock()
	watching := conn.watch != nil
	conn.mu.Unlock()
	if watching {
		return nil, NewError(protocol.CodeBadRequest, "this connection watches revocations already")
	}
	w, err := s.feed.subscribe(ctx, req.After)
	if err != nil {
		return nil, err
	}
	conn.mu.Lock()
	conn.watch = w
	conn.mu.Unlock()
	return &protocol.WatchRevocationsResult{}, nil
}

// PruneRevocations deletes the log entries whose session ended
// revocationPruneMargin ago (no token of theirs is valid any more).
func (s *Service) pruneRevocations(ctx context.Context) (int64, error) {
	return s.store.PruneRevocations(ctx, s.stamp().Add(-revocationPruneMargin))
}
