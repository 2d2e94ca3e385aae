package account

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/accountd/accountd/store"
)

// auditWriteTimeout bounds one audit log write. It runs on a context
// detached from the request's, so that a client that hangs up does not
// erase the record of what it did.
const auditWriteTimeout = 5 * time.Second

type clientIPKey struct{}

// WithClientIP returns a context carrying the client's IP address, which
// the Service records in the audit log. The server sets it for every
// request; callers without a socket may too.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientKey is what limits count an address against: the IPv4 address, or
// the /64 of an IPv6 address (one host usually has a whole /64). Anything
// that does not parse is its own key.
func ClientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return p.String()
	}
	return a.String()
}

func clientIPFrom(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// audit writes one authentication decision to auth_events (and the log),
// stamped with the current UTC time and the request's client IP; a
// refusal tied to no account is aggregated instead (see tally). A failed
// write is logged: it never changes the answer to the client.
func (s *Service) audit(ctx context.Context, e store.AuthEvent) {
	e = s.stampEvent(ctx, e)
	if aggregated(e) && !s.refusals.add(e) {
		return
	}
	s.logEvent(e)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditWriteTimeout)
	defer cancel()
	if err := s.store.AddAuthEvent(wctx, e); err != nil {
		s.log.Error("audit log write failed", "type", e.Type, "err", err)
	}
}

// event sets an event's time (now, UTC) and client IP (the request's),
// and logs it; the caller writes it, alone or with the decision's change.
func (s *Service) event(ctx context.Context, e store.AuthEvent) store.AuthEvent {
	e = s.stampEvent(ctx, e)
	s.logEvent(e)
	return e
}

func (s *Service) stampEvent(ctx context.Context, e store.AuthEvent) store.AuthEvent {
	e.At = s.stamp()
	if e.IP == "" {
		e.IP = clientIPFrom(ctx)
	}
	if len(e.IP) > 64 {
		e.IP = e.IP[:64]
	}
	return e
}

func (s *Service) logEvent(e store.AuthEvent) {
	s.log.Info("auth event", "type", e.Type, "reason", e.Reason, "ip", e.IP, "account", e.AccountID, "session", e.SessionID)
}

// RateLimited records that a client IP went over its request rate: it
// counts the refusal and audits it (aggregated per client and interval,
// so that a flood cannot fill the table). what names the refused request;
// it may be an op name a client made up.
func (s *Service) RateLimited(ctx context.Context, ip, what string) {
	s.metrics.rateLimited.WithLabelValues(ScopeIP).Inc()
	if len(what) > 32 {
		what = what[:32] + "..."
	}
	s.audit(ctx, store.AuthEvent{Type: store.EventRateLimited, Reason: strings.ToValidUTF8(what, "?"), IP: ip})
}

// PruneAuthEvents deletes the audit events older than the retention age
// and returns how many it deleted.
func (s *Service) PruneAuthEvents(ctx context.Context) (int64, error) {
	n, err := s.store.PruneAuthEvents(ctx, s.now().UTC().Add(-s.settings().AuditRetention))
	if err != nil {
		return 0, fmt.Errorf("prune auth events: %w", err)
	}
	return n, nil
}

// RunAuditPruner prunes the audit log at once and then every
// AuditPruneInterval, until ctx ends. Several instances may run it at
// once: a delete by age is idempotent.
func (s *Service) RunAuditPruner(ctx context.Context) {
	s.runPruner(ctx, "audit log", s.cfg.AuditPruneInterval, s.PruneAuthEvents)
}

// runPruner runs prune at once and then every interval until ctx ends,
// each run bounded by a minute; what names the table in the log.
func (s *Service) runPruner(ctx context.Context, what string, interval time.Duration, prune func(context.Context) (int64, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		n, err := prune(pctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn(what+" pruning failed; will retry", "err", err)
		case n > 0:
			s.log.Info(what+" pruned", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// AuthEvents returns the audit events the filter selects, newest first.
func (s *Service) AuthEvents(ctx context.Context, f store.AuthEventFilter) ([]store.AuthEvent, error) {
	return s.store.ListAuthEvents(ctx, f)
}
