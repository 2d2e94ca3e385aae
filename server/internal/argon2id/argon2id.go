package argon2id

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the Argon2id cost parameters for new password hashes.
type Params struct {
	// Time is the number of passes. Default 2.
	Time uint32
	// MemoryKiB is the memory per hash in KiB. Default 65536 (64 MiB).
	MemoryKiB uint32
	// Threads is the parallelism. Default 4.
	Threads uint8
}

// Default are the production parameters: t=2, m=64 MiB, p=4.
var Default = Params{Time: 2, MemoryKiB: 64 * 1024, Threads: 4}

// Bounds on parameters, for a config and for hashes read back from the
// database alike, so that a typo or a corrupted row cannot make a login
// eat the machine.
const (
	MaxTime      = 64
	MaxMemoryKiB = 4 << 20 // 4 GiB
)

const (
	saltLen = 16
	hashLen = 32
)

var phcB64 = base64.RawStdEncoding

// ErrMalformed is returned by Verify for a stored hash that is not a PHC
// Argon2id string within the bounds.
var ErrMalformed = errors.New("argon2id: malformed password hash")

// Validate reports whether p is within the bounds: Time 1 to MaxTime,
// Threads at least 1, MemoryKiB 8 per thread to MaxMemoryKiB.
func (p Params) Validate() error {
	switch {
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("argon2id: time %d is outside 1 to %d", p.Time, MaxTime)
	case p.Threads < 1:
		return errors.New("argon2id: threads must be at least 1")
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > MaxMemoryKiB:
		return fmt.Errorf("argon2id: memory %d KiB is outside %d KiB (8 per thread) to %d KiB", p.MemoryKiB, 8*uint32(p.Threads), MaxMemoryKiB)
	}
	return nil
}

// Hash returns the PHC string of password under p with a fresh salt.
func Hash(password string, p Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("argon2id: read salt: %w", err)
	}
	pw := []byte(password)
	defer clear(pw)
	return format(p, salt, argon2.IDKey(pw, salt, p.Time, p.MemoryKiB, p.Threads, hashLen)), nil
}

// Dummy returns a PHC string with parameters p and a random salt and
// digest. Verifying any password against it costs what a real
// verification under p costs, and no password matches it; making it needs
// no hashing, so a server at rest holds no Argon2 buffer.
func Dummy(p Params) string {
	b := make([]byte, saltLen+hashLen)
	rand.Read(b) // never fails: it crashes the program instead
	return format(p, b[:saltLen], b[saltLen:])
}

func format(p Params, salt, sum []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, phcB64.EncodeToString(salt), phcB64.EncodeToString(sum))
}

// ParseParams returns the parameters of a PHC string, or ErrMalformed.
func ParseParams(phc string) (Params, error) {
	p, _, _, err := parse(phc)
	return p, err
}

// ParseParamField parses the parameter field of a PHC string
// ("m=65536,t=2,p=4"), or returns ErrMalformed.
func ParseParamField(field string) (Params, error) {
	var p Params
	var threads uint32
	if n, err := fmt.Sscanf(field, "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &threads); n != 3 || err != nil {
		return p, ErrMalformed
	}
	if p.MemoryKiB == 0 || p.MemoryKiB > MaxMemoryKiB || p.Time == 0 || p.Time > MaxTime || threads == 0 || threads > 255 {
		return p, ErrMalformed
	}
	p.Threads = uint8(threads)
	return p, nil
}

// parse splits an Argon2id PHC string into its parameters, salt and hash.
func parse(phc string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, ErrMalformed
	}
	p, err := ParseParamField(parts[3])
	if err != nil {
		return p, nil, nil, err
	}
	salt, err := phcB64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, ErrMalformed
	}
	sum, err := phcB64.DecodeString(parts[5])
	if err != nil || len(sum) < 16 || len(sum) > 64 {
		return p, nil, nil, ErrMalformed
	}
	return p, salt, sum, nil
}

// Verify reports whether password matches the PHC string, and whether the
// hash should be replaced by one under want (its parameters, salt or
// digest length differ). It returns ErrMalformed for a hash it cannot read.
func Verify(password, phc string, want Params) (ok, rehash bool, err error) {
	p, salt, sum, err := parse(phc)
	if err != nil {
		return false, false, err
	}
	pw := []byte(password)
	defer clear(pw)
	got := argon2.IDKey(pw, salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(sum)))
	ok = subtle.ConstantTimeCompare(got, sum) == 1
	return ok, ok && (p != want || len(sum) != hashLen || len(salt) != saltLen), nil
}
