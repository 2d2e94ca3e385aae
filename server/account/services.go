package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
)

// Service keys let an application backend authenticate its connection
// (service_auth): the connection then gets the key's own request limits,
// may name the end user's IP per request, and, with the admin scope, may
// call the admin operations, audited with the key's name.

// serviceKeyPrefix starts every service key, so that one pasted into the
// wrong place is recognisable (and findable by secret scanners).
const serviceKeyPrefix = "ask_"

var serviceNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

// Connection is what one transport connection has proven about itself:
// the service key it presented, if any. The transport makes one per
// connection and puts it in every request's context (WithConnection).
// Safe for concurrent use.
type Connection struct {
	mu      sync.Mutex
	service *ServiceIdentity
	// id binds the login challenges issued on the connection to it.
	id    string
	watch *Watch
}

// ServiceIdentity is the service key a connection presented.
type ServiceIdentity struct {
	// ID is the key's public id; Name the operator's name for it.
	ID, Name string
	Scopes   []string
}

// Service returns the identity the connection proved with service_auth,
// or nil.
func (c *Connection) Service() *ServiceIdentity {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.service
}

type connectionKey struct{}

// WithConnection returns a context carrying the request's connection.
func WithConnection(ctx context.Context, c *Connection) context.Context {
	return context.WithValue(ctx, connectionKey{}, c)
}

// ConnectionFrom returns the request's connection, or nil outside one
// (the command line).
func ConnectionFrom(ctx context.Context) *Connection {
	c, _ := ctx.Value(connectionKey{}).(*Connection)
	return c
}

// errServiceKey answers every refused service key alike.
var errServiceKey = NewError(protocol.CodeInvalidCredentials, "service key is invalid or revoked")

// NewServiceKey adds a service key named name with scopes and returns the
// key, which exists nowhere else afterwards: only the SHA-256 of its
// secret is stored. A name in use is an error wrapping
// store.ErrAlreadyExists.
func (s *Service) NewServiceKey(ctx context.Context, name string, scopes []string) (string, store.ServiceKey, error) {
	if !serviceNameRE.MatchString(name) {
		return "", store.ServiceKey{}, fmt.Errorf("service name %q: want 1 to 32 of a-z 0-9 . _ -, starting with a letter or digit", name)
	}
	scopes = slices.Clone(scopes)
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	for _, sc := range scopes {
		if !slices.Contains(store.Scopes, sc) {
			return "", store.ServiceKey{}, fmt.Errorf("unknown scope %q (known: %s)", sc, strings.Join(store.Scopes, ", "))
		}
	}
	id, err := randomID()
	if err != nil {
		return "", store.ServiceKey{}, err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", store.ServiceKey{}, err
	}
	sum := sha256.Sum256(secret)
	k := store.ServiceKey{ID: id, Name: name, SecretHash: sum[:], Scopes: scopes, CreatedAt: s.stamp()}
	e := s.event(ctx, store.AuthEvent{Type: store.EventServiceKeyAdded, Reason: name})
	if err := s.store.CreateServiceKey(ctx, k, e); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return "", store.ServiceKey{}, fmt.Errorf("a service named %q exists: %w", name, err)
		}
		if errors.Is(err, store.ErrOutcomeUnknown) {
			err = s.settle(ctx, err, func(ctx context.Context) (bool, error) {
				got, err := s.store.GetServiceKey(ctx, id)
				return err == nil && got.Name == name, notFound(err)
			})
		}
		if err != nil {
			return "", store.ServiceKey{}, fmt.Errorf("add service key: %w", err)
		}
	}
	return serviceKeyPrefix + id + "_" + hex.EncodeToString(secret), k, nil
}

// ServiceKeys returns every service key ordered by name.
func (s *Service) ServiceKeys(ctx context.Context) ([]store.ServiceKey, error) {
	return s.store.ListServiceKeys(ctx)
}

