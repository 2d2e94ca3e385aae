package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Client is a long-lived handle on one server for programs that outlive a
// connection (a terminal menu, a game client, an application backend). It
// dials on first use and, when a connection drops (the server restarted,
// the network blinked), dials again on the next call. Session tokens
// belong to sessions on the server, not to connections, so a token
// obtained before a redial keeps working after it.
//
// A Client keeps a pool of up to Options.MaxConns connections and sends
// each call on one that no other call is using, dialing another when all
// are busy: the server answers one request at a time per connection, so
// one slow call (a login waits for its password hash) never holds up the
// calls beside it. Past MaxConns calls in flight, a call waits for a free
// connection (or for its context).
//
// A connection the server closed for being idle (close code 4003) is
// redialed and the call sent again, whatever the call: the server
// processed nothing sent after that close.
//
// When the connection drops under Login, Authenticate, Refresh, Logout,
// Policy, Sessions, RevokeSession or LogoutAll, or a Signup with a
// password (it carries an idempotency key), the call is repeated once
// on a fresh connection (if the server said it
// was shutting down and cannot be reached again, the error is
// ErrServerShuttingDown and wraps the dial error too): repeating them is
// harmless (at worst a repeated Login leaves an unused session that
// expires). A Signup without a password, ChangePassword, ChangeEmail and DeleteAccount are
// never repeated, because the server may have made the change before the
// connection dropped (and a repeat would then be refused); their error
// then wraps ErrConnection (or is ErrServerShuttingDown) and the next
// call redials. A dropped connection also discards the idle ones, which
// most likely went the same way.
//
// Every dial runs the full handshake and checks the server's identity
// against Options.Trust, exactly like Dial. A Client is safe for
// concurrent use.
type Client struct {
	addr string
	opts Options
	// slots holds one token per call in flight: there are never more
	// connections than MaxConns, since a call dials only when every
	// connection is in use by another call.
	slots chan struct{}

	mu          sync.Mutex
	idle        []*Conn
	gen         uint64 // bumped by Close and by a drop: older connections are not reused
	fingerprint string
}

// DefaultMaxConns is the pool size of a Client when Options.MaxConns is 0.
const DefaultMaxConns = 4

// NewClient returns a Client for the server at addr. It does not dial:
// the first call (or Connect) does.
func NewClient(addr string, opts Options) (*Client, error) {
	if opts.Trust == nil {
		return nil, errors.New("client: options: Trust is required")
	}
	if opts.MaxConns < 0 {
		return nil, errors.New("client: options: MaxConns is negative")
	}
	if _, _, err := ServerAddress(addr); err != nil {
		return nil, err
	}
	n := opts.MaxConns
	if n == 0 {
		n = DefaultMaxConns
	}
	if opts.DeviceTokens == nil {
		opts.DeviceTokens = NewMemoryDeviceTokens()
	}
	return &Client{addr: addr, opts: opts, slots: make(chan struct{}, n)}, nil
}

// DeviceTokens is where the Client keeps the device tokens of its
// completed logins (SPEC §5.4.6): Options.DeviceTokens, or the
// in-memory store it made when that was nil. A program that outlives
// its process saves them from here, or passes its own store.
func (c *Client) DeviceTokens() DeviceTokens { return c.opts.DeviceTokens }

// Connect makes sure one connection is open, dialing unless one is. It
// returns Dial's errors.
func (c *Client) Connect(ctx context.Context) error {
	conn, gen, err := c.acquire(ctx)
	if err != nil {
		return err
	}
	c.release(conn, gen)
	return nil
}

// acquire takes a slot and a live connection: an idle one, or a new one.
func (c *Client) acquire(ctx context.Context) (*Conn, uint64, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, fmt.Errorf("%w: %s: waiting for a free connection: %w", ErrConnection, c.Server(), ctx.Err())
	}
	c.mu.Lock()
	gen := c.gen
	for len(c.idle) > 0 {
		conn := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if conn.broken() == nil {
			c.mu.Unlock()
			return conn, gen, nil
		}
		conn.ws.CloseNow()
	}
	c.mu.Unlock()
	conn, err := Dial(ctx, c.addr, c.opts)
	if err != nil {
		<-c.slots
		return nil, 0, err
	}
	c.mu.Lock()
	c.fingerprint = conn.Fingerprint()
	c.mu.Unlock()
	return conn, gen, nil
}

