package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/accountd/accountd/protocol"
)

// Revocations is what a revocations push carries (SPEC.md §5.4.5).
type Revocations = protocol.RevocationsPush

// errWatching refuses calls on a connection that watches revocations:
// its packets are pushes from then on.
var errWatching = errors.New("client: the connection watches revocations; use another one for calls")

// WatchRevocations subscribes the connection to the server's revocation
// feed from position after (0: every revocation the server still keeps;
// else Revocations.Position of the last push received). The connection
// must have presented a service key (else ErrForbidden). From then on it
// only receives pushes: read them with NextRevocations; other calls on it
// fail.
func (c *Conn) WatchRevocations(ctx context.Context, after int64) error {
	var r protocol.WatchRevocationsResult
	if err := c.call(ctx, protocol.OpWatchRevocations, protocol.WatchRevocationsRequest{After: after}, &r); err != nil {
		return err
	}
	c.mu.Lock()
	c.watching = true
	c.mu.Unlock()
	return nil
}

// maxRevokedID bounds a session id in a push (the server's are 32 hex
// characters).
const maxRevokedID = 64

// NextRevocations waits for the next push of a watching connection: the
// sessions revoked since the last one (none in a heartbeat, which the
// server sends about every second while its own feed is current).
func (c *Conn) NextRevocations(ctx context.Context) (*Revocations, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	if !c.watching {
		return nil, errors.New("client: NextRevocations on a connection that does not watch revocations")
	}
	typ, data, err := c.ws.Read(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// The read was abandoned: the connection cannot be read
			// again in step.
			c.ws.CloseNow()
		}
		c.err = c.connErr(err)
		return nil, c.err
	}
	if typ != websocket.MessageBinary {
		c.err = fmt.Errorf("%w: %s: unexpected text frame", ErrConnection, c.server)
		return nil, c.err
	}
	out, err := c.sess.Open(data)
	if err != nil {
		c.err = fmt.Errorf("%w: %s: %w", ErrConnection, c.server, err)
		c.ws.Close(websocket.StatusPolicyViolation, "")
		return nil, c.err
	}
	_, push, err := protocol.DecodeServerPacket(out)
	var r Revocations
	if err == nil && push != nil && push.Push == protocol.PushRevocations {
		err = json.Unmarshal(push.Body, &r)
	} else if err == nil {
		err = errors.New("not a revocations push")
	}
	if err == nil {
		err = checkRevocations(&r)
	}
	if err != nil {
		c.err = fmt.Errorf("%w: %s: invalid push: %w", ErrConnection, c.server, err)
		c.ws.Close(websocket.StatusProtocolError, "")
		return nil, c.err
	}
	return &r, nil
}

func checkRevocations(r *Revocations) error {
	if r.Position < 0 || r.Position > protocol.MaxRequestID {
		return errors.New("position out of range")
	}
	for _, s := range r.Revoked {
		if s.SessionID == "" || len(s.SessionID) > maxRevokedID || s.ExpiresAt.IsZero() {
			return errors.New("revoked session without id or expiry")
		}
	}
	return nil
}

// RevocationFeedOptions configure NewRevocationFeed.
type RevocationFeedOptions struct {
	// LostAfter is how long the feed may go without hearing from the
	// server (a push or a heartbeat) before Current reports false.
	// Default 3 s: the server sends a heartbeat every second.
	LostAfter time.Duration
	// RetryMin and RetryMax bound the pause before redialing a lost
	// connection; it doubles from RetryMin up to RetryMax. Defaults
	// 100 ms and 5 s.
	RetryMin, RetryMax time.Duration
	// Logger receives the reasons the connection was lost. Default
	// slog.Default().
	Logger *slog.Logger
}

