package store

import "time"

// Device is a device that has fully logged in to an account (password,
// and second factor when on). The client keeps the device token, the id
// and a random secret, and presents it at login: failures with a valid
// token count against the device, not against the account, so that
// strangers' guesses cannot throttle or lock out the owner (OWASP's
// device cookies).
type Device struct {
	// ID is the device's random id (32 lowercase hex characters).
	ID        string
	AccountID string
	// SecretHash is the SHA-256 of the token's 32-byte random secret,
	// which has too much entropy for a slow hash to add anything. The
	// secret is replaced at every full login from the device.
	SecretHash []byte
	CreatedAt  time.Time
	// LastLoginAt is the device's last full login.
	LastLoginAt time.Time
	// Failures is the device's failed-login counter; PutDevice clears
	// it.
	Failures LoginFailures
}

// DeviceSecretHashLength is the length of Device.SecretHash (SHA-256).
const DeviceSecretHashLength = 32
