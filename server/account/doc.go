// Package account holds accountd's account rules: signup, login and its
// throttling, tokens and sessions, the password policy, the audit log,
// and the administrator's decisions. It knows no transport (the server
// package speaks the wire protocol, protocol/SPEC.md, and calls it), so
// tests can call every rule without a socket.
//
// Every decision that changes an account or a credential is an audit
// event (store.AuthEvent); administrator decisions are written in the same
// transaction as the change. Errors a client may be told about are
// *Error, with a code from the protocol's closed list; anything else is a
// failure the transport reports as internal or unavailable.
//
// A Service is safe for concurrent use.
package account