// RevocationFeed follows a server's revocation feed on a connection of
// its own: it keeps the set of revoked sessions (each until its end, when
// no token of it is valid anyway), redials when the connection is lost
// and watches again from the last position it reached, so that nothing
// revoked meanwhile is missed. A Verifier with a RevocationFeed refuses
// revoked tokens without asking the server. Safe for concurrent use;
// Close stops it.
type RevocationFeed struct {
	addr string
	opts Options
	fo   RevocationFeedOptions

	mu       sync.Mutex
	revoked  map[string]time.Time
	position int64
	heard    time.Time // zero until the first push
	changed  chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

// NewRevocationFeed starts following the feed of the server at addr.
// opts.ServiceKey is required: only service-key connections may watch.
// It returns at once; Synced waits for the first push.
func NewRevocationFeed(addr string, opts Options, fo RevocationFeedOptions) (*RevocationFeed, error) {
	if opts.Trust == nil {
		return nil, errors.New("client: options: Trust is required")
	}
	if opts.ServiceKey == "" {
		return nil, errors.New("client: revocation feed: Options.ServiceKey is required")
	}
	if _, _, err := ServerAddress(addr); err != nil {
		return nil, err
	}
	if fo.LostAfter <= 0 {
		fo.LostAfter = 3 * time.Second
	}
	if fo.RetryMin <= 0 {
		fo.RetryMin = 100 * time.Millisecond
	}
	if fo.RetryMax < fo.RetryMin {
		fo.RetryMax = max(5*time.Second, fo.RetryMin)
	}
	if fo.Logger == nil {
		fo.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &RevocationFeed{addr: addr, opts: opts, fo: fo, revoked: map[string]time.Time{},
		changed: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	go f.run(ctx)
	return f, nil
}

// Close stops following the feed.
func (f *RevocationFeed) Close() {
	f.cancel()
	<-f.done
}

// run dials, watches and reads pushes until ctx ends, redialing after a
// pause whenever the connection is lost.
func (f *RevocationFeed) run(ctx context.Context) {
	defer close(f.done)
	pause := f.fo.RetryMin
	for ctx.Err() == nil {
		heard, err := f.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		if heard {
			pause = f.fo.RetryMin
			f.fo.Logger.Warn("client: revocation feed lost; watching again", "server", f.addr, "err", err)
		} else {
			f.fo.Logger.Debug("client: revocation feed: watching failed", "server", f.addr, "err", err, "retry_in", pause)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, f.fo.RetryMax)
	}
}

// follow runs one connection: it reports whether any push arrived, and
// why the connection ended.
func (f *RevocationFeed) follow(ctx context.Context) (heard bool, err error) {
	conn, err := Dial(ctx, f.addr, f.opts)
	if err != nil {
		return false, err
	}
	defer conn.ws.CloseNow()
	// Closing the connection is what ends a read in progress.
	stop := context.AfterFunc(ctx, func() { conn.ws.CloseNow() })
	defer stop()
	f.mu.Lock()
	after := f.position
	f.mu.Unlock()
	if err := conn.WatchRevocations(ctx, after); err != nil {
		return false, err
	}
	for {
		r, err := conn.NextRevocations(context.Background())
		if err != nil {
			return heard, err
		}
		heard = true
		f.apply(r)
	}
}

// apply records a push: its sessions, its position, and that the server
// was heard from now.
func (f *RevocationFeed) apply(r *Revocations) {
	now := time.Now()
	f.mu.Lock()
	for _, s := range r.Revoked {
		f.revoked[s.SessionID] = s.ExpiresAt
	}
	if len(f.revoked) > 0 && len(r.Revoked) == 0 {
		// Heartbeats are the quiet moments to forget ended sessions.
		for id, end := range f.revoked {
			if now.After(end.Add(revokedKeepPast)) {
				delete(f.revoked, id)
			}
		}
	}
	f.position = max(f.position, r.Position)
	f.heard = now
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// revokedKeepPast keeps a revoked session this long past its end, for
// verifiers that allow some leeway on "exp".
const revokedKeepPast = 5 * time.Minute

// Revoked reports whether the feed has named the session as revoked.
func (f *RevocationFeed) Revoked(sessionID string) bool {
	f.mu.Lock()
	_, ok := f.revoked[sessionID]
	f.mu.Unlock()
	return ok
}

// Current reports whether the server was heard from within LostAfter:
// a revocation made before then is known here.
func (f *RevocationFeed) Current() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.heard.IsZero() && time.Since(f.heard) <= f.fo.LostAfter
}

// Position is where the feed would resume from after a reconnect.
func (f *RevocationFeed) Position() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.position
}

// Synced waits until the server has been heard from (the first push
// carries every revocation it keeps past the feed's position), or ctx
// ends.
func (f *RevocationFeed) Synced(ctx context.Context) error {
	return f.WaitFor(ctx, func() bool { return f.Current() })
}

// WaitFor waits until cond holds, checking it after every push, or ctx
// ends.
func (f *RevocationFeed) WaitFor(ctx context.Context, cond func() bool) error {
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
