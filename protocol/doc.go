// Package protocol implements accountd's wire protocol, version 1: the
// signed hello, RSA-OAEP-SHA256 key transport in both directions, HKDF-SHA256
// key derivation bound to the handshake transcript, and AES-256-GCM packets
// with per-direction counters. It also defines the request, response and
// error documents carried inside packets.
//
// The specification is protocol/SPEC.md; test vectors are in
// protocol/testdata. The package depends on the standard library only and
// knows nothing about transport or storage: callers move the frames.
//
// Handshake values are used by one goroutine; a Session may seal and open
// from different goroutines.
package protocol