// RevokeServiceKey deletes the service key named name: new connections
// cannot present it, and connections that did lose its admin scope at
// once (admin operations read the key again). No such key is an error
// wrapping store.ErrNotFound.
func (s *Service) RevokeServiceKey(ctx context.Context, name string) error {
	e := s.event(ctx, store.AuthEvent{Type: store.EventServiceKeyRevoked, Reason: name})
	if err := s.store.DeleteServiceKey(ctx, name, e); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no service named %q: %w", name, err)
		}
		return fmt.Errorf("revoke service key: %w", err)
	}
	return nil
}

// parseServiceKey splits a key into its id and secret.
func parseServiceKey(key string) (id string, secret []byte, ok bool) {
	rest, ok := strings.CutPrefix(key, serviceKeyPrefix)
	if !ok {
		return "", nil, false
	}
	id, hexSecret, ok := strings.Cut(rest, "_")
	if !ok || !accountIDRE.MatchString(id) || len(hexSecret) != 64 {
		return "", nil, false
	}
	secret, err := hex.DecodeString(hexSecret)
	if err != nil {
		return "", nil, false
	}
	return id, secret, true
}

// lookupServiceKey returns the stored key that key is, or errServiceKey.
func (s *Service) lookupServiceKey(ctx context.Context, key string) (store.ServiceKey, error) {
	id, secret, ok := parseServiceKey(key)
	if !ok {
		return store.ServiceKey{}, errServiceKey
	}
	k, err := s.store.GetServiceKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.ServiceKey{}, errServiceKey
	}
	if err != nil {
		return store.ServiceKey{}, err
	}
	sum := sha256.Sum256(secret)
	if subtle.ConstantTimeCompare(sum[:], k.SecretHash) != 1 {
		return store.ServiceKey{}, errServiceKey
	}
	return k, nil
}

// ServiceAuth marks the request's connection as the service whose key it
// presents. A wrong or revoked key is invalid_credentials (and audited);
// a connection that already presented a key is refused.
func (s *Service) ServiceAuth(ctx context.Context, req protocol.ServiceAuthRequest) (*protocol.ServiceAuthResult, error) {
	conn := ConnectionFrom(ctx)
	if conn == nil {
		return nil, NewError(protocol.CodeForbidden, "service_auth needs a connection")
	}
	k, err := s.lookupServiceKey(ctx, req.Key)
	if errors.Is(err, errServiceKey) {
		s.audit(ctx, store.AuthEvent{Type: store.EventServiceAuthFailed})
	}
	if err != nil {
		return nil, err
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if conn.service != nil {
		return nil, NewError(protocol.CodeBadRequest, "this connection already presented a service key")
	}
	conn.service = &ServiceIdentity{ID: k.ID, Name: k.Name, Scopes: k.Scopes}
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return &protocol.ServiceAuthResult{Service: k.Name, Scopes: scopes}, nil
}

// errNotAdmin refuses an admin operation to a connection without an
// admin-scoped service key.
var errNotAdmin = NewError(protocol.CodeForbidden, "admin operations need a service key with the admin scope")

// requireAdmin returns the connection's service when its key still
// exists and has the admin scope.
func (s *Service) requireAdmin(ctx context.Context) (*ServiceIdentity, error) {
	svc := ConnectionFrom(ctx).Service()
	if svc == nil {
		return nil, errNotAdmin
	}
	// Read again: a key revoked since service_auth has no rights left.
	k, err := s.store.GetServiceKey(ctx, svc.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotAdmin
	}
	if err != nil {
		return nil, err
	}
	if !slices.Contains(k.Scopes, store.ScopeAdmin) {
		return nil, errNotAdmin
	}
	return svc, nil
}

// adminReason is the audit Reason of an admin decision: ReasonAdmin from
// the command line, the service's name over the protocol.
func adminReason(ctx context.Context) string {
	if svc := ConnectionFrom(ctx).Service(); svc != nil {
		return store.ReasonServicePrefix + svc.Name
	}
	return store.ReasonAdmin
}

func adminUser(a store.Account) protocol.AdminUser {
	return protocol.AdminUser{ID: a.ID, Username: a.Username, Email: a.Email, PendingEmail: a.PendingEmail, Disabled: a.Disabled, CreatedAt: a.CreatedAt, FailedLogins: a.Failures.Count, SecondFactor: a.SecondFactor}
}

// adminFind is requireAdmin and FindAccount, with no such account as
// not_found.
func (s *Service) adminFind(ctx context.Context, who string) (store.Account, error) {
	if _, err := s.requireAdmin(ctx); err != nil {
		return store.Account{}, err
	}
	if who == "" {
		return store.Account{}, NewError(protocol.CodeBadRequest, "user is required")
	}
	a, err := s.FindAccount(ctx, who)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, NewError(protocol.CodeNotFound, "no such user")
	}
	return a, err
}

