package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
)

// lastUsedResolution is how stale a session's LastUsedAt may get: a token
// accepted more than this after the recorded use writes the new time, so
// a busy session costs one write a minute, not one per authenticate.
const lastUsedResolution = time.Minute

// touch records that sess was used now when its last recorded use is
// lastUsedResolution old or more, and returns sess as it then is. A
// failed write is logged: the session list is only less precise.
func (s *Service) touch(ctx context.Context, sess store.Session) store.Session {
	now := s.stamp()
	if now.Sub(sess.LastUsedAt) < lastUsedResolution {
		return sess
	}
	if err := s.store.TouchSession(ctx, sess.ID, now); err != nil {
		s.log.Warn("recording a session's last use failed", "session", sess.ID, "err", err)
		return sess
	}
	s.view.touched(sess.ID, now)
	sess.LastUsedAt = now
	return sess
}

var errNoSuchSession = NewError(protocol.CodeNotFound, "no such session on this account")

// Sessions lists the live sessions of the token's account, oldest first,
// marking the token's own.
func (s *Service) Sessions(ctx context.Context, req protocol.TokenRequest) (*protocol.SessionsResult, error) {
	a, sess, err := s.verify(ctx, req.Token, protocol.OpSessions)
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListSessions(ctx, a.ID, s.stamp())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	out := &protocol.SessionsResult{Sessions: make([]protocol.SessionDetail, 0, len(list))}
	for _, x := range list {
		used := x.LastUsedAt
		if used.IsZero() {
			used = x.CreatedAt
		}
		out.Sessions = append(out.Sessions, protocol.SessionDetail{
			ID: x.ID, CreatedAt: x.CreatedAt, LastUsedAt: used, ExpiresAt: x.ExpiresAt,
			ClientIP: x.IP, Client: x.Client, Current: x.ID == sess.ID,
		})
	}
	return out, nil
}

// RevokeSession ends one session of the token's account (the token's own
// included). A session of another account is answered like one that
// does not exist.
func (s *Service) RevokeSession(ctx context.Context, req protocol.RevokeSessionRequest) (*protocol.RevokeSessionResult, error) {
	a, _, err := s.verify(ctx, req.Token, protocol.OpRevokeSession)
	if err != nil {
		return nil, err
	}
	if !accountIDRE.MatchString(req.SessionID) {
		return nil, NewError(protocol.CodeBadRequest, "session_id must be 32 lower-case hex characters")
	}
	e := s.event(ctx, store.AuthEvent{Type: store.EventSessionsRevoked, Reason: store.ReasonOneSession, AccountID: a.ID, SessionID: req.SessionID})
	err = s.store.RevokeSession(ctx, a.ID, req.SessionID, e)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSuchSession
	}
	if err != nil {
		return nil, fmt.Errorf("revoke session: %w", err)
	}
	return &protocol.RevokeSessionResult{SessionID: req.SessionID}, nil
}

// LogoutAll ends every live session of the token's account, or every one
// but the token's own with KeepCurrent.
func (s *Service) LogoutAll(ctx context.Context, req protocol.LogoutAllRequest) (*protocol.SessionsEndedResult, error) {
	a, sess, err := s.verify(ctx, req.Token, protocol.OpLogoutAll)
	if err != nil {
		return nil, err
	}
	keep, reason := "", store.ReasonAllSessions
	if req.KeepCurrent {
		keep, reason = sess.ID, store.ReasonOthersEnded
	}
	e := s.event(ctx, store.AuthEvent{Type: store.EventSessionsRevoked, Reason: reason, AccountID: a.ID, SessionID: sess.ID})
	n, err := s.store.RevokeAccountSessions(ctx, a.ID, keep, e)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken // the account was deleted meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("revoke sessions: %w", err)
	}
	return &protocol.SessionsEndedResult{SessionsEnded: n}, nil
}

// PruneSessions deletes the sessions whose absolute lifetime has passed
// (no token of theirs is accepted any more), and the revocation log's
// entries of sessions that ended a while ago, and returns how many
// sessions it deleted.
func (s *Service) PruneSessions(ctx context.Context) (int64, error) {
	n, err := s.store.PruneSessions(ctx, s.stamp())
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", err)
	}
	if _, err := s.pruneRevocations(ctx); err != nil {
		return n, fmt.Errorf("prune revocations: %w", err)
	}
	return n, nil
}

// RunSessionPruner prunes ended sessions at once and then every
// SessionPruneInterval, until ctx ends. Several instances may run it at
// once: a delete by end time is idempotent.
func (s *Service) RunSessionPruner(ctx context.Context) {
	s.runPruner(ctx, "sessions", s.cfg.SessionPruneInterval, s.PruneSessions)
}
