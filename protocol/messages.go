package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Operations.
const (
	OpSignup       = "signup"
	OpLogin        = "login"
	OpAuthenticate = "authenticate"
	OpLogout       = "logout"
	OpRefresh      = "refresh"

	OpPolicy         = "policy"
	OpChangePassword = "change_password"
	OpSessions       = "sessions"
	OpRevokeSession  = "revoke_session"
	OpLogoutAll      = "logout_all"
	OpChangeEmail    = "change_email"
	OpDeleteAccount  = "delete_account"

	// The second factor (SPEC.md §5.4.3): TOTP with recovery codes, and
	// the step that completes a login answered second_factor_required.
	OpTOTPBegin               = "totp_begin"
	OpTOTPConfirm             = "totp_confirm"
	OpTOTPDisable             = "totp_disable"
	OpRecoveryCodesRegenerate = "recovery_codes_regenerate"
	OpLoginSecondFactor       = "login_second_factor"
	// Email (SPEC.md §5.5): codes mailed to the account's address.
	OpVerifyEmail          = "verify_email"
	OpResendVerification   = "resend_verification"
	OpRequestPasswordReset = "request_password_reset"
	OpResetPassword        = "reset_password"

	// For application backends (SPEC.md §5.4.2): a service key, and the
	// admin operations an admin-scoped key may call.
	OpServiceAuth      = "service_auth"
	OpAdminListUsers   = "admin_list_users"
	OpAdminShowUser    = "admin_show_user"
	OpAdminDisableUser = "admin_disable_user"
	OpAdminEnableUser  = "admin_enable_user"
	OpAdminDeleteUser  = "admin_delete_user"
	OpAdminUnlockUser  = "admin_unlock_user"
	OpAdminEndSessions = "admin_end_sessions"
	// OpWatchRevocations subscribes a service-key connection to the
	// revocation feed (SPEC.md §5.4.5): the server then pushes packets
	// (Push) besides its responses.
	OpWatchRevocations = "watch_revocations"
)

// Error codes: the closed list a response's error.code takes. SPEC.md
// describes when each is used.
const (
	CodeBadRequest         = "bad_request"
	CodeUnsupportedOp      = "unsupported_op"
	CodeInvalidCredentials = "invalid_credentials"
	CodeInvalidToken       = "invalid_token"
	CodeUsernameTaken      = "username_taken"
	CodeEmailTaken         = "email_taken"
	CodeWeakPassword       = "weak_password"
	CodeNotFound           = "not_found"
	CodeRateLimited        = "rate_limited"
	CodeBusy               = "busy"
	CodeUnavailable        = "unavailable"
	CodeOutcomeUnknown     = "outcome_unknown"
	CodeInternal           = "internal"
	// CodeForbidden: the connection may not call the operation (an admin
	// operation without an admin-scoped service key), or may not use a
	// request member (client_ip without a service key).
	CodeForbidden = "forbidden"
	// CodeChallengeExpired: a login_second_factor challenge is unknown,
	// expired, used, out of attempts or from another connection: log in
	// again.
	CodeChallengeExpired = "challenge_expired"
	// CodeInvalidCode: a mailed code is wrong, expired, used, used up
	// (too many attempts) or not the account's; every case alike.
	CodeInvalidCode = "invalid_code"
	// CodeEmailUnverified: the server requires a verified email before
	// login; a code was mailed to the pending address.
	CodeEmailUnverified = "email_unverified"
)

// Codes lists every error code in the closed list.
var Codes = []string{
	CodeBadRequest, CodeUnsupportedOp, CodeInvalidCredentials, CodeInvalidToken,
	CodeUsernameTaken, CodeEmailTaken, CodeWeakPassword, CodeNotFound, CodeRateLimited,
	CodeBusy, CodeUnavailable, CodeOutcomeUnknown, CodeInternal, CodeForbidden,
	CodeChallengeExpired,
	CodeInvalidCode, CodeEmailUnverified,
}