// adminWrite maps a write on an account that vanished meanwhile to
// not_found.
func adminWrite(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return NewError(protocol.CodeNotFound, "no such user")
	}
	return err
}

// AdminListUsers is admin_list_users: every account, by username.
func (s *Service) AdminListUsers(ctx context.Context, _ protocol.AdminListUsersRequest) (*protocol.AdminUsersResult, error) {
	if _, err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	list, err := s.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	out := &protocol.AdminUsersResult{Users: make([]protocol.AdminUser, 0, len(list))}
	for _, a := range list {
		out.Users = append(out.Users, adminUser(a))
	}
	return out, nil
}

// AdminShowUser is admin_show_user.
func (s *Service) AdminShowUser(ctx context.Context, req protocol.AdminUserRequest) (*protocol.AdminUserResult, error) {
	a, err := s.adminFind(ctx, req.User)
	if err != nil {
		return nil, err
	}
	return &protocol.AdminUserResult{User: adminUser(a)}, nil
}

// AdminDisableUser is admin_disable_user: DisableAccount, audited with
// the service's name.
func (s *Service) AdminDisableUser(ctx context.Context, req protocol.AdminUserRequest) (*protocol.SessionsEndedResult, error) {
	a, err := s.adminFind(ctx, req.User)
	if err != nil {
		return nil, err
	}
	n, err := s.DisableAccount(ctx, a.ID)
	if err != nil {
		return nil, adminWrite(err)
	}
	return &protocol.SessionsEndedResult{SessionsEnded: n}, nil
}

// AdminEnableUser is admin_enable_user.
func (s *Service) AdminEnableUser(ctx context.Context, req protocol.AdminUserRequest) (*protocol.AdminUserResult, error) {
	a, err := s.adminFind(ctx, req.User)
	if err != nil {
		return nil, err
	}
	if err := s.EnableAccount(ctx, a.ID); err != nil {
		return nil, adminWrite(err)
	}
	a.Disabled = false
	return &protocol.AdminUserResult{User: adminUser(a)}, nil
}

// AdminDeleteUser is admin_delete_user.
func (s *Service) AdminDeleteUser(ctx context.Context, req protocol.AdminUserRequest) (*protocol.SessionsEndedResult, error) {
	a, err := s.adminFind(ctx, req.User)
	if err != nil {
		return nil, err
	}
	n, err := s.DeleteAccount(ctx, a.ID)
	if err != nil {
		return nil, adminWrite(err)
	}
	return &protocol.SessionsEndedResult{SessionsEnded: n}, nil
}

// AdminUnlockUser is admin_unlock_user.
func (s *Service) AdminUnlockUser(ctx context.Context, req protocol.AdminUserRequest) (*protocol.AdminUnlockResult, error) {
	a, err := s.adminFind(ctx, req.User)
	if err != nil {
		return nil, err
	}
	n, err := s.UnlockAccount(ctx, a.ID)
	if err != nil {
		return nil, adminWrite(err)
	}
	return &protocol.AdminUnlockResult{FailuresCleared: n}, nil
}

// AdminEndSessions is admin_end_sessions: every live session of the
// account ends.
func (s *Service) AdminEndSessions(ctx context.Context, req protocol.AdminUserRequest) (*protocol.SessionsEndedResult, error) {
	a, err := s.adminFind(ctx, req.User)
	if err != nil {
		return nil, err
	}
	n, err := s.LogoutAccount(ctx, a.ID)
	if err != nil {
		return nil, adminWrite(err)
	}
	return &protocol.SessionsEndedResult{SessionsEnded: n}, nil
}