// release returns a connection to the pool, unless it broke or the pool
// was emptied since it was taken, and frees the slot.
func (c *Client) release(conn *Conn, gen uint64) {
	c.mu.Lock()
	if conn.broken() == nil && gen == c.gen {
		c.idle = append(c.idle, conn)
		conn = nil
	}
	c.mu.Unlock()
	if conn != nil {
		conn.ws.CloseNow()
	}
	<-c.slots
}

// discardIdle closes the idle connections and keeps those in use from
// coming back to the pool.
func (c *Client) discardIdle() error {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.gen++
	c.mu.Unlock()
	var errs []error
	for _, conn := range idle {
		errs = append(errs, conn.Close())
	}
	return errors.Join(errs...)
}

// Connected reports whether an idle connection is open and has not
// failed, or a call is in flight. A connection that the server closed
// while idle still counts as open until the next call finds out.
func (c *Client) Connected() bool {
	if len(c.slots) > 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.idle {
		if conn.broken() == nil {
			return true
		}
	}
	return false
}

// Server returns the host:port name the server is pinned under.
func (c *Client) Server() string {
	_, name, _ := ServerAddress(c.addr)
	return name
}

// Fingerprint returns the identity fingerprint of the last server
// connected to, or "" before the first connection.
func (c *Client) Fingerprint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fingerprint
}

// Close closes the idle connections; those in use close when their call
// ends. The Client can be used again afterwards: the next call dials.
func (c *Client) Close() error {
	return c.discardIdle()
}

// do runs f on a live connection; when the connection drops under f and
// repeat is set, it runs f once more on a fresh one.
func (c *Client) do(ctx context.Context, repeat bool, f func(*Conn) error) error {
	conn, gen, err := c.acquire(ctx)
	if err != nil {
		return err
	}
	err = f(conn)
	c.release(conn, gen)
	if !dropped(err) || conn.broken() == nil {
		return err
	}
	c.discardIdle()
	if !(repeat || errors.Is(err, errIdleClosed)) || ctx.Err() != nil {
		return err
	}
	conn, gen, derr := c.acquire(ctx)
	if derr != nil {
		if errors.Is(err, ErrServerShuttingDown) && dropped(derr) {
			// Keep saying why: the server went away, and is not back.
			return fmt.Errorf("%w; redial: %w", err, derr)
		}
		return derr
	}
	defer c.release(conn, gen)
	return f(conn)
}

// dropped reports whether err means the connection is gone (as opposed
// to a refusal by the server).
func dropped(err error) bool {
	return errors.Is(err, ErrConnection) || errors.Is(err, ErrServerShuttingDown)
}

// Signup is Conn.Signup on a live connection; it is not repeated when the
// connection drops under it.
func (c *Client) Signup(ctx context.Context, username, password, email string) (*SignupResult, error) {
	return c.SignupWith(ctx, SignupRequest{Username: username, Password: password, Email: email})
}

// SignupWith is Conn.SignupWith on a live connection. With a password it
// carries an idempotency key (a fresh one unless req has one), and is
// sent once more, with the same key, when the connection drops under it
// or the server answers ErrOutcomeUnknown: the repeat learns what the
// first did. Without a password (the server generates one, returned
// once) it is never repeated.
func (c *Client) SignupWith(ctx context.Context, req SignupRequest) (*SignupResult, error) {
	repeat := req.Password != ""
	if repeat && req.IdempotencyKey == "" {
		req.IdempotencyKey = NewIdempotencyKey()
	}
	var r *SignupResult
	err := c.do(ctx, repeat, func(conn *Conn) (err error) {
		r, err = conn.SignupWith(ctx, req)
		return err
	})
	if repeat && errors.Is(err, ErrOutcomeUnknown) && ctx.Err() == nil {
		err = c.do(ctx, false, func(conn *Conn) (err error) {
			r, err = conn.SignupWith(ctx, req)
			return err
		})
	}
	return r, err
}

// Login is Conn.Login on a live connection, repeated once if the
// connection drops under it.
func (c *Client) Login(ctx context.Context, username, password string) (*Token, error) {
	return c.LoginWith(ctx, LoginRequest{Username: username, Password: password})
}

// LoginWith is Conn.LoginWith on a live connection, repeated once if the
// connection drops under it.
func (c *Client) LoginWith(ctx context.Context, req LoginRequest) (*Token, error) {
	var r *Token
	err := c.do(ctx, true, func(conn *Conn) (err error) {
		r, err = conn.LoginWith(ctx, req)
		return err
	})
	return r, err
}

