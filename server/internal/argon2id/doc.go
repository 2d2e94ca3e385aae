// Package argon2id hashes and verifies account passwords with Argon2id
// (golang.org/x/crypto/argon2) in the standard PHC string format, and
// bounds how many hashes run at once (Gate), since each holds its memory
// cost for the whole computation.
//
// The PHC format is $argon2id$v=19$m=<KiB>,t=<passes>,p=<threads>$<salt>$<hash>
// with unpadded standard base64, so other Argon2 libraries can verify the
// hashes. Parameters read back from a stored hash are bounded before any
// work is done. Everything here is safe for concurrent use.
package argon2id
