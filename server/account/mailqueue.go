package account

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/accountd/accountd/server/internal/mailer"
	"github.com/accountd/accountd/store"
)

// The mail queue is a table, so that mail outlives a restart and any
// instance may send it. Each instance runs one sender, woken when it
// queues a mail and every MailPollInterval; a mail that fails is tried
// again after a growing pause, mailMaxAttempts times in all.
const (
	mailMaxAttempts = 10
	mailFirstRetry  = 30 * time.Second
	mailMaxRetry    = time.Hour
	// mailLease is how long a claimed mail is left to its sender before
	// another may take it: longer than one send may last.
	mailLease = 5 * time.Minute
	mailBatch = 16
)

// mailOn reports whether the Service sends mail.
func (s *Service) mailOn() bool { return s.sender != nil }

// enqueue adds m to the queue and wakes this instance's sender.
func (s *Service) enqueue(ctx context.Context, m store.QueuedMail) error {
	id, err := randomID()
	if err != nil {
		return err
	}
	now := s.stamp()
	m.ID, m.CreatedAt, m.NextAt = id, now, now
	if err := s.store.EnqueueMail(ctx, m); err != nil {
		return err
	}
	select {
	case s.mailKick <- struct{}{}:
	default:
	}
	return nil
}

// queue is enqueue for mail whose failure to queue must not change the
// answer (the change it follows is made): the failure is logged.
func (s *Service) queue(ctx context.Context, m store.QueuedMail) {
	if err := s.enqueue(context.WithoutCancel(ctx), m); err != nil {
		s.metrics.mailFailures.Inc()
		s.log.Error("mail queue: add failed", "kind", m.Kind, "account", m.AccountID, "err", err)
	}
}

// runMail sends the mail due until ctx ends.
func (s *Service) runMail(ctx context.Context) {
	t := time.NewTicker(s.cfg.MailPollInterval)
	defer t.Stop()
	for {
		s.sendDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-s.mailKick:
		case <-t.C:
		}
	}
}

// sendDue sends every mail due now, a batch at a time.
func (s *Service) sendDue(ctx context.Context) {
	for ctx.Err() == nil {
		now := s.stamp()
		mails, err := s.store.ClaimMail(ctx, now, now.Add(mailLease), mailBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("mail queue: claim failed", "err", err)
			}
			return
		}
		if len(mails) == 0 {
			return
		}
		for _, m := range mails {
			s.deliver(ctx, m)
		}
	}
}

// deliver sends one claimed mail and removes it, or schedules its retry.
func (s *Service) deliver(ctx context.Context, m store.QueuedMail) {
	// The bookkeeping outlives a Close in the middle of a send.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.StoreTimeout)
	defer cancel()
	msg, ok, err := s.compose(ctx, m)
	if err == nil && !ok {
		s.metrics.mailDropped.Inc()
		if err := s.store.DeleteMail(bctx, m.ID); err != nil {
			s.log.Warn("mail queue: delete failed", "id", m.ID, "err", err)
		}
		return
	}
	if err == nil {
		err = s.sender.Send(ctx, msg)
	}
	if err == nil {
		s.metrics.mailSent.Inc()
		if err := s.store.DeleteMail(bctx, m.ID); err != nil {
			s.log.Warn("mail queue: delete of a sent mail failed; it may go out twice", "id", m.ID, "err", err)
		}
		return
	}
	if ctx.Err() != nil {
		// Stopped in the middle (Close): not the mail's failure; it is
		// due again at once, for whichever instance runs next.
		if err := s.store.RetryMail(bctx, m.ID, m.Attempts, s.stamp()); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("mail queue: release failed; the lease brings it back", "id", m.ID, "err", err)
		}
		return
	}
	s.metrics.mailFailures.Inc()
	attempts := m.Attempts + 1
	if attempts >= mailMaxAttempts {
		s.log.Error("mail given up", "id", m.ID, "kind", m.Kind, "attempts", attempts, "err", err)
		if err := s.store.DeleteMail(bctx, m.ID); err != nil {
			s.log.Warn("mail queue: delete failed", "id", m.ID, "err", err)
		}
		return
	}
	next := s.stamp().Add(retryPause(attempts))
	s.log.Warn("mail send failed, will retry", "id", m.ID, "kind", m.Kind, "attempt", attempts, "next", next, "err", err)
	if err := s.store.RetryMail(bctx, m.ID, attempts, next); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("mail queue: retry not recorded; the lease brings it back", "id", m.ID, "err", err)
	}
}

// retryPause is the pause after the n-th failed send: 30 s, doubling,
// at most an hour.
func retryPause(n int) time.Duration {
	d := mailFirstRetry
	for i := 1; i < n && d < mailMaxRetry; i++ {
		d *= 2
	}
	return min(d, mailMaxRetry)
}