// WebSocket close codes used by accountd (standard ones and 4000–4999).
const (
	CloseNormal           = 1000
	CloseGoingAway        = 1001 // server shutting down
	CloseProtocolError    = 1002 // malformed handshake frame or wrong frame type
	ClosePolicyViolation  = 1008 // a packet failed to open, or a bad handshake
	CloseMessageTooBig    = 1009
	CloseInternalError    = 1011
	CloseHandshakeTimeout = 4000 // the handshake did not finish in time
	CloseVersion          = 4001 // unsupported protocol version
	CloseBusy             = 4002 // the server cannot take the handshake now
	CloseIdle             = 4003 // no request for the server's idle timeout
	CloseWatchBehind      = 4004 // a revocation watcher fell too far behind
)

// MaxRequestID is the largest request id (2^53-1, exact in every JSON
// implementation).
const MaxRequestID = 1<<53 - 1

// Request is the plaintext of a client packet.
type Request struct {
	// ID is chosen by the client, 1..MaxRequestID; the response echoes it.
	ID   uint64          `json:"id"`
	Op   string          `json:"op"`
	Body json.RawMessage `json:"body,omitempty"`
	// ClientIP is the end user's IP address, which a connection
	// authenticated with service_auth may give for the request's limits
	// and audit (SPEC.md §5.1); any other connection is refused.
	ClientIP string `json:"client_ip,omitempty"`
}

