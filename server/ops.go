package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
)

// operation is one entry of the operation table: the op's name and how to
// decode its body and call its rule.
type operation struct {
	name string
	call func(ctx context.Context, svc *account.Service, body json.RawMessage) (any, error)
	// hashes is set for an operation that verifies or hashes a password:
	// it also draws on the client IP's hashing budget.
	hashes bool
}

// hashing marks an operation that verifies or hashes a password.
func (o operation) hashing() operation {
	o.hashes = true
	return o
}

// op builds a table entry from a rule: the body is decoded strictly into
// Req, checked by check (when not nil) and passed to the rule.
func op[Req, Res any](name string, rule func(*account.Service, context.Context, Req) (Res, error), check func(Req) error) operation {
	return operation{name: name, call: func(ctx context.Context, svc *account.Service, body json.RawMessage) (any, error) {
		var req Req
		if err := protocol.DecodeBody(body, &req); err != nil {
			return nil, account.NewError(protocol.CodeBadRequest, err.Error())
		}
		if check != nil {
			if err := check(req); err != nil {
				return nil, err
			}
		}
		return rule(svc, ctx, req)
	}}
}

// operations is every operation the server answers. Dispatch and the
// metrics' op labels both come from it.
var operations = []operation{
	op(protocol.OpSignup, (*account.Service).Signup, nil).hashing(),
	op(protocol.OpLogin, (*account.Service).Login, func(r protocol.LoginRequest) error {
		return required(r.Username != "" && r.Password != "", "username and password are required")
	}).hashing(),
	op(protocol.OpAuthenticate, (*account.Service).Authenticate, requireToken),
	op(protocol.OpLogout, (*account.Service).Logout, requireToken),
	op(protocol.OpRefresh, (*account.Service).Refresh, requireToken),
	op(protocol.OpPolicy, (*account.Service).Policy, nil),
	op(protocol.OpChangePassword, (*account.Service).ChangePassword, func(r protocol.ChangePasswordRequest) error {
		return required(r.Token != "" && r.CurrentPassword != "" && r.NewPassword != "", "token, current_password and new_password are required")
	}),
	op(protocol.OpSessions, (*account.Service).Sessions, requireToken),
	op(protocol.OpRevokeSession, (*account.Service).RevokeSession, func(r protocol.RevokeSessionRequest) error {
		return required(r.Token != "" && r.SessionID != "", "token and session_id are required")
	}),
	op(protocol.OpLogoutAll, (*account.Service).LogoutAll, func(r protocol.LogoutAllRequest) error {
		return required(r.Token != "", "token is required")
	}),
	op(protocol.OpChangeEmail, (*account.Service).ChangeEmail, func(r protocol.ChangeEmailRequest) error {
		return required(r.Token != "" && r.Password != "" && r.NewEmail != "", "token, password and new_email are required")
	}),
	op(protocol.OpDeleteAccount, (*account.Service).DeleteOwnAccount, func(r protocol.DeleteAccountRequest) error {
		return required(r.Token != "" && r.Password != "", "token and password are required")
	}),
	op(protocol.OpTOTPBegin, (*account.Service).TOTPBegin, func(r protocol.TOTPBeginRequest) error {
		return required(r.Token != "" && r.Password != "", "token and password are required")
	}),
	op(protocol.OpTOTPConfirm, (*account.Service).TOTPConfirm, func(r protocol.TOTPConfirmRequest) error {
		return required(r.Token != "" && r.Code != "", "token and code are required")
	}),
	op(protocol.OpTOTPDisable, (*account.Service).TOTPDisable, requireFactorChange),
	op(protocol.OpRecoveryCodesRegenerate, (*account.Service).RecoveryCodesRegenerate, requireFactorChange),
	op(protocol.OpLoginSecondFactor, (*account.Service).LoginSecondFactor, func(r protocol.LoginSecondFactorRequest) error {
		return required(r.Challenge != "" && (r.Code == "") != (r.RecoveryCode == ""), "challenge and exactly one of code and recovery_code are required")
	}),
	op(protocol.OpVerifyEmail, (*account.Service).VerifyEmail, func(r protocol.VerifyEmailRequest) error {
		return required((r.Token != "") != (r.Login != "") && r.Code != "", "code and one of token or login are required")
	}),
	op(protocol.OpResendVerification, (*account.Service).ResendVerification, func(r protocol.ResendVerificationRequest) error {
		return required(r.Token != "", "token is required")
	}),
	op(protocol.OpRequestPasswordReset, (*account.Service).RequestPasswordReset, func(r protocol.RequestPasswordResetRequest) error {
		return required(r.Login != "", "login is required")
	}),
	op(protocol.OpResetPassword, (*account.Service).ResetPassword, func(r protocol.ResetPasswordRequest) error {
		return required(r.Login != "" && r.Code != "" && r.NewPassword != "", "login, code and new_password are required")
	}).hashing(),

	op(protocol.OpServiceAuth, (*account.Service).ServiceAuth, func(r protocol.ServiceAuthRequest) error {
		return required(r.Key != "", "key is required")
	}),
	op(protocol.OpAdminListUsers, (*account.Service).AdminListUsers, nil),
	op(protocol.OpAdminShowUser, (*account.Service).AdminShowUser, requireUser),
	op(protocol.OpAdminDisableUser, (*account.Service).AdminDisableUser, requireUser),
	op(protocol.OpAdminEnableUser, (*account.Service).AdminEnableUser, requireUser),
	op(protocol.OpAdminDeleteUser, (*account.Service).AdminDeleteUser, requireUser),
	op(protocol.OpAdminUnlockUser, (*account.Service).AdminUnlockUser, requireUser),
	op(protocol.OpAdminEndSessions, (*account.Service).AdminEndSessions, requireUser),
	op(protocol.OpWatchRevocations, (*account.Service).WatchRevocations, nil),
}

