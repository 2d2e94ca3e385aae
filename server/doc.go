// Package server is accountd's server: the account rules (Service:
// passwords, sessions, tokens) and the transports (Server: the WebSocket
// endpoint /ws speaking protocol v1, and the HTTP endpoints on the same
// listener).
//
// Service has no transport in it, so tests can call the rules directly.
// The wire protocol is specified in protocol/SPEC.md. Both types are safe
// for concurrent use.
package server