// Response is the plaintext of a server packet: exactly one of Result and
// Error is set.
type Response struct {
	ID     uint64          `json:"id"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// Error is the error object of a response.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfterMS is set with rate_limited and busy.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// ErrBadRequest is returned by DecodeRequest and DecodeBody; its text is
// safe to send back to the client.
var ErrBadRequest = errors.New("bad request")

// DecodeRequest parses a request strictly: an object with id (1..2^53-1),
// op, and optional body object; unknown fields are refused.
func DecodeRequest(data []byte) (*Request, error) {
	var r Request
	if err := checkNames(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrBadRequest, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrBadRequest, jsonProblem(err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the request", ErrBadRequest)
	}
	if r.ID == 0 || r.ID > MaxRequestID {
		return nil, fmt.Errorf("%w: id must be between 1 and %d", ErrBadRequest, uint64(MaxRequestID))
	}
	if r.Op == "" {
		return nil, fmt.Errorf("%w: op is required", ErrBadRequest)
	}
	if string(r.Body) == "null" {
		r.Body = nil // null means absent
	}
	if len(r.Body) > 0 && (r.Body[0] != '{') {
		return nil, fmt.Errorf("%w: body must be an object", ErrBadRequest)
	}
	return &r, nil
}

// DecodeBody parses a request body into v strictly (unknown fields are
// refused). An absent body decodes as {}.
func DecodeBody(body json.RawMessage, v any) error {
	if len(body) == 0 {
		body = json.RawMessage("{}")
	}
	if err := checkNames(body, v); err != nil {
		return fmt.Errorf("%w: %s", ErrBadRequest, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s", ErrBadRequest, jsonProblem(err))
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the body", ErrBadRequest)
	}
	return nil
}

// DecodeResponse parses a server response.
func DecodeResponse(data []byte) (*Response, error) {
	var r Response
	if err := checkNames(data, &r); err != nil {
		return nil, fmt.Errorf("protocol: response: %s", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("protocol: response: %s", jsonProblem(err))
	}
	if dec.More() {
		return nil, errors.New("protocol: response: trailing data")
	}
	if (r.Error == nil) == (len(r.Result) == 0) {
		return nil, errors.New("protocol: response must carry exactly one of result and error")
	}
	return &r, nil
}

// jsonProblem describes a JSON decoding error without echoing input.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("field %q must be %s", te.Field, jsonKind(te.Type.Kind().String()))
		}
		return "wrong JSON type"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at offset %d", se.Offset)
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + field
	}
	return "invalid JSON"
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "uint64", "int64", "int", "uint":
		return "a number"
	case "bool":
		return "a boolean"
	case "struct", "map":
		return "an object"
	}
	return k
}

// Operation bodies and results.

// SignupRequest is the body of signup. Without Password the server
// generates one and returns it once.
type SignupRequest struct {
	Username string `json:"username"`
	Password string `json:"password,omitempty"`
	Email    string `json:"email,omitempty"`
	// IdempotencyKey, chosen at random by the client and sent again with
	// a retry of the same signup, makes the retry answer like the first
	// signup did instead of username_taken. It needs a Password.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// Bounds of SignupRequest.IdempotencyKey, in characters of the base64url
// alphabet (A-Z a-z 0-9 - _): at least 128 bits.
const (
	MinIdempotencyKeyLength = 22
	MaxIdempotencyKeyLength = 64
)

// CheckIdempotencyKey reports whether a signup's idempotency key is
// acceptable: empty, or MinIdempotencyKeyLength to
// MaxIdempotencyKeyLength characters of the base64url alphabet.
func CheckIdempotencyKey(k string) error {
	if k == "" {
		return nil
	}
	if len(k) < MinIdempotencyKeyLength || len(k) > MaxIdempotencyKeyLength {
		return fmt.Errorf("idempotency_key must be %d to %d characters", MinIdempotencyKeyLength, MaxIdempotencyKeyLength)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return errors.New("idempotency_key must be characters of A-Z, a-z, 0-9, '-' and '_'")
		}
	}
	return nil
}

// SignupResult is the result of signup.
type SignupResult struct {
	Account Account `json:"account"`
	// GeneratedPassword is set only when the request had no password.
	GeneratedPassword string `json:"generated_password,omitempty"`
}

// LoginRequest is the body of login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Client optionally describes the client, for the session list
	// (sessions): 1 to MaxClientLength characters of printable ASCII
	// (space to '~'), e.g. "account/1.0 (linux)".
	Client string `json:"client,omitempty"`
	// DeviceToken is the device token an earlier full login of this
	// account gave this client (TokenResult.DeviceToken), or empty:
	// failures with a valid one are counted against this device only,
	// so that strangers' guesses cannot throttle or lock it out. An
	// unknown, stale or foreign token is ignored. At most
	// MaxDeviceTokenLength characters.
	DeviceToken string `json:"device_token,omitempty"`
}

// MaxDeviceTokenLength bounds LoginRequest.DeviceToken, in characters.
const MaxDeviceTokenLength = 128

// MaxClientLength bounds LoginRequest.Client, in characters.
const MaxClientLength = 64

// CheckClient reports whether a login's client description is
// acceptable: empty, or 1 to MaxClientLength printable ASCII characters.
func CheckClient(c string) error {
	if len(c) > MaxClientLength {
		return fmt.Errorf("client must be at most %d characters", MaxClientLength)
	}
	for i := 0; i < len(c); i++ {
		if c[i] < ' ' || c[i] > '~' {
			return errors.New("client must be printable ASCII (space to '~')")
		}
	}
	return nil
}

// TokenRequest is the body of authenticate, logout and refresh.
type TokenRequest struct {
	Token string `json:"token"`
}

// TokenResult is the result of login and refresh.
type TokenResult struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	SessionID string    `json:"session_id"`
	Account   Account   `json:"account"`
	// DeviceToken is set by a completed login (login, or
	// login_second_factor): an opaque secret the client keeps for this
	// server and username, replacing any earlier one, and presents at
	// its next login (LoginRequest.DeviceToken). Empty otherwise.
	DeviceToken string `json:"device_token,omitempty"`
}

// LoginResult is the result of login: a token, or, when the account has
// a second factor on, only SecondFactorRequired (the embedded
// TokenResult is nil then and none of its members is sent).
type LoginResult struct {
	*TokenResult
	SecondFactorRequired *SecondFactorChallenge `json:"second_factor_required,omitempty"`
}

// SecondFactorChallenge is login's answer when the password checked out
// and a second factor is on: login_second_factor completes the login.
type SecondFactorChallenge struct {
	// Challenge is the opaque, single-use id login_second_factor takes;
	// it is no token and opens nothing by itself.
	Challenge string `json:"challenge"`
	// Methods lists the steps that may answer it: MethodTOTP,
	// MethodRecoveryCode.
	Methods []string `json:"methods"`
	// ExpiresAt is when the challenge dies.
	ExpiresAt time.Time `json:"expires_at"`
}

// Second-factor methods (SecondFactorChallenge.Methods).
const (
	MethodTOTP         = "totp"
	MethodRecoveryCode = "recovery_code"
)

// LoginSecondFactorRequest is the body of login_second_factor: the
// challenge and exactly one of code (TOTP) and recovery_code.
type LoginSecondFactorRequest struct {
	Challenge    string `json:"challenge"`
	Code         string `json:"code,omitempty"`
	RecoveryCode string `json:"recovery_code,omitempty"`
}

// AuthenticateResult is the result of authenticate.
type AuthenticateResult struct {
	Account Account     `json:"account"`
	Session SessionInfo `json:"session"`
	// AMR lists how the session's login was authenticated (RFC 8176:
	// "pwd", then "otp" after a second factor); AAL is the NIST SP
	// 800-63B assurance level that makes (1 or 2). Tokens carry both as
	// claims.
	AMR []string `json:"amr"`
	AAL int      `json:"aal"`
}

// LogoutResult is the result of logout.
type LogoutResult struct {
	SessionID string `json:"session_id"`
}

// Account is the public view of an account.
type Account struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	// Email is the account's verified address.
	Email string `json:"email,omitempty"`
	// PendingEmail is an address waiting for its owner to type the code
	// mailed to it (verify_email).
	PendingEmail string    `json:"pending_email,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	// SecondFactor is true when two-factor authentication is on (absent
	// when off).
	SecondFactor bool `json:"second_factor,omitempty"`
}