// operationsByName indexes the table.
var operationsByName = func() map[string]operation {
	m := make(map[string]operation, len(operations))
	for _, o := range operations {
		if _, dup := m[o.name]; dup {
			panic("server: operation " + o.name + " twice in the table")
		}
		m[o.name] = o
	}
	return m
}()

func required(ok bool, msg string) error {
	if !ok {
		return account.NewError(protocol.CodeBadRequest, msg)
	}
	return nil
}

func requireToken(r protocol.TokenRequest) error { return required(r.Token != "", "token is required") }

func requireFactorChange(r protocol.SecondFactorRequest) error {
	return required(r.Token != "" && r.Password != "" && r.Code != "", "token, password and code are required")
}

func requireUser(r protocol.AdminUserRequest) error {
	return required(r.User != "", "user is required")
}

// handle decodes and dispatches one request; it always returns a response.
func (s *Server) handle(ctx context.Context, plain []byte, ip string) *protocol.Response {
	ctx = account.WithClientIP(ctx, ip)
	req, err := protocol.DecodeRequest(plain)
	if err == nil && !utf8.Valid(plain) {
		// encoding/json would turn invalid bytes into U+FFFD, so that
		// two different passwords would be one.
		err = errors.New("request is not valid UTF-8")
	}
	if err != nil {
		id := probeID(plain)
		if refused := s.allowRequest(ctx, ip, "bad_request"); refused != nil {
			werr, _ := toWire(refused)
			return &protocol.Response{ID: id, Error: werr}
		}
		return &protocol.Response{ID: id, Error: &protocol.Error{Code: protocol.CodeBadRequest, Message: err.Error()}}
	}
	o, known := operationsByName[req.Op]
	var refused error
	service := account.ConnectionFrom(ctx).Service() != nil
	if req.ClientIP != "" || service {
		ctx, ip, refused = s.allowServiceRequest(ctx, req, ip)
	} else if r := s.allowRequest(ctx, ip, req.Op); r != nil {
		refused = r
	}
	// A service's own requests are bounded by its key's limit; with the
	// end user's IP, that IP's password-hashing budget applies too.
	if refused == nil && o.hashes && (!service || req.ClientIP != "") {
		if r := s.allowHash(ctx, ip, req.Op); r != nil {
			refused = r
		}
	}
	if refused != nil {
		werr, _ := toWire(refused)
		return &protocol.Response{ID: req.ID, Error: werr}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	start := time.Now()
	var result any
	if known {
		result, err = o.call(ctx, s.svc, req.Body)
	} else {
		err = account.NewError(protocol.CodeUnsupportedOp, fmt.Sprintf("unsupported op %q", truncate(req.Op, 32)))
	}
	resp := &protocol.Response{ID: req.ID}
	if err == nil {
		if resp.Result, err = json.Marshal(result); err != nil {
			resp.Result = nil
		}
	}
	if err != nil {
		werr, internal := toWire(err)
		if internal {
			s.log.Error("operation failed", "op", req.Op, "ip", ip, "err", err)
		}
		resp.Error = werr
	}
	outcome := "ok"
	if resp.Error != nil {
		outcome = resp.Error.Code
	}
	s.metrics.operation(req.Op, known, outcome, time.Since(start))
	s.log.Debug("request", "op", truncate(req.Op, 32), "ip", ip, "outcome", outcome, "dur", time.Since(start))
	return resp
}

// probeID returns the id of a request that failed to decode, when it has
// a valid one, so the error response can echo it; else 0.
func probeID(plain []byte) uint64 {
	var probe struct {
		ID uint64 `json:"id"`
	}
	if json.Unmarshal(plain, &probe) == nil && probe.ID <= protocol.MaxRequestID {
		return probe.ID
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
