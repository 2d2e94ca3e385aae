// Package client is the Go SDK for accountd: it dials a server, runs the
// protocol v3 handshake (the server proves, by signing the whole
// handshake, that it holds the pinned identity key, and during a key
// rotation's overlap moves the pin to its new key), and calls the account
// operations over the encrypted connection.
//
// A Client keeps a pool of connections for programs that make calls from
// many goroutines (an application backend); a Verifier checks tokens
// locally against the server's published keys, and Middleware puts what
// a request's token proves into its context.
//
// The wire protocol is specified in protocol/SPEC.md. A *Conn is safe for
// concurrent use; calls on one connection are sent one at a time, as the
// server answers them.
package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/accountd/accountd/protocol"
)

// Sentinel errors for the server's refusals; a *ServerError unwraps to
// the one for its code.
var (
	ErrBadRequest         = errors.New("client: bad request")
	ErrUnsupportedOp      = errors.New("client: operation not supported by the server")
	ErrInvalidCredentials = errors.New("client: wrong username or password")
	ErrInvalidToken       = errors.New("client: token is invalid, expired or revoked")
	ErrUsernameTaken      = errors.New("client: username taken")
	ErrEmailTaken         = errors.New("client: email taken")
	ErrWeakPassword       = errors.New("client: password refused by policy")
	ErrNotFound           = errors.New("client: no such session")
	ErrRateLimited        = errors.New("client: rate limited")
	ErrBusy               = errors.New("client: server busy")
	ErrUnavailable        = errors.New("client: service unavailable")
	// ErrOutcomeUnknown: the server could not confirm whether the
	// operation's write took effect; find out before repeating it.
	ErrOutcomeUnknown = errors.New("client: outcome unknown")
	ErrInternal       = errors.New("client: server internal error")
	// ErrForbidden: the connection may not do this (an admin operation
	// without an admin-scoped service key, or WithClientIP without a
	// service key).
	ErrForbidden = errors.New("client: not allowed on this connection")
	// ErrChallengeExpired: a login's second-factor step can no longer be
	// answered (expired, used, out of attempts, or its connection is
	// gone): log in again.
	ErrChallengeExpired = errors.New("client: the login expired; log in again")
	// ErrInvalidCode: a mailed code is wrong, expired, used or used up;
	// ask for a new one.
	ErrInvalidCode = errors.New("client: code is wrong or no longer valid")
	// ErrEmailUnverified: the server requires a verified email before
	// login; a code was mailed to the account's address (VerifyEmailLogin).
	ErrEmailUnverified = errors.New("client: email not verified")
)

// errIdleClosed marks a connection the server closed for being idle
// (close code 4003): it processed no request sent on it since.
var errIdleClosed = errors.New("closed by the server after its idle timeout")

// Connection errors.
var (
	// ErrConnection wraps every failure to reach or talk to the server.
	ErrConnection = errors.New("client: connection failed")
	// ErrServerShuttingDown is returned when the server closed the
	// connection because it is shutting down (close code 1001).
	ErrServerShuttingDown = errors.New("client: server is shutting down")
)

var codeErrors = map[string]error{
	protocol.CodeBadRequest:         ErrBadRequest,
	protocol.CodeUnsupportedOp:      ErrUnsupportedOp,
	protocol.CodeInvalidCredentials: ErrInvalidCredentials,
	protocol.CodeInvalidToken:       ErrInvalidToken,
	protocol.CodeUsernameTaken:      ErrUsernameTaken,
	protocol.CodeEmailTaken:         ErrEmailTaken,
	protocol.CodeWeakPassword:       ErrWeakPassword,
	protocol.CodeNotFound:           ErrNotFound,
	protocol.CodeRateLimited:        ErrRateLimited,
	protocol.CodeBusy:               ErrBusy,
	protocol.CodeUnavailable:        ErrUnavailable,
	protocol.CodeOutcomeUnknown:     ErrOutcomeUnknown,
	protocol.CodeInternal:           ErrInternal,
	protocol.CodeForbidden:          ErrForbidden,
	protocol.CodeChallengeExpired:   ErrChallengeExpired,
	protocol.CodeInvalidCode:        ErrInvalidCode,
	protocol.CodeEmailUnverified:    ErrEmailUnverified,
}

// ServerError is a refusal from the server. errors.Is matches it against
// the sentinel for its code (ErrInvalidCredentials, ...).
type ServerError struct {
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *ServerError) Error() string { return e.Message }

