package server

import (
	"container/list"
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
)

// ipLimiter is a token bucket per client IP (golang.org/x/time/rate) with
// bounded memory: at most max IPs are tracked, in least-recently-seen
// order. An IP idle long enough for its bucket to refill completely is
// forgotten, which changes nothing (a new bucket starts full); when the
// table is full the least recently seen IP is forgotten. Safe for
// concurrent use.
type ipLimiter struct {
	limit rate.Limit
	burst int
	max   int
	// idle is how long a bucket takes to refill from empty.
	idle time.Duration

	mu    sync.Mutex
	byKey map[string]*list.Element // of *ipBucket
	lru   list.List                // front: most recently seen
}

type ipBucket struct {
	key      string
	lim      *rate.Limiter
	lastSeen time.Time
}

func newIPLimiter(perSecond float64, burst, max int) *ipLimiter {
	return &ipLimiter{
		limit: rate.Limit(perSecond), burst: burst, max: max, idle: refillTime(perSecond, burst),
		byKey: make(map[string]*list.Element),
	}
}

// refillTime is how long a bucket takes to refill from empty.
func refillTime(perSecond float64, burst int) time.Duration {
	return time.Duration(math.Ceil(float64(burst) / perSecond * float64(time.Second)))
}

// setRate changes the rate and burst of every bucket, present and future.
func (l *ipLimiter) setRate(perSecond float64, burst int, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limit, l.burst, l.idle = rate.Limit(perSecond), burst, refillTime(perSecond, burst)
	for e := l.lru.Front(); e != nil; e = e.Next() {
		b := e.Value.(*ipBucket)
		b.lim.SetLimitAt(now, l.limit)
		b.lim.SetBurstAt(now, burst)
	}
}

// rateKey is the bucket an address counts against: the IPv4 address, or
// the /64 of an IPv6 address (the key the rules' hash gate uses too).
func rateKey(ip string) string { return account.ClientKey(ip) }

// allow takes one token for ip at time now. When none is left it returns
// ok false and how long until one will be.
func (l *ipLimiter) allow(ip string, now time.Time) (ok bool, retryAfter time.Duration) {
	key := rateKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evictIdle(now)
	var b *ipBucket
	if e, found := l.byKey[key]; found {
		b = e.Value.(*ipBucket)
		l.lru.MoveToFront(e)
	} else {
		if l.lru.Len() >= l.max {
			l.remove(l.lru.Back())
		}
		b = &ipBucket{key: key, lim: rate.NewLimiter(l.limit, l.burst)}
		l.byKey[key] = l.lru.PushFront(b)
	}
	b.lastSeen = now
	r := b.lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if r.OK() && d == 0 {
		return true, 0
	}
	r.CancelAt(now)
	if d <= 0 {
		d = time.Second
	}
	return false, d
}

// evictIdle forgets the IPs not seen for l.idle: their buckets are full.
func (l *ipLimiter) evictIdle(now time.Time) {
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		if now.Sub(e.Value.(*ipBucket).lastSeen) < l.idle {
			return
		}
		l.remove(e)
	}
}

func (l *ipLimiter) remove(e *list.Element) {
	delete(l.byKey, e.Value.(*ipBucket).key)
	l.lru.Remove(e)
}

// tracked returns how many IPs are tracked.
func (l *ipLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// allowRequest takes one token from the client IP's bucket. Over the
// limit it returns the refusal to send; the rules count and audit it.
// what names the request (an op name, "http").
func (s *Server) allowRequest(ctx context.Context, ip, what string) *account.Error {
	ok, wait := s.limiter.allow(ip, s.cfg.Now())
	if ok {
		return nil
	}
	s.svc.RateLimited(ctx, ip, what)
	return account.ErrRateLimited(wait)
}

// allowHash takes one token from the client IP's hashing budget, which a
// request that verifies or hashes a password needs besides its ordinary
// one: a hash costs a whole core for a noticeable time, so one IP may
// start far fewer of them than of other requests.
func (s *Server) allowHash(ctx context.Context, ip, what string) *account.Error {
	ok, wait := s.hashLimiter.allow(ip, s.cfg.Now())
	if ok {
		return nil
	}
	s.svc.RateLimited(ctx, ip, what)
	return account.ErrRateLimited(wait)
}

// maxRefusalPause bounds how long a refused client waits before its 429
// is sent, or before its connection's next request is read. A refusal
// costs the server little, but answered at once it costs a core when
// each client that is refused asks again at once: the 49 IPs of
// BenchmarkLoginUnderFlood made about 5,000 refused requests a second
// that way, and hashes ran at half speed beside them.
const maxRefusalPause = time.Second

// refusalPause is how long serveConn waits before it reads the next
// request from a connection that was just answered resp: the wait a
// rate_limited answer announced, up to maxRefusalPause and half the ping
// interval (a ping sent meanwhile needs its pong read in time). A
// service's connection is never paused: it carries many end users'
// requests, and the refusal may be for one of them.
func (s *Server) refusalPause(conn *account.Connection, resp *protocol.Response) time.Duration {
	if resp.Error == nil || resp.Error.Code != protocol.CodeRateLimited || conn.Service() != nil {
		return 0
	}
	d := time.Duration(resp.Error.RetryAfterMS) * time.Millisecond
	return min(d, maxRefusalPause, s.cfg.PingInterval/2)
}

// wait waits d, or until ctx ends or stop is closed; it reports whether d
// passed.
func wait(ctx context.Context, d time.Duration, stop <-chan struct{}) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-stop:
	}
	return false
}

// pauseHTTP is how long a 429 waits before it is sent: the wait the
// client was refused for, rounded up to whole seconds (what a
// Retry-After can say), at most maxRefusalPause.
func pauseHTTP(retryAfter time.Duration) time.Duration {
	return min(time.Duration(math.Ceil(retryAfter.Seconds()))*time.Second, maxRefusalPause)
}

// retryAfterHeader is the Retry-After of a 429 sent after paused: the
// whole seconds left of the wait, rounded up.
func retryAfterHeader(retryAfter, paused time.Duration) string {
	return strconv.FormatInt(int64(math.Ceil(max(retryAfter-paused, 0).Seconds())), 10)
}

// limitHTTP applies the per-IP limit to every HTTP request (the WebSocket
// upgrade included): over it, 429 Too Many Requests, sent after a pause
// (pauseHTTP) so that a client redialling at once is paced by it, with
// Retry-After in whole seconds, rounded up, counted from then.
func (s *Server) limitHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refused := s.allowRequest(r.Context(), s.clientIP(r), "http"); refused != nil {
			pause := pauseHTTP(refused.RetryAfter)
			if !wait(r.Context(), pause, nil) {
				return
			}
			w.Header().Set("Retry-After", retryAfterHeader(refused.RetryAfter, pause))
			s.allowProbe(w, r)
			http.Error(w, "accountd: too many requests", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}