// LoginSecondFactor is Conn.LoginSecondFactor on the connection that
// logged in (the server binds the challenge to it); when that
// connection is gone or was closed, the error is ErrChallengeExpired.
func (c *Client) LoginSecondFactor(ctx context.Context, sf *SecondFactorRequired, answer SecondFactorAnswer) (*Token, error) {
	gen, err := c.acquireConn(ctx, sf.conn)
	if err != nil {
		return nil, err
	}
	defer c.release(sf.conn, gen)
	return sf.conn.LoginSecondFactor(ctx, sf.Challenge, answer)
}

// acquireConn takes a slot and conn itself, which must be idle in the
// pool and live.
func (c *Client) acquireConn(ctx context.Context, conn *Conn) (uint64, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: %s: waiting for a free connection: %w", ErrConnection, c.Server(), ctx.Err())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, idle := range c.idle {
		if idle == conn && conn != nil && conn.broken() == nil {
			c.idle = append(c.idle[:i], c.idle[i+1:]...)
			return c.gen, nil
		}
	}
	<-c.slots
	return 0, ErrChallengeExpired
}

// TOTPBegin is Conn.TOTPBegin on a live connection, repeated once if the
// connection drops under it (a repeat replaces the pending secret).
func (c *Client) TOTPBegin(ctx context.Context, token, password string) (*TOTPEnrolment, error) {
	var r *TOTPEnrolment
	err := c.do(ctx, true, func(conn *Conn) (err error) {
		r, err = conn.TOTPBegin(ctx, token, password)
		return err
	})
	return r, err
}

// TOTPConfirm is Conn.TOTPConfirm on a live connection; it is not
// repeated when the connection drops under it.
func (c *Client) TOTPConfirm(ctx context.Context, token, code string) ([]string, error) {
	var r []string
	err := c.do(ctx, false, func(conn *Conn) (err error) {
		r, err = conn.TOTPConfirm(ctx, token, code)
		return err
	})
	return r, err
}

// TOTPDisable is Conn.TOTPDisable on a live connection; it is not
// repeated when the connection drops under it.
func (c *Client) TOTPDisable(ctx context.Context, token, password, code string) error {
	return c.do(ctx, false, func(conn *Conn) error { return conn.TOTPDisable(ctx, token, password, code) })
}

// RegenerateRecoveryCodes is Conn.RegenerateRecoveryCodes on a live
// connection; it is not repeated when the connection drops under it.
func (c *Client) RegenerateRecoveryCodes(ctx context.Context, token, password, code string) ([]string, error) {
	var r []string
	err := c.do(ctx, false, func(conn *Conn) (err error) {
		r, err = conn.RegenerateRecoveryCodes(ctx, token, password, code)
		return err
	})
	return r, err
}

// Policy is Conn.Policy on a live connection, repeated once if the
// connection drops under it.
func (c *Client) Policy(ctx context.Context) (*Policy, error) {
	var r *Policy
	err := c.do(ctx, true, func(conn *Conn) (err error) {
		r, err = conn.Policy(ctx)
		return err
	})
	return r, err
}

// ChangePassword is Conn.ChangePassword on a live connection; it is not
// repeated when the connection drops under it.
func (c *Client) ChangePassword(ctx context.Context, req ChangePasswordRequest) (*PasswordChange, error) {
	var r *PasswordChange
	err := c.do(ctx, false, func(conn *Conn) (err error) {
		r, err = conn.ChangePassword(ctx, req)
		return err
	})
	return r, err
}

// Sessions is Conn.Sessions on a live connection, repeated once if the
// connection drops under it.
func (c *Client) Sessions(ctx context.Context, token string) ([]SessionDetail, error) {
	var r []SessionDetail
	err := c.do(ctx, true, func(conn *Conn) (err error) {
		r, err = conn.Sessions(ctx, token)
		return err
	})
	return r, err
}

// RevokeSession is Conn.RevokeSession on a live connection, repeated
// once if the connection drops under it (revoking twice is harmless).
func (c *Client) RevokeSession(ctx context.Context, token, sessionID string) error {
	return c.do(ctx, true, func(conn *Conn) error { return conn.RevokeSession(ctx, token, sessionID) })
}

// LogoutAll is Conn.LogoutAll on a live connection, repeated once if the
// connection drops under it.
func (c *Client) LogoutAll(ctx context.Context, token string, keepCurrent bool) (int, error) {
	var n int
	err := c.do(ctx, true, func(conn *Conn) (err error) {
		n, err = conn.LogoutAll(ctx, token, keepCurrent)
		return err
	})
	return n, err
}

