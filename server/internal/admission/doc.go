// Package admission admits expensive work (password hashes, handshake
// RSA decryptions) to a fixed number of slots, fairly across clients.
//
// Each caller names its client by a key (an IPv4 address or an IPv6 /64).
// A key holds at most one slot and one queue place at a time (by
// default): a second waiter from a key that already waits is refused at
// once. When a slot
// frees, the waiter whose key used the fewest slots lately goes first
// (usage decays with a half-life), so a client that floods the gate waits
// behind one that asks now and then, however many keys the flood comes
// from. A Gate is safe for concurrent use.
package admission
