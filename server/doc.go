// Package server is accountd's server: the account rules (Service:
// passwords, sessions, tokens) and the transports (Server: the WebSocket
// endpoint /ws speaking protocol v1, and the HTTP endpoints on the same
// listener).
//
// The HTTP endpoints: GET /.well-known/jwks.json (the signing keys),
// GET /healthz (the process answers), GET /readyz (200 when the database
// answers and a signing key is loaded, else 503) and GET /metrics
// (Prometheus; see Metrics). Server.Shutdown answers the requests in
// flight before it closes each connection with 1001. Signing keys rotate
// by age, safely with several instances on one database (rotation.go).
//
// Service has no transport in it, so tests can call the rules directly.
// The wire protocol is specified in protocol/SPEC.md. Both types are safe
// for concurrent use.
package server