// ChangeEmail is Conn.ChangeEmail on a live connection; it is not
// repeated when the connection drops under it.
func (c *Client) ChangeEmail(ctx context.Context, token, password, newEmail string) (*Account, error) {
	return c.ChangeEmailWith(ctx, ChangeEmailRequest{Token: token, Password: password, NewEmail: newEmail})
}

// ChangeEmailWith is Conn.ChangeEmailWith on a live connection; it is
// not repeated when the connection drops under it (the code may be used).
func (c *Client) ChangeEmailWith(ctx context.Context, req ChangeEmailRequest) (*Account, error) {
	var r *Account
	err := c.do(ctx, false, func(conn *Conn) (err error) {
		r, err = conn.ChangeEmailWith(ctx, req)
		return err
	})
	return r, err
}

// VerifyEmail is Conn.VerifyEmail on a live connection; it is not
// repeated when the connection drops under it (the code may be used).
func (c *Client) VerifyEmail(ctx context.Context, token, code string) (*Account, error) {
	var r *Account
	err := c.do(ctx, false, func(conn *Conn) (err error) {
		r, err = conn.VerifyEmail(ctx, token, code)
		return err
	})
	return r, err
}

// VerifyEmailLogin is Conn.VerifyEmailLogin on a live connection; it is
// not repeated when the connection drops under it.
func (c *Client) VerifyEmailLogin(ctx context.Context, username, code string) (*Account, error) {
	var r *Account
	err := c.do(ctx, false, func(conn *Conn) (err error) {
		r, err = conn.VerifyEmailLogin(ctx, username, code)
		return err
	})
	return r, err
}

// ResendVerification is Conn.ResendVerification on a live connection; it
// is not repeated when the connection drops under it.
func (c *Client) ResendVerification(ctx context.Context, token string) error {
	return c.do(ctx, false, func(conn *Conn) error { return conn.ResendVerification(ctx, token) })
}

// RequestPasswordReset is Conn.RequestPasswordReset on a live
// connection; it is not repeated when the connection drops under it.
func (c *Client) RequestPasswordReset(ctx context.Context, login string) error {
	return c.do(ctx, false, func(conn *Conn) error { return conn.RequestPasswordReset(ctx, login) })
}

// ResetPassword is Conn.ResetPassword on a live connection; it is not
// repeated when the connection drops under it.
func (c *Client) ResetPassword(ctx context.Context, login, code, newPassword string) (int, error) {
	var n int
	err := c.do(ctx, false, func(conn *Conn) (err error) {
		n, err = conn.ResetPassword(ctx, login, code, newPassword)
		return err
	})
	return n, err
}

// DeleteAccount is Conn.DeleteAccount on a live connection; it is not
// repeated when the connection drops under it.
func (c *Client) DeleteAccount(ctx context.Context, token, password string) (int, error) {
	return c.DeleteAccountWith(ctx, DeleteAccountRequest{Token: token, Password: password})
}

// DeleteAccountWith is Conn.DeleteAccountWith on a live connection; it
// is not repeated when the connection drops under it.
func (c *Client) DeleteAccountWith(ctx context.Context, req DeleteAccountRequest) (int, error) {
	var n int
	err := c.do(ctx, false, func(conn *Conn) (err error) {
		n, err = conn.DeleteAccountWith(ctx, req)
		return err
	})
	return n, err
}

// Authenticate is Conn.Authenticate on a live connection, repeated once
// if the connection drops under it.
func (c *Client) Authenticate(ctx context.Context, token string) (*Identity, error) {
	var r *Identity
	err := c.do(ctx, true, func(conn *Conn) (err error) {
		r, err = conn.Authenticate(ctx, token)
		return err
	})
	return r, err
}

// Refresh is Conn.Refresh on a live connection, repeated once if the
// connection drops under it.
func (c *Client) Refresh(ctx context.Context, token string) (*Token, error) {
	var r *Token
	err := c.do(ctx, true, func(conn *Conn) (err error) {
		r, err = conn.Refresh(ctx, token)
		return err
	})
	return r, err
}

// Logout is Conn.Logout on a live connection, repeated once if the
// connection drops under it.
func (c *Client) Logout(ctx context.Context, token string) error {
	return c.do(ctx, true, func(conn *Conn) error { return conn.Logout(ctx, token) })
}

// broken returns the sticky error of a connection that failed, or nil.
func (c *Conn) broken() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