// SessionInfo is the public view of a session.
type SessionInfo struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PolicyRequest is the body of policy: empty.
type PolicyRequest struct{}

// PolicyResult is the result of policy: the password rules the server
// applies to signup and change_password.
type PolicyResult struct {
	// MinPasswordLength and MaxPasswordLength bound a chosen password,
	// in Unicode code points.
	MinPasswordLength int `json:"min_password_length"`
	MaxPasswordLength int `json:"max_password_length"`
	// Mail is true when the server mails codes (SPEC.md §5.4.3), so a
	// client offers to type one after a signup with an email.
	Mail bool `json:"mail,omitempty"`
}

// ChangePasswordRequest is the body of change_password.
type ChangePasswordRequest struct {
	Token           string `json:"token"`
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
	// Code is a current TOTP code or an unused recovery code, required
	// when the account has a second factor on and ignored otherwise.
	Code string `json:"code,omitempty"`
	// EndOtherSessions revokes every other session of the account;
	// absent means true.
	EndOtherSessions *bool `json:"end_other_sessions,omitempty"`
}

// ChangePasswordResult is the result of change_password: a fresh token
// for the caller's session, and how many other sessions ended.
type ChangePasswordResult struct {
	TokenResult
	SessionsEnded int `json:"sessions_ended"`
}

// SessionsResult is the result of sessions.
type SessionsResult struct {
	// Sessions are the account's live sessions, oldest first.
	Sessions []SessionDetail `json:"sessions"`
}

// SessionDetail is one live session as the sessions op lists it.
type SessionDetail struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	// LastUsedAt is when a token of the session was last accepted, to
	// the minute.
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	// ClientIP is the address the session logged in from; may be empty.
	ClientIP string `json:"client_ip,omitempty"`
	// Client is the description the client gave at login; may be empty.
	Client string `json:"client,omitempty"`
	// Current marks the session of the token that asked.
	Current bool `json:"current"`
}