// compose renders a queued mail; ok is false when there is nothing to
// send any more (the account or its address is gone, the per-account
// code limit is reached, or the owner of an address was told within the
// hour that someone signed up with it). Codes are made here, when the mail goes out,
// so no code waits in the queue.
func (s *Service) compose(ctx context.Context, m store.QueuedMail) (msg mailer.Message, ok bool, err error) {
	d := mailer.Data{ServiceName: s.settings().ServiceName, Username: m.Username, Minutes: int(codeLifetime / time.Minute)}
	switch m.Kind {
	case store.MailNotice:
		// Anyone may sign up with an address, under as many names and
		// from as many IPs as they have: its owner is told once an hour
		// (per instance). Decided here, where the requester cannot time
		// it. A retried mail was counted at its first attempt.
		if m.Notice == string(NoticeSignupWithYourAddress) && m.Attempts == 0 {
			if ok, _ := s.addressNotices.take(m.AccountID, s.now(), addressNoticesPerHour); !ok {
				return msg, false, nil
			}
		}
		msg, err = s.templates.Render("notice_"+m.Notice, m.Address, d)
		return msg, err == nil, err
	case store.MailVerify:
		a, err := s.store.GetAccount(ctx, m.AccountID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && a.PendingEmail != m.Address) {
			return msg, false, nil
		}
		if err != nil {
			return msg, false, err
		}
		if d.Code, err = s.issueCode(ctx, a, store.PurposeVerify, m.Address, m.Attempts == 0); err != nil || d.Code == "" {
			return msg, false, err
		}
		d.Username = a.Username
		msg, err = s.templates.Render("verify", m.Address, d)
		return msg, err == nil, err
	case store.MailReset:
		a, err := s.accountByLogin(ctx, m.Login)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (a.Email == "" || a.Disabled)) {
			return msg, false, nil
		}
		if err != nil {
			return msg, false, err
		}
		if d.Code, err = s.issueCode(ctx, a, store.PurposeReset, a.Email, m.Attempts == 0); err != nil || d.Code == "" {
			return msg, false, err
		}
		d.Username = a.Username
		msg, err = s.templates.Render("reset", a.Email, d)
		return msg, err == nil, err
	}
	s.log.Error("mail queue: unknown kind dropped", "id", m.ID, "kind", m.Kind)
	return msg, false, nil
}

// mailLimiter counts what each key (a client's IP, IPv6: its /64; an
// account) is sent per hour. Safe for concurrent use; entries older than
// the window are dropped as the map grows.
type mailLimiter struct {
	mu      sync.Mutex
	windows map[string]mailWindow
}

type mailWindow struct {
	start time.Time
	n     int
}

// addressNoticesPerHour is how many "someone signed up with your
// address" notices an account is sent an hour, by each instance.
const addressNoticesPerHour = 1

// admitMail counts a mail-sending request of the request's client and
// refuses it (rate_limited) past MailRequestsPerIP an hour.
func (s *Service) admitMail(ctx context.Context) error {
	ok, wait := s.mailLimits.take(ClientKey(clientIPFrom(ctx)), s.now(), s.cfg.MailRequestsPerIP)
	if !ok {
		s.metrics.rateLimited.WithLabelValues(ScopeMail).Inc()
		return ErrRateLimited(wait)
	}
	return nil
}

// take counts one for key at now, unless key has had limit in the hour
// since its window began: then it reports false and how long until the
// window ends.
func (l *mailLimiter) take(key string, now time.Time, limit int) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.windows == nil {
		l.windows = map[string]mailWindow{}
	}
	if len(l.windows) > 10000 {
		for k, w := range l.windows {
			if now.Sub(w.start) >= time.Hour {
				delete(l.windows, k)
			}
		}
	}
	w := l.windows[key]
	if now.Sub(w.start) >= time.Hour {
		w = mailWindow{start: now}
	}
	if w.n >= limit {
		return false, w.start.Add(time.Hour).Sub(now)
	}
	w.n++
	l.windows[key] = w
	return true, 0
}

// newMailer builds the sender and the templates, or nils when mail is
// off.
func newMailer(cfg MailConfig) (*mailer.Sender, *mailer.Templates, error) {
	if !cfg.Enabled() {
		return nil, nil, nil
	}
	snd, err := mailer.NewSender(cfg.senderConfig())
	if err != nil {
		return nil, nil, err
	}
	t, err := mailer.LoadTemplates(cfg.TemplatesDir)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range Notices {
		if !t.Has("notice_" + string(n)) {
			return nil, nil, fmt.Errorf("mail templates: none for notice %s", n)
		}
	}
	return snd, t, nil
}
