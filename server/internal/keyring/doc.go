// Package keyring holds accountd's JWT signing keys: it loads them from
// the database, unseals their private halves with the master key, signs
// and verifies tokens with them, publishes them as a JWKS, and rotates
// them by age, safely with several instances on one database.
//
// Rotation:
//
//   - By age: when the key that signs has signed for Policy.Interval, one
//     instance writes the next key with ActiveAt = now + Policy.Lead.
//     Every instance reloads the keys every Policy.ReloadEvery, so each
//     publishes the next key at least Lead - ReloadEvery before any
//     instance signs with it: a verifier that cached the JWKS has
//     refetched by then.
//   - In the same transaction every older key gets RetireAt = the next
//     key's ActiveAt (it stops signing then, on every instance, as each
//     picks the newest key whose ActiveAt has passed) and ExpiresAt =
//     RetireAt + Policy.Keep: it stays published until the last token it
//     signed has expired.
//   - Each rotation writes the next generation number, which the database
//     keeps unique: of several instances rotating at the same moment, one
//     writes its key and the others get a conflict and load that key.
//
// A Ring is safe for concurrent use.
package keyring
