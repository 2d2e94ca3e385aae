package account

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/accountd/accountd/server/internal/keyring"
	"github.com/accountd/accountd/store"
)

// The administrator's decisions. Each is written to the audit log with
// Reason store.ReasonAdmin (or, made over the protocol with a service
// key, the service's name), in the same transaction as its change; the
// IP is the context's (WithClientIP), empty for the command line.

var accountIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// FindAccount returns the account with a username (any case) or an
// account id. It returns an error wrapping store.ErrNotFound when there
// is none.
func (s *Service) FindAccount(ctx context.Context, who string) (store.Account, error) {
	a, err := s.store.GetAccountByUsername(ctx, strings.ToLower(who))
	if errors.Is(err, store.ErrNotFound) && accountIDRE.MatchString(who) {
		a, err = s.store.GetAccount(ctx, who)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, fmt.Errorf("no account %q: %w", who, err)
	}
	return a, err
}

// ListAccounts returns every account ordered by username.
func (s *Service) ListAccounts(ctx context.Context) ([]store.Account, error) {
	return s.store.ListAccounts(ctx)
}

func (s *Service) adminEvent(ctx context.Context, typ, id string) store.AuthEvent {
	return s.event(ctx, store.AuthEvent{Type: typ, Reason: adminReason(ctx), AccountID: id})
}

// DisableAccount disables an account and revokes its live sessions, in
// one transaction; it returns how many sessions it revoked. A disabled
// account cannot log in and its tokens are refused.
func (s *Service) DisableAccount(ctx context.Context, id string) (int, error) {
	n, err := s.store.SetAccountDisabled(ctx, id, true, s.adminEvent(ctx, store.EventDisabled, id))
	if err != nil {
		return 0, fmt.Errorf("disable account: %w", err)
	}
	return n, nil
}

// EnableAccount lets a disabled account log in again.
func (s *Service) EnableAccount(ctx context.Context, id string) error {
	if _, err := s.store.SetAccountDisabled(ctx, id, false, s.adminEvent(ctx, store.EventEnabled, id)); err != nil {
		return fmt.Errorf("enable account: %w", err)
	}
	return nil
}

// DeleteAccount deletes an account and its sessions; it returns how many
// of the sessions were live. The audit log keeps the account id only.
func (s *Service) DeleteAccount(ctx context.Context, id string) (int, error) {
	n, err := s.store.DeleteAccount(ctx, id, s.adminEvent(ctx, store.EventDeleted, id))
	if err != nil {
		return 0, fmt.Errorf("delete account: %w", err)
	}
	return n, nil
}

// UnlockAccount clears an account's failed-login counter (a lock or a
// throttle) and returns how many failures it cleared.
func (s *Service) UnlockAccount(ctx context.Context, id string) (int, error) {
	n, err := s.store.ResetLoginFailures(ctx, id, s.adminEvent(ctx, store.EventUnlocked, id))
	if err != nil {
		return 0, fmt.Errorf("unlock account: %w", err)
	}
	return n, nil
}

// SigningKeyState is a signing key and where it is in its life: one of
// "signing", "published, not signing yet", "verifies only", "superseded,
// never signs" or "expired".
type SigningKeyState struct {
	Key   store.SigningKey
	State string
}

// SigningKeys returns every signing key with its state now, the signer
// chosen as the servers choose it.
func (s *Service) SigningKeys(ctx context.Context) ([]SigningKeyState, error) {
	keys, err := s.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	var out []SigningKeyState
	for _, k := range keyring.Describe(keys, s.now()) {
		out = append(out, SigningKeyState{Key: k.Key, State: string(k.State)})
	}
	return out, nil
}

// RotateSigningKeys writes the next signing key now, whatever the age of
// the current one: every server publishes it at its next reload of the
// keys, and it signs after KeyPublishLead, or at once when immediate.
// Either way the keys before it stop signing when it starts, and stay
// published until the last token they signed has expired. Unless
// immediate, a rotation already under way is not followed by another. It
// returns the newest key and whether this call wrote it.
func (s *Service) RotateSigningKeys(ctx context.Context, immediate bool) (store.SigningKey, bool, error) {
	k, won, err := s.keys.Rotate(ctx, immediate)
	if err == nil && won {
		s.audit(ctx, store.AuthEvent{Type: store.EventKeyRotated, Reason: k.ID})
	}
	return k, won, err
}

// RecordConfigChange writes to the audit log that an administrator
// changed the setting key of the sealed config. Unlike the log of a
// request's decision, a failed write is returned: the caller makes the
// change only once it is on record.
func (s *Service) RecordConfigChange(ctx context.Context, key string) error {
	e := s.event(ctx, store.AuthEvent{Type: store.EventConfigChanged, Reason: key})
	if err := s.store.AddAuthEvent(ctx, e); err != nil {
		return fmt.Errorf("audit config change: %w", err)
	}
	return nil
}

// AccountSessions returns the account's live sessions, oldest first.
func (s *Service) AccountSessions(ctx context.Context, id string) ([]store.Session, error) {
	list, err := s.store.ListSessions(ctx, id, s.stamp())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return list, nil
}

// LogoutAccount ends every live session of an account, in one
// transaction with its audit event, and returns how many it ended.
func (s *Service) LogoutAccount(ctx context.Context, id string) (int, error) {
	n, err := s.store.RevokeAccountSessions(ctx, id, "", s.adminEvent(ctx, store.EventSessionsRevoked, id))
	if err != nil {
		return 0, fmt.Errorf("log out account: %w", err)
	}
	return n, nil
}
