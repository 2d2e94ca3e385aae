package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
)

// Device tokens follow OWASP's device cookies: a full login (password,
// and second factor when on) gives the client a token for the account,
// which it presents at its next login. Failures with a valid token count
// against that device only; failures without one count against the
// account, which strangers can throttle and lock but which no longer
// refuses a device that has a valid token. The throttle and the lock use
// the same settings (ThrottleAfter, LockAfter) on both counters.
//
// A token is the device's id (32 hex digits), a dot, and a 32-byte
// random secret in base64url; only the secret's SHA-256 is stored, and
// every full login from the device replaces the secret.

const (
	deviceSecretBytes = 32
	// devicesKept is how many devices an account keeps, the most
	// recently used: enough for a person's machines and browsers, few
	// enough that logins from throwaway clients cannot grow the table.
	devicesKept = 32
)

// deviceClaim is a device a login says it comes from: from a device
// token (secret checked against the stored hash), or from the session a
// re-authentication runs in (bySession: the session proved it).
type deviceClaim struct {
	id        string
	secret    [sha256.Size]byte
	bySession bool
}

// parseDeviceToken reads a device token; a malformed one is no claim.
func parseDeviceToken(tok string) deviceClaim {
	id, secret, ok := strings.Cut(tok, ".")
	if !ok || len(id) != 32 || strings.ToLower(id) != id {
		return deviceClaim{}
	}
	if _, err := hex.DecodeString(id); err != nil {
		return deviceClaim{}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(secret)
	if err != nil || len(b) != deviceSecretBytes {
		return deviceClaim{}
	}
	return deviceClaim{id: id, secret: sha256.Sum256(b)}
}

// checkDeviceToken refuses a device token no server could have issued
// the length of.
func checkDeviceToken(tok string) error {
	if len(tok) > protocol.MaxDeviceTokenLength {
		return NewError(protocol.CodeBadRequest, fmt.Sprintf("device_token must be at most %d characters", protocol.MaxDeviceTokenLength))
	}
	return nil
}

// lookupDevice returns the claimed device, or the zero Device when there
// is no claim, no such device, or a secret that does not match. The
// caller checks that the device is the account's. A claim is looked up
// whether or not the username exists, so that both do the same work.
func (s *Service) lookupDevice(ctx context.Context, c deviceClaim) (store.Device, error) {
	if c.id == "" {
		return store.Device{}, nil
	}
	d, err := s.store.GetDevice(ctx, c.id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Device{}, nil
	}
	if err != nil {
		return store.Device{}, fmt.Errorf("get device: %w", err)
	}
	if !c.bySession && subtle.ConstantTimeCompare(c.secret[:], d.SecretHash) != 1 {
		return store.Device{}, nil
	}
	return d, nil
}

// deviceOf returns d when it is account a's device, else the zero
// Device.
func deviceOf(d store.Device, a store.Account) store.Device {
	if d.ID == "" || d.AccountID != a.ID {
		return store.Device{}
	}
	return d
}

// newDeviceID returns a fresh device id.
func newDeviceID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// issueDevice records a full login of a from device id (a new id, or the
// device whose token the login presented) with a fresh secret, and
// returns the token for the client. A store failure costs only the
// token: the login stands, and the next one tries again.
func (s *Service) issueDevice(ctx context.Context, a store.Account, id string) string {
	secret := make([]byte, deviceSecretBytes)
	if _, err := rand.Read(secret); err != nil {
		s.log.Error("device token: random source failed", "err", err)
		return ""
	}
	h := sha256.Sum256(secret)
	now := s.stamp()
	d := store.Device{ID: id, AccountID: a.ID, SecretHash: h[:], CreatedAt: now, LastLoginAt: now}
	if err := s.store.PutDevice(ctx, d, devicesKept); err != nil {
		s.log.Warn("device token not issued", "account", a.ID, "err", err)
		return ""
	}
	return id + "." + base64.RawURLEncoding.EncodeToString(secret)
}
