package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/accountd/accountd/protocol"
)

// Types of the application-backend operations.
type (
	// ServiceAuthResult is the service a key names and its scopes.
	ServiceAuthResult = protocol.ServiceAuthResult
	// AdminUser is an account as the admin operations show it.
	AdminUser = protocol.AdminUser
)

type clientIPKey struct{}

// WithClientIP returns a context whose calls tell the server the end
// user's IP address (a backend calling on a user's behalf), for that
// user's rate limit and the audit log. Only a connection that presented
// a service key (Options.ServiceKey) may do so; on any other the server
// answers ErrForbidden.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

func clientIPFrom(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// ServiceAuth presents a service key (printed by `accountd services
// add`): the connection then counts against the service's own rate
// limit instead of its IP's, may name end users' IPs (WithClientIP), and
// with the admin scope may call the Admin operations. A wrong or revoked
// key is ErrInvalidCredentials. Dial and Client do this by themselves
// when Options.ServiceKey is set.
func (c *Conn) ServiceAuth(ctx context.Context, key string) (*ServiceAuthResult, error) {
	var r ServiceAuthResult
	if err := c.call(ctx, protocol.OpServiceAuth, protocol.ServiceAuthRequest{Key: key}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// serviceAuth runs ServiceAuth for Dial, with an error that names the
// step.
func (c *Conn) serviceAuth(ctx context.Context, key string) error {
	if _, err := c.ServiceAuth(ctx, key); err != nil {
		var se *ServerError
		if errors.As(err, &se) {
			return fmt.Errorf("client: %s refused the service key: %w", c.server, err)
		}
		return err
	}
	return nil
}

func (c *Conn) adminUser(ctx context.Context, op, user string, result any) error {
	return c.call(ctx, op, protocol.AdminUserRequest{User: user}, result)
}

// AdminListUsers lists every account, by username. It needs a service
// key with the admin scope (else ErrForbidden), as every Admin call does.
func (c *Conn) AdminListUsers(ctx context.Context) ([]AdminUser, error) {
	var r protocol.AdminUsersResult
	if err := c.call(ctx, protocol.OpAdminListUsers, protocol.AdminListUsersRequest{}, &r); err != nil {
		return nil, err
	}
	return r.Users, nil
}

// AdminShowUser returns the account with a username or id; none is
// ErrNotFound.
func (c *Conn) AdminShowUser(ctx context.Context, user string) (*AdminUser, error) {
	var r protocol.AdminUserResult
	if err := c.adminUser(ctx, protocol.OpAdminShowUser, user, &r); err != nil {
		return nil, err
	}
	return &r.User, nil
}

// AdminDisableUser disables an account and ends its sessions, returning
// how many ended; the audit log names the service.
func (c *Conn) AdminDisableUser(ctx context.Context, user string) (int, error) {
	var r protocol.SessionsEndedResult
	if err := c.adminUser(ctx, protocol.OpAdminDisableUser, user, &r); err != nil {
		return 0, err
	}
	return r.SessionsEnded, nil
}

// AdminEnableUser lets a disabled account log in again.
func (c *Conn) AdminEnableUser(ctx context.Context, user string) (*AdminUser, error) {
	var r protocol.AdminUserResult
	if err := c.adminUser(ctx, protocol.OpAdminEnableUser, user, &r); err != nil {
		return nil, err
	}
	return &r.User, nil
}

// AdminDeleteUser deletes an account and its sessions, returning how
// many sessions were live.
func (c *Conn) AdminDeleteUser(ctx context.Context, user string) (int, error) {
	var r protocol.SessionsEndedResult
	if err := c.adminUser(ctx, protocol.OpAdminDeleteUser, user, &r); err != nil {
		return 0, err
	}
	return r.SessionsEnded, nil
}

// AdminUnlockUser clears an account's failed-login counter, returning
// the count it cleared.
func (c *Conn) AdminUnlockUser(ctx context.Context, user string) (int, error) {
	var r protocol.AdminUnlockResult
	if err := c.adminUser(ctx, protocol.OpAdminUnlockUser, user, &r); err != nil {
		return 0, err
	}
	return r.FailuresCleared, nil
}

// AdminEndSessions ends every live session of an account, returning how
// many ended.
func (c *Conn) AdminEndSessions(ctx context.Context, user string) (int, error) {
	var r protocol.SessionsEndedResult
	if err := c.adminUser(ctx, protocol.OpAdminEndSessions, user, &r); err != nil {
		return 0, err
	}
	return r.SessionsEnded, nil
}

// AdminListUsers is Conn.AdminListUsers on a pooled connection, repeated
// once if the connection drops under it.
func (c *Client) AdminListUsers(ctx context.Context) ([]AdminUser, error) {
	var r []AdminUser
	err := c.do(ctx, true, func(conn *Conn) (err error) {
		r, err = conn.AdminListUsers(ctx)
		return err
	})
	return r, err
}

// AdminShowUser is Conn.AdminShowUser on a pooled connection, repeated
// once if the connection drops under it.
func (c *Client) AdminShowUser(ctx context.Context, user string) (*AdminUser, error) {
	var r *AdminUser
	err := c.do(ctx, true, func(conn *Conn) (err error) {
		r, err = conn.AdminShowUser(ctx, user)
		return err
	})
	return r, err
}

// AdminDisableUser is Conn.AdminDisableUser on a pooled connection,
// repeated once if the connection drops under it (disabling twice is
// harmless).
func (c *Client) AdminDisableUser(ctx context.Context, user string) (int, error) {
	var n int
	err := c.do(ctx, true, func(conn *Conn) (err error) {
		n, err = conn.AdminDisableUser(ctx, user)
		return err
	})
	return n, err
}

// AdminEnableUser is Conn.AdminEnableUser on a pooled connection,
// repeated once if the connection drops under it.
func (c *Client) AdminEnableUser(ctx context.Context, user string) (*AdminUser, error) {
	var r *AdminUser
	err := c.do(ctx, true, func(conn *Conn) (err error) {
		r, err = conn.AdminEnableUser(ctx, user)
		return err
	})
	return r, err
}

// AdminDeleteUser is Conn.AdminDeleteUser on a pooled connection; it is
// not repeated when the connection drops under it.
func (c *Client) AdminDeleteUser(ctx context.Context, user string) (int, error) {
	var n int
	err := c.do(ctx, false, func(conn *Conn) (err error) {
		n, err = conn.AdminDeleteUser(ctx, user)
		return err
	})
	return n, err
}

// AdminUnlockUser is Conn.AdminUnlockUser on a pooled connection,
// repeated once if the connection drops under it.
func (c *Client) AdminUnlockUser(ctx context.Context, user string) (int, error) {
	var n int
	err := c.do(ctx, true, func(conn *Conn) (err error) {
		n, err = conn.AdminUnlockUser(ctx, user)
		return err
	})
	return n, err
}

// AdminEndSessions is Conn.AdminEndSessions on a pooled connection,
// repeated once if the connection drops under it.
func (c *Client) AdminEndSessions(ctx context.Context, user string) (int, error) {
	var n int
	err := c.do(ctx, true, func(conn *Conn) (err error) {
		n, err = conn.AdminEndSessions(ctx, user)
		return err
	})
	return n, err
}