// Unwrap returns the sentinel for the code, or ErrInternal for a code this
// client does not know.
func (e *ServerError) Unwrap() error {
	if err, ok := codeErrors[e.Code]; ok {
		return err
	}
	return ErrInternal
}

// Options configure Dial. The zero value is not usable: set Trust.
type Options struct {
	// Trust holds pinned server identity keys. Required.
	Trust TrustStore
	// TrustOnFirstUse pins an unknown server's key without asking.
	TrustOnFirstUse bool
	// ConfirmNewServer, when set and the server is unknown, is asked
	// whether to trust the fingerprint; true pins it. Ignored with
	// TrustOnFirstUse.
	ConfirmNewServer func(server, fingerprint string) (bool, error)
	// IdentityRotated, when set, is told that a server rotated its
	// identity key and the pin moved from the previous key to the new
	// one (SPEC §2.1): the server, the previous and the new fingerprint.
	// It is called once the new key is pinned, before Dial returns; when
	// connections race through a rotation it may be called for each.
	IdentityRotated func(server, previous, current string)
	// ClientKey is the RSA key the server encrypts its secret to. Nil uses
	// a 3072-bit key generated once per process.
	ClientKey *rsa.PrivateKey
	// HandshakeTimeout bounds dialing and the handshake. Default 10 s.
	HandshakeTimeout time.Duration
	// HTTPClient dials the WebSocket. Default http.DefaultClient, or with
	// RootCAs a client that trusts them.
	HTTPClient *http.Client
	// RootCAs are the certificate authorities a wss:// server's TLS
	// certificate must chain to, instead of the system's; see LoadCAFile.
	// Ignored when HTTPClient is set. The TLS certificate names the
	// host; the pinned identity key still proves the server itself.
	RootCAs *x509.CertPool
	// ServiceKey, when set, is presented (ServiceAuth) on every
	// connection right after the handshake: the key of an application
	// backend, printed by `accountd services add`.
	ServiceKey string
	// MaxConns is how many connections a Client opens at most, one per
	// call in flight. Default DefaultMaxConns. Dial ignores it.
	MaxConns int
	// DeviceTokens, when set, keeps the device token of every completed
	// login and presents it at the next login of that username on this
	// server (SPEC §5.4.6), so that strangers' guesses cannot lock this
	// device out. Nil: a Conn keeps none (Token.DeviceToken and
	// LoginRequest.DeviceToken still carry it), a Client keeps them in
	// memory (NewMemoryDeviceTokens). The account command keeps them in
	// a DeviceTokenFile at DefaultDeviceTokensPath.
	DeviceTokens DeviceTokens
}

