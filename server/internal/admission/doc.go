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
// from.
//
// The wait is sized from the gate's measured rate: a caller waits the
// gate's wait plus the wait its place in the queue should take at the
// rate slots have been freed lately (counted up to the gate's wait), so
// that a dip in the rate does not refuse a queue the gate expected to
// serve. A refused caller has waited: clients that retry at once cannot
// spin. A Gate is safe for concurrent use.
package admission
