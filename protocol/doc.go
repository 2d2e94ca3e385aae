// Package protocol implements accountd's wire protocol, versions 3 and 2
// (one implementation, parameterised by the version the WebSocket
// subprotocol selected): RSA-OAEP-SHA256 key transport in both
// directions, the server's Ed25519 identity signature over the whole
// handshake transcript (in version 3 also the previous identity key's,
// during the overlap of a key rotation), HKDF-SHA256 key derivation bound
// to that transcript, and AES-256-GCM packets with per-direction
// counters. It also defines the request, response and error documents
// carried inside packets.
//
// The specification is protocol/SPEC.md; the test vectors in
// protocol/testdata/vectors.json let other implementations check
// themselves, and protocol/testdata/interop/client.py is one, written from
// the specification alone. The package depends on the standard library
// only and knows nothing about transport or storage: callers move the
// frames.
//
// Every decoder of network bytes is strict: member names are
// case-sensitive and unique, unknown members are refused, and every RSA-OAEP
// or AES-GCM failure is the one opaque ErrDecrypt.
//
// Handshake values are used by one goroutine; a Session may seal and open
// from different goroutines.
package protocol