// RevokeSessionRequest is the body of revoke_session.
type RevokeSessionRequest struct {
	Token     string `json:"token"`
	SessionID string `json:"session_id"`
}

// RevokeSessionResult is the result of revoke_session.
type RevokeSessionResult struct {
	SessionID string `json:"session_id"`
}

// LogoutAllRequest is the body of logout_all.
type LogoutAllRequest struct {
	Token string `json:"token"`
	// KeepCurrent keeps the caller's session; absent means false.
	KeepCurrent bool `json:"keep_current,omitempty"`
}

// SessionsEndedResult is the result of logout_all and delete_account.
type SessionsEndedResult struct {
	SessionsEnded int `json:"sessions_ended"`
}

// ChangeEmailRequest is the body of change_email.
type ChangeEmailRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
	NewEmail string `json:"new_email"`
	// Code is a current TOTP code or an unused recovery code, required
	// when the account has a second factor on and ignored otherwise.
	Code string `json:"code,omitempty"`
}

// AccountResult is the result of change_email.
type AccountResult struct {
	Account Account `json:"account"`
}

// VerifyEmailRequest is the body of verify_email: the code mailed to
// the pending address, and either the account's token or, when login
// is refused until the address is verified, its login (username).
type VerifyEmailRequest struct {
	Token string `json:"token,omitempty"`
	Login string `json:"login,omitempty"`
	Code  string `json:"code"`
}

// ResendVerificationRequest is the body of resend_verification.
type ResendVerificationRequest struct {
	Token string `json:"token"`
}

// MailQueuedResult is the result of resend_verification and
// request_password_reset: empty, whether or not a mail goes out.
type MailQueuedResult struct{}

// RequestPasswordResetRequest is the body of request_password_reset.
type RequestPasswordResetRequest struct {
	// Login is a username or a verified email.
	Login string `json:"login"`
}

// ResetPasswordRequest is the body of reset_password.
type ResetPasswordRequest struct {
	// Login is the username or email request_password_reset was given.
	Login       string `json:"login"`
	Code        string `json:"code"`
	NewPassword string `json:"new_password"`
}

// DeleteAccountRequest is the body of delete_account.
type DeleteAccountRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
	// Code is a current TOTP code or an unused recovery code, required
	// when the account has a second factor on and ignored otherwise.
	Code string `json:"code,omitempty"`
}

// TOTPBeginRequest is the body of totp_begin.
type TOTPBeginRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

// TOTPBeginResult is the result of totp_begin: a fresh secret for an
// authenticator app, not in force until totp_confirm.
type TOTPBeginResult struct {
	// Secret is the secret in base32 (RFC 4648, no padding), as apps
	// take it typed in.
	Secret string `json:"secret"`
	// URI is the otpauth:// URI apps take from a QR code.
	URI string `json:"uri"`
}

// TOTPConfirmRequest is the body of totp_confirm.
type TOTPConfirmRequest struct {
	Token string `json:"token"`
	// Code is a current code from the app: 6 digits.
	Code string `json:"code"`
}

// RecoveryCodesResult is the result of totp_confirm and
// recovery_codes_regenerate: the account's new recovery codes, shown
// this once (the server keeps their hashes only).
type RecoveryCodesResult struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// SecondFactorRequest is the body of totp_disable and
// recovery_codes_regenerate: the password and a current code (TOTP or a
// recovery code).
type SecondFactorRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
	Code     string `json:"code"`
}

// SecondFactorStatus is the result of totp_disable.
type SecondFactorStatus struct {
	Enabled bool `json:"enabled"`
}

// ServiceAuthRequest is the body of service_auth.
type ServiceAuthRequest struct {
	// Key is the service key `accountd services add` printed.
	Key string `json:"key"`
}

