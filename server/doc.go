// Package server is accountd's transport: the WebSocket endpoint /ws
// speaking the wire protocol (protocol/SPEC.md) and the HTTP endpoints on
// the same listener. The account rules it calls live in server/account.
//
// The HTTP endpoints: GET /.well-known/jwks.json (the signing keys),
// GET /healthz (the process answers), GET /readyz (200 when the database
// answers and a signing key is loaded, else 503); GET /metrics
// (Prometheus) is served apart (Server.MetricsHandler). Every operation is one entry of the operation table
// (ops.go), from which both dispatch and the metrics' labels come.
// Server.Shutdown answers the requests in flight before it closes each
// connection with 1001.
//
// A Server is safe for concurrent use.
package server