// LoadCAFile reads PEM certificates (a private CA's, or a self-signed
// server's) for Options.RootCAs.
func LoadCAFile(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("client: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("client: CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// httpClient is the client that dials: opts.HTTPClient, or one trusting
// opts.RootCAs, or nil for the default.
func (opts Options) httpClient() *http.Client {
	if opts.HTTPClient != nil || opts.RootCAs == nil {
		return opts.HTTPClient
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t}
}

var (
	processKeyOnce sync.Once
	processKey     *rsa.PrivateKey
	processKeyErr  error
)

func defaultClientKey() (*rsa.PrivateKey, error) {
	processKeyOnce.Do(func() { processKey, processKeyErr = rsa.GenerateKey(rand.Reader, 3072) })
	return processKey, processKeyErr
}

// Conn is a connection to an accountd server.
type Conn struct {
	ws          *websocket.Conn
	sess        *protocol.Session
	server      string
	fingerprint string

	devices DeviceTokens // nil: none kept

	mu       sync.Mutex
	nextID   uint64
	err      error // sticky: once the connection broke, every call fails
	watching bool  // WatchRevocations succeeded: only pushes come now
	// pending names the username of each second-factor challenge this
	// connection was given, so that the login it completes keeps its
	// device token under that name.
	pending map[string]string
}

// ServerAddress turns what a user types (host:port, http(s)://..., or
// ws(s)://...) into the WebSocket URL and the host:port name its identity
// is pinned under.
func ServerAddress(raw string) (wsURL, name string, err error) {
	if raw == "" {
		return "", "", errors.New("client: server address is empty")
	}
	if !strings.Contains(raw, "://") {
		raw = "ws://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("client: server address: %w", err)
	}
	switch u.Scheme {
	case "ws", "http":
		u.Scheme = "ws"
	case "wss", "https":
		u.Scheme = "wss"
	default:
		return "", "", fmt.Errorf("client: server address: unsupported scheme %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return "", "", errors.New("client: server address has no host")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"ws": "80", "wss": "443"}[u.Scheme]
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/ws"
	}
	name = net.JoinHostPort(strings.ToLower(u.Hostname()), port)
	u.Host = name
	return u.String(), name, nil
}

// Dial connects to the server at addr and completes the handshake. The
// server's identity key must be pinned in opts.Trust, or be accepted by
// TrustOnFirstUse or ConfirmNewServer.
func Dial(ctx context.Context, addr string, opts Options) (*Conn, error) {
	if opts.Trust == nil {
		return nil, errors.New("client: options: Trust is required")
	}
	wsURL, name, err := ServerAddress(addr)
	if err != nil {
		return nil, err
	}
	key := opts.ClientKey
	if key == nil {
		if key, err = defaultClientKey(); err != nil {
			return nil, err
		}
	}
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ws, resp, err := websocket.Dial(hctx, wsURL, &websocket.DialOptions{
		HTTPClient:      opts.httpClient(),
		Subprotocols:    []string{protocol.Subprotocol},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if older := olderServer(resp); older != "" {
			return nil, fmt.Errorf("%w: %s: the server speaks an older protocol (%s): upgrade the server", ErrConnection, name, older)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrConnection, name, err)
	}
	ws.SetReadLimit(protocol.MaxFrame)
	c := &Conn{ws: ws, server: name, devices: opts.DeviceTokens}
	if err := c.handshake(hctx, key, opts); err != nil {
		ws.CloseNow()
		return nil, err
	}
	if opts.ServiceKey != "" {
		if err := c.serviceAuth(hctx, opts.ServiceKey); err != nil {
			ws.CloseNow()
			return nil, err
		}
	}
	return c, nil
}

// olderServer returns the server's answer when it refused the upgrade
// for want of a subprotocol this client offers: an older server names the
// one it speaks (SPEC §1). It is "" for any other refusal.
func olderServer(resp *http.Response) string {
	if resp == nil || resp.StatusCode != http.StatusBadRequest || resp.Body == nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	msg := strings.TrimSpace(string(b))
	if !strings.HasPrefix(msg, "accountd: subprotocol ") {
		return ""
	}
	return Printable(msg)
}

func (c *Conn) handshake(ctx context.Context, key *rsa.PrivateKey, opts Options) error {
	if c.ws.Subprotocol() != protocol.Subprotocol {
		return fmt.Errorf("%w: %s: server did not accept subprotocol %s", ErrConnection, c.server, protocol.Subprotocol)
	}
	typ, hello, err := c.ws.Read(ctx)
	if err != nil {
		return c.connErr(err)
	}
	if typ != websocket.MessageText {
		return fmt.Errorf("%w: %s: hello is not a text message", ErrConnection, c.server)
	}
	hs, err := protocol.NewClientHandshake(protocol.Version, hello, key, nil)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrConnection, c.server, err)
	}
	identity := hs.IdentityKey()
	previous, _ := hs.PreviousIdentityKey()
	c.fingerprint = protocol.Fingerprint(identity)
	pin, rotated, err := c.trust(identity, previous, opts)
	if err != nil {
		return err
	}
	if err := c.ws.Write(ctx, websocket.MessageText, hs.ClientHello()); err != nil {
		return c.connErr(err)
	}
	typ, sk, err := c.ws.Read(ctx)
	if err != nil {
		return c.connErr(err)
	}
	if typ != websocket.MessageText {
		return fmt.Errorf("%w: %s: server_key is not a text message", ErrConnection, c.server)
	}
	c.sess, err = hs.Finish(sk)
	if errors.Is(err, protocol.ErrBadSignature) {
		c.ws.Close(websocket.StatusPolicyViolation, "")
		claimed := c.fingerprint
		if rotated {
			claimed = protocol.Fingerprint(previous) // the one this client trusts
		}
		return &ImpersonationError{Server: c.server, Fingerprint: claimed}
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrConnection, c.server, err)
	}
	switch {
	case pin:
		return opts.Trust.Pin(c.server, identity)
	case rotated:
		if err := opts.Trust.Repin(c.server, previous, identity); err != nil {
			return err
		}
		if opts.IdentityRotated != nil {
			opts.IdentityRotated(c.server, protocol.Fingerprint(previous), c.fingerprint)
		}
	}
	return nil
}

// trust decides, before anything is sent, whether identity may be used:
// nil when it is pinned, or when the options trust it on first use (pin
// is then true: it is recorded once the server has proven it holds the
// key, so a key nobody proved is never pinned). When the pin is the
// previous identity key the hello announces, rotated is true: Finish
// proves that the server holds both keys, and the pin then moves to
// identity (SPEC §2.1). A previous key is never pinned on first use.
func (c *Conn) trust(identity, previous ed25519.PublicKey, opts Options) (pin, rotated bool, err error) {
	err = opts.Trust.Check(c.server, identity)
	var mismatch *KeyMismatchError
	if errors.As(err, &mismatch) && previous != nil && opts.Trust.Check(c.server, previous) == nil {
		return false, true, nil
	}
	if !errors.Is(err, ErrUnknownServer) {
		return false, false, err
	}
	switch {
	case opts.TrustOnFirstUse:
	case opts.ConfirmNewServer != nil:
		ok, cerr := opts.ConfirmNewServer(c.server, c.fingerprint)
		if cerr != nil {
			return false, false, cerr
		}
		if !ok {
			return false, false, fmt.Errorf("%w: %s (%s) not trusted", ErrUnknownServer, c.server, c.fingerprint)
		}
	default:
		return false, false, fmt.Errorf("%w: %s presents %s", ErrUnknownServer, c.server, c.fingerprint)
	}
	return true, false, nil
}

// connErr classifies a transport failure.
func (c *Conn) connErr(err error) error {
	switch websocket.CloseStatus(err) {
	case websocket.StatusGoingAway:
		return ErrServerShuttingDown
	case protocol.CloseBusy:
		return fmt.Errorf("%w: %w: %s: too many handshakes in progress", ErrBusy, ErrConnection, c.server)
	case protocol.CloseIdle:
		return fmt.Errorf("%w: %w: %s", ErrConnection, errIdleClosed, c.server)
	}
	return fmt.Errorf("%w: %s: %w", ErrConnection, c.server, err)
}

// Server returns the host:port name the server is pinned under.
func (c *Conn) Server() string { return c.server }

// Fingerprint returns the server's identity-key fingerprint.
func (c *Conn) Fingerprint() string { return c.fingerprint }

// Close closes the connection normally.
func (c *Conn) Close() error {
	return c.ws.Close(websocket.StatusNormalClosure, "")
}

// call sends one request and waits for its response.
func (c *Conn) call(ctx context.Context, op string, body, result any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if c.watching {
		return errWatching
	}
	c.nextID++
	id := c.nextID
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	// The body may hold a password or a code: once sealed, the plain
	// copies go.
	defer clear(b)
	plain, err := json.Marshal(protocol.Request{ID: id, Op: op, Body: b, ClientIP: clientIPFrom(ctx)})
	if err != nil {
		return err
	}
	sealed, err := c.sess.Seal(plain)
	clear(plain)
	if err != nil {
		return err
	}
	if err := c.ws.Write(ctx, websocket.MessageBinary, sealed); err != nil {
		c.err = c.connErr(err)
		return c.err
	}
	typ, data, err := c.ws.Read(ctx)
	if err != nil {
		c.err = c.connErr(err)
		return c.err
	}
	if typ != websocket.MessageBinary {
		c.err = fmt.Errorf("%w: %s: unexpected text frame", ErrConnection, c.server)
		return c.err
	}
	out, err := c.sess.Open(data)
	if err != nil {
		c.err = fmt.Errorf("%w: %s: %w", ErrConnection, c.server, err)
		c.ws.Close(websocket.StatusPolicyViolation, "")
		return c.err
	}
	// A result may hold a token or a generated password: the decoded
	// copy is the caller's, the packet's goes.
	defer clear(out)
	resp, err := protocol.DecodeResponse(out)
	if err != nil || resp.ID != id {
		c.err = fmt.Errorf("%w: %s: invalid response", ErrConnection, c.server)
		c.ws.Close(websocket.StatusProtocolError, "")
		return c.err
	}
	if resp.Error != nil {
		return &ServerError{Code: resp.Error.Code, Message: resp.Error.Message, RetryAfter: time.Duration(resp.Error.RetryAfterMS) * time.Millisecond}
	}
	if err := json.Unmarshal(resp.Result, result); err != nil {
		return fmt.Errorf("%w: %s: invalid %s result", ErrConnection, c.server, op)
	}
	return nil
}

// Types returned by the operations.
type (
	// Account is the public view of an account.
	Account = protocol.Account
	// Session describes a session.
	Session = protocol.SessionInfo
	// Token is a session token and what it belongs to.
	Token = protocol.TokenResult
	// Identity is what a valid token proves.
	Identity = protocol.AuthenticateResult
	// SignupResult is the new account, and the generated password when
	// none was given.
	SignupResult = protocol.SignupResult
	// Policy is the server's password rules.
	Policy = protocol.PolicyResult
	// SessionDetail is one live session of an account, as Sessions
	// lists it.
	SessionDetail = protocol.SessionDetail
	// PasswordChange is a fresh token for the caller's session and how
	// many other sessions a password change ended.
	PasswordChange = protocol.ChangePasswordResult
)

// SignupRequest is a signup with its optional members.
type SignupRequest struct {
	Username string
	// Password, when empty, asks the server to generate a strong one,
	// returned once in SignupResult.GeneratedPassword.
	Password string
	// Email is optional; when given it must be unique.
	Email string
	// IdempotencyKey, with a Password, lets the signup be sent again
	// when its answer is lost: the server answers a repeat with the same
	// key like the first signup. NewIdempotencyKey makes one; Client
	// makes one itself when it is empty.
	IdempotencyKey string
}

// NewIdempotencyKey returns a fresh random signup idempotency key: 16
// bytes from crypto/rand in base64url.
func NewIdempotencyKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// LoginRequest is a login with its optional members.
type LoginRequest struct {
	Username, Password string
	// Client describes this program in the account's session list: at
	// most 64 characters of printable ASCII (protocol.CheckClient).
	Client string
	// DeviceToken is the token an earlier completed login of this
	// username returned (Token.DeviceToken). Empty: the one kept in
	// Options.DeviceTokens, if any.
	DeviceToken string
}

// ChangePasswordRequest asks for a password change.
type ChangePasswordRequest struct {
	// Token is a live token of the account; its session stays valid.
	Token                        string
	CurrentPassword, NewPassword string
	// Code is a current TOTP code or an unused recovery code, needed when
	// the account has two-factor authentication on (Account.SecondFactor)
	// and ignored otherwise.
	Code string
	// KeepOtherSessions keeps the account's other sessions; by default
	// they end with the change.
	KeepOtherSessions bool
}

// Signup creates an account. An empty password asks the server to
// generate one, returned once in the result.
func (c *Conn) Signup(ctx context.Context, username, password, email string) (*SignupResult, error) {
	return c.SignupWith(ctx, SignupRequest{Username: username, Password: password, Email: email})
}

// SignupWith is Signup with the request's optional members named.
func (c *Conn) SignupWith(ctx context.Context, req SignupRequest) (*SignupResult, error) {
	var r SignupResult
	if err := c.call(ctx, protocol.OpSignup, protocol.SignupRequest{Username: req.Username, Password: req.Password, Email: req.Email, IdempotencyKey: req.IdempotencyKey}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Login opens a session and returns its token.
func (c *Conn) Login(ctx context.Context, username, password string) (*Token, error) {
	return c.LoginWith(ctx, LoginRequest{Username: username, Password: password})
}

// LoginWith is Login with the optional members of the request.
//
// When the account has a second factor on, a right password opens no
// session yet: the error is a *SecondFactorRequired (errors.Is
// ErrSecondFactorRequired), which LoginSecondFactor answers on this
// same connection.
//
// With Options.DeviceTokens, the login presents the device token kept
// for this server and username, and a completed login keeps the new
// one; when keeping it fails, the login's token comes back together
// with a *DeviceTokenError.
func (c *Conn) LoginWith(ctx context.Context, req LoginRequest) (*Token, error) {
	device := req.DeviceToken
	if device == "" && c.devices != nil {
		var err error
		if device, err = c.devices.DeviceToken(c.server, req.Username); err != nil {
			return nil, err
		}
	}
	var r protocol.LoginResult
	body := protocol.LoginRequest{Username: req.Username, Password: req.Password, Client: req.Client, DeviceToken: device}
	if err := c.call(ctx, protocol.OpLogin, body, &r); err != nil {
		return nil, err
	}
	switch {
	case r.SecondFactorRequired != nil:
		sf := r.SecondFactorRequired
		c.mu.Lock()
		if c.pending == nil || len(c.pending) >= maxPendingChallenges {
			c.pending = map[string]string{}
		}
		c.pending[sf.Challenge] = req.Username
		c.mu.Unlock()
		return nil, &SecondFactorRequired{Challenge: sf.Challenge, Methods: sf.Methods, ExpiresAt: sf.ExpiresAt, conn: c}
	case r.TokenResult == nil:
		return nil, fmt.Errorf("%w: %s: invalid login result", ErrConnection, c.server)
	}
	return r.TokenResult, c.keepDeviceToken(req.Username, r.TokenResult)
}

// maxPendingChallenges bounds Conn.pending: a person answers one
// challenge at a time.
const maxPendingChallenges = 16

// keepDeviceToken keeps a completed login's device token, when the
// server sent one and Options.DeviceTokens is set. The error says the
// token could not be kept; the session is open all the same (tok).
func (c *Conn) keepDeviceToken(username string, tok *Token) error {
	if c.devices == nil || tok.DeviceToken == "" || username == "" {
		return nil
	}
	if err := c.devices.SetDeviceToken(c.server, username, tok.DeviceToken); err != nil {
		return &DeviceTokenError{Token: tok, Err: err}
	}
	return nil
}

// DeviceTokenError is the error of a login that succeeded but whose
// device token could not be kept (Options.DeviceTokens failed). The
// login returns its token beside this error, usable as is; Token is the
// same.
type DeviceTokenError struct {
	Token *Token
	Err   error
}

func (e *DeviceTokenError) Error() string {
	return fmt.Sprintf("client: logged in, but the device token was not kept: %v", e.Err)
}

// Unwrap returns the store's error.
func (e *DeviceTokenError) Unwrap() error { return e.Err }

// ErrSecondFactorRequired matches a *SecondFactorRequired.
var ErrSecondFactorRequired = errors.New("client: second factor required")

// SecondFactorRequired is the error of a login whose password was right
// for an account with a second factor on. Answer it with
// LoginSecondFactor before ExpiresAt, on the connection that logged in
// (the server binds the challenge to it).
type SecondFactorRequired struct {
	// Challenge is the single-use id the answer names.
	Challenge string
	// Methods are the ways it may be answered: "totp" (a code from the
	// authenticator app) and "recovery_code".
	Methods   []string
	ExpiresAt time.Time
	conn      *Conn
}

func (e *SecondFactorRequired) Error() string { return "client: second factor required" }

// Is makes errors.Is(err, ErrSecondFactorRequired) true.
func (e *SecondFactorRequired) Is(target error) bool { return target == ErrSecondFactorRequired }

// SecondFactorAnswer answers a SecondFactorRequired: exactly one of Code
// (6 digits from the authenticator app) and RecoveryCode.
type SecondFactorAnswer struct {
	Code, RecoveryCode string
}

// CodeAnswer is the answer a person's typed code makes: 6 digits are a
// code from the authenticator app, anything else a recovery code (the
// server checks its form).
func CodeAnswer(code string) SecondFactorAnswer {
	code = strings.TrimSpace(code)
	if len(code) == 6 && strings.Trim(code, "0123456789") == "" {
		return SecondFactorAnswer{Code: code}
	}
	return SecondFactorAnswer{RecoveryCode: code}
}

// LoginSecondFactor completes a login that answered
// SecondFactorRequired and returns its token. A wrong code is
// ErrInvalidCredentials (try again: a challenge allows 5 answers); a
// challenge that can no longer be answered is ErrChallengeExpired (log
// in again).
func (c *Conn) LoginSecondFactor(ctx context.Context, challenge string, answer SecondFactorAnswer) (*Token, error) {
	var r Token
	body := protocol.LoginSecondFactorRequest{Challenge: challenge, Code: answer.Code, RecoveryCode: answer.RecoveryCode}
	if err := c.call(ctx, protocol.OpLoginSecondFactor, body, &r); err != nil {
		if errors.Is(err, ErrChallengeExpired) {
			c.mu.Lock()
			delete(c.pending, challenge)
			c.mu.Unlock()
		}
		return nil, err
	}
	c.mu.Lock()
	username := c.pending[challenge]
	delete(c.pending, challenge)
	c.mu.Unlock()
	return &r, c.keepDeviceToken(username, &r)
}

// TOTPEnrolment is a new TOTP secret, pending until TOTPConfirm.
type TOTPEnrolment = protocol.TOTPBeginResult

// TOTPBegin starts turning on two-factor authentication: after the
// password, the server returns a fresh secret and its otpauth:// URI for
// an authenticator app. Nothing changes until TOTPConfirm.
func (c *Conn) TOTPBegin(ctx context.Context, token, password string) (*TOTPEnrolment, error) {
	var r TOTPEnrolment
	if err := c.call(ctx, protocol.OpTOTPBegin, protocol.TOTPBeginRequest{Token: token, Password: password}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// TOTPConfirm turns two-factor authentication on with a code from the
// app, and returns the account's recovery codes: shown this once.
func (c *Conn) TOTPConfirm(ctx context.Context, token, code string) ([]string, error) {
	var r protocol.RecoveryCodesResult
	if err := c.call(ctx, protocol.OpTOTPConfirm, protocol.TOTPConfirmRequest{Token: token, Code: code}, &r); err != nil {
		return nil, err
	}
	return r.RecoveryCodes, nil
}

// TOTPDisable turns two-factor authentication off, with the password and
// a current code (or a recovery code).
func (c *Conn) TOTPDisable(ctx context.Context, token, password, code string) error {
	var r protocol.SecondFactorStatus
	return c.call(ctx, protocol.OpTOTPDisable, protocol.SecondFactorRequest{Token: token, Password: password, Code: code}, &r)
}

// RegenerateRecoveryCodes replaces the account's recovery codes, with
// the password and a current code, and returns the new ones.
func (c *Conn) RegenerateRecoveryCodes(ctx context.Context, token, password, code string) ([]string, error) {
	var r protocol.RecoveryCodesResult
	body := protocol.SecondFactorRequest{Token: token, Password: password, Code: code}
	if err := c.call(ctx, protocol.OpRecoveryCodesRegenerate, body, &r); err != nil {
		return nil, err
	}
	return r.RecoveryCodes, nil
}

// Authenticate checks a token and returns the account and session behind it.
func (c *Conn) Authenticate(ctx context.Context, token string) (*Identity, error) {
	var r Identity
	if err := c.call(ctx, protocol.OpAuthenticate, protocol.TokenRequest{Token: token}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Logout revokes the session behind a token.
func (c *Conn) Logout(ctx context.Context, token string) error {
	var r protocol.LogoutResult
	return c.call(ctx, protocol.OpLogout, protocol.TokenRequest{Token: token}, &r)
}

// Refresh returns a new token for the session behind a token.
func (c *Conn) Refresh(ctx context.Context, token string) (*Token, error) {
	var r Token
	if err := c.call(ctx, protocol.OpRefresh, protocol.TokenRequest{Token: token}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Policy returns the server's password rules (minimum and maximum
// length), for checking a new password before sending it.
func (c *Conn) Policy(ctx context.Context) (*Policy, error) {
	var r Policy
	if err := c.call(ctx, protocol.OpPolicy, protocol.PolicyRequest{}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ChangePassword replaces the account's password. It returns a fresh
// token for the same session (the old one keeps working until it
// expires) and how many other sessions ended. A wrong current password
// (or code) is ErrInvalidCredentials, a missing code ErrBadRequest, a
// refused new password ErrWeakPassword.
func (c *Conn) ChangePassword(ctx context.Context, req ChangePasswordRequest) (*PasswordChange, error) {
	endOthers := !req.KeepOtherSessions
	var r PasswordChange
	body := protocol.ChangePasswordRequest{Token: req.Token, CurrentPassword: req.CurrentPassword, NewPassword: req.NewPassword, Code: req.Code, EndOtherSessions: &endOthers}
	if err := c.call(ctx, protocol.OpChangePassword, body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Sessions lists the live sessions of the token's account, oldest
// first; the token's own has Current set.
func (c *Conn) Sessions(ctx context.Context, token string) ([]SessionDetail, error) {
	var r protocol.SessionsResult
	if err := c.call(ctx, protocol.OpSessions, protocol.TokenRequest{Token: token}, &r); err != nil {
		return nil, err
	}
	return r.Sessions, nil
}

// RevokeSession ends one session of the token's account. A session id
// the account does not have is ErrNotFound.
func (c *Conn) RevokeSession(ctx context.Context, token, sessionID string) error {
	var r protocol.RevokeSessionResult
	return c.call(ctx, protocol.OpRevokeSession, protocol.RevokeSessionRequest{Token: token, SessionID: sessionID}, &r)
}

// LogoutAll ends every session of the token's account, or every one but
// the token's own when keepCurrent is set, and returns how many ended.
func (c *Conn) LogoutAll(ctx context.Context, token string, keepCurrent bool) (int, error) {
	var r protocol.SessionsEndedResult
	if err := c.call(ctx, protocol.OpLogoutAll, protocol.LogoutAllRequest{Token: token, KeepCurrent: keepCurrent}, &r); err != nil {
		return 0, err
	}
	return r.SessionsEnded, nil
}

// ChangeEmail gives the account a new email address, re-authenticating
// with its password. The address waits as the account's PendingEmail
// while a code is mailed to it (VerifyEmail); the current one stays
// until then. An account with two-factor authentication on needs
// ChangeEmailWith and a code.
func (c *Conn) ChangeEmail(ctx context.Context, token, password, newEmail string) (*Account, error) {
	return c.ChangeEmailWith(ctx, ChangeEmailRequest{Token: token, Password: password, NewEmail: newEmail})
}

// ChangeEmailRequest is the request of ChangeEmailWith.
type ChangeEmailRequest struct {
	Token, Password, NewEmail string
	// Code is a current TOTP code or an unused recovery code, needed when
	// the account has two-factor authentication on and ignored otherwise.
	Code string
}

// ChangeEmailWith is ChangeEmail with the optional code.
func (c *Conn) ChangeEmailWith(ctx context.Context, req ChangeEmailRequest) (*Account, error) {
	var r protocol.AccountResult
	body := protocol.ChangeEmailRequest{Token: req.Token, Password: req.Password, NewEmail: req.NewEmail, Code: req.Code}
	if err := c.call(ctx, protocol.OpChangeEmail, body, &r); err != nil {
		return nil, err
	}
	return &r.Account, nil
}

// VerifyEmail makes the token's account's pending address its email,
// with the code mailed to it; a wrong or dead code is ErrInvalidCode.
func (c *Conn) VerifyEmail(ctx context.Context, token, code string) (*Account, error) {
	var r protocol.AccountResult
	if err := c.call(ctx, protocol.OpVerifyEmail, protocol.VerifyEmailRequest{Token: token, Code: code}, &r); err != nil {
		return nil, err
	}
	return &r.Account, nil
}

// VerifyEmailLogin is VerifyEmail for an account that cannot log in
// before its email is verified (ErrEmailUnverified): it names the
// account by username.
func (c *Conn) VerifyEmailLogin(ctx context.Context, username, code string) (*Account, error) {
	var r protocol.AccountResult
	if err := c.call(ctx, protocol.OpVerifyEmail, protocol.VerifyEmailRequest{Login: username, Code: code}, &r); err != nil {
		return nil, err
	}
	return &r.Account, nil
}

// ResendVerification mails a fresh code to the token's account's pending
// address; the one before stops working.
func (c *Conn) ResendVerification(ctx context.Context, token string) error {
	var r protocol.MailQueuedResult
	return c.call(ctx, protocol.OpResendVerification, protocol.ResendVerificationRequest{Token: token}, &r)
}

// RequestPasswordReset asks for a reset code for a username or verified
// email. The answer is the same whether or not such an account exists:
// only its owner's mailbox learns.
func (c *Conn) RequestPasswordReset(ctx context.Context, login string) error {
	var r protocol.MailQueuedResult
	return c.call(ctx, protocol.OpRequestPasswordReset, protocol.RequestPasswordResetRequest{Login: login}, &r)
}

// ResetPassword sets a new password with the code RequestPasswordReset
// mailed, ends every session of the account and returns how many ended.
// A wrong or dead code is ErrInvalidCode.
func (c *Conn) ResetPassword(ctx context.Context, login, code, newPassword string) (int, error) {
	var r protocol.SessionsEndedResult
	req := protocol.ResetPasswordRequest{Login: login, Code: code, NewPassword: newPassword}
	if err := c.call(ctx, protocol.OpResetPassword, req, &r); err != nil {
		return 0, err
	}
	return r.SessionsEnded, nil
}

// DeleteAccount deletes the token's account and all its sessions,
// re-authenticating with its password, and returns how many sessions
// were live. The username is free again at once. An account with
// two-factor authentication on needs DeleteAccountWith and a code.
func (c *Conn) DeleteAccount(ctx context.Context, token, password string) (int, error) {
	return c.DeleteAccountWith(ctx, DeleteAccountRequest{Token: token, Password: password})
}

// DeleteAccountRequest is the request of DeleteAccountWith.
type DeleteAccountRequest struct {
	Token, Password string
	// Code is a current TOTP code or an unused recovery code, needed when
	// the account has two-factor authentication on and ignored otherwise.
	Code string
}

// DeleteAccountWith is DeleteAccount with the optional code.
func (c *Conn) DeleteAccountWith(ctx context.Context, req DeleteAccountRequest) (int, error) {
	var r protocol.SessionsEndedResult
	body := protocol.DeleteAccountRequest{Token: req.Token, Password: req.Password, Code: req.Code}
	if err := c.call(ctx, protocol.OpDeleteAccount, body, &r); err != nil {
		return 0, err
	}
	return r.SessionsEnded, nil
}