// ServiceAuthResult is the result of service_auth.
type ServiceAuthResult struct {
	// Service is the key's name.
	Service string `json:"service"`
	// Scopes are what the key may do beyond the end-user operations.
	Scopes []string `json:"scopes"`
}

// ScopeAdmin is the scope that lets a service key call the admin_*
// operations.
const ScopeAdmin = "admin"

// AdminListUsersRequest is the body of admin_list_users: empty.
type AdminListUsersRequest struct{}

// AdminUserRequest is the body of every admin_* operation about one
// account.
type AdminUserRequest struct {
	// User is a username (any case) or an account id.
	User string `json:"user"`
}

// AdminUser is an account as the admin operations show it.
type AdminUser struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	// Email is the verified address; PendingEmail one waiting for its
	// code.
	Email        string    `json:"email,omitempty"`
	PendingEmail string    `json:"pending_email,omitempty"`
	Disabled     bool      `json:"disabled"`
	CreatedAt    time.Time `json:"created_at"`
	// FailedLogins is the count of consecutive failed logins.
	FailedLogins int `json:"failed_logins"`
	// SecondFactor is whether a second factor (TOTP) is on.
	SecondFactor bool `json:"second_factor"`
}

// AdminUsersResult is the result of admin_list_users, ordered by
// username.
type AdminUsersResult struct {
	Users []AdminUser `json:"users"`
}

// AdminUserResult is the result of admin_show_user and
// admin_enable_user.
type AdminUserResult struct {
	User AdminUser `json:"user"`
}

// AdminUnlockResult is the result of admin_unlock_user.
type AdminUnlockResult struct {
	// FailuresCleared is the failed-login count the unlock cleared.
	FailuresCleared int `json:"failures_cleared"`
}

// WatchRevocationsRequest is the body of watch_revocations.
type WatchRevocationsRequest struct {
	// After is the position to resume from: 0 for every revocation the
	// server still keeps, else the position of the last push received.
	After int64 `json:"after"`
}

// WatchRevocationsResult is the result of watch_revocations: empty. The
// pushes follow it.
type WatchRevocationsResult struct{}

// Push kinds.
const (
	// PushRevocations carries a RevocationsPush.
	PushRevocations = "revocations"
)

// Push is the plaintext of a server packet that answers no request
// (SPEC.md §5.2.1): only a connection that asked for them receives any.
type Push struct {
	Push string          `json:"push"`
	Body json.RawMessage `json:"body"`
}

// RevocationsPush is the body of a "revocations" push.
type RevocationsPush struct {
	// Revoked are sessions revoked since the last push (an entry may
	// come again). Empty in a heartbeat.
	Revoked []RevokedSession `json:"revoked"`
	// Position is where a new watch_revocations resumes without missing
	// anything this push and the ones before it did not carry.
	Position int64 `json:"position"`
}

// RevokedSession is one revoked session: its tokens must be refused
// until ExpiresAt, the session's end, after which none is valid anyway.
type RevokedSession struct {
	SessionID string    `json:"session_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// DecodeServerPacket parses the plaintext of a server packet: a push
// when it has a "push" member, else a response (DecodeResponse). Exactly
// one of the results is set when the error is nil.
func DecodeServerPacket(data []byte) (*Response, *Push, error) {
	var probe struct {
		Push *string `json:"push"`
	}
	if json.Unmarshal(data, &probe) != nil || probe.Push == nil {
		r, err := DecodeResponse(data)
		return r, nil, err
	}
	var p Push
	if err := checkNames(data, &p); err != nil {
		return nil, nil, fmt.Errorf("protocol: push: %s", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&p); err != nil {
		return nil, nil, fmt.Errorf("protocol: push: %s", jsonProblem(err))
	}
	if dec.More() {
		return nil, nil, errors.New("protocol: push: trailing data")
	}
	if p.Push == "" || len(p.Body) == 0 || p.Body[0] != '{' {
		return nil, nil, errors.New("protocol: push must carry a kind and a body object")
	}
	return nil, &p, nil
}
