package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the Argon2id cost parameters for new password hashes.
type Argon2Params struct {
	// Time is the number of passes. Default 2.
	Time uint32
	// MemoryKiB is the memory per hash in KiB. Default 65536 (64 MiB).
	MemoryKiB uint32
	// Threads is the parallelism. Default 4.
	Threads uint8
}

// DefaultArgon2 are the production defaults: t=2, m=64 MiB, p=4.
var DefaultArgon2 = Argon2Params{Time: 2, MemoryKiB: 64 * 1024, Threads: 4}

const (
	saltLen = 16
	hashLen = 32
	// Bounds for parameters read back from stored hashes, checked before
	// any work so a corrupted row cannot make a login eat the machine.
	maxStoredMemoryKiB = 4 * 1024 * 1024
	maxStoredTime      = 64
)

var phcB64 = base64.RawStdEncoding

// errBadHash is returned for a stored hash that is not a PHC Argon2id
// string this package can verify.
var errBadHash = errors.New("server: malformed password hash")

// HashPassword returns a PHC string:
// $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<hash>, with unpadded
// standard base64, so that other Argon2 libraries can verify it.
func HashPassword(password string, p Argon2Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	sum := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, hashLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, phcB64.EncodeToString(salt), phcB64.EncodeToString(sum)), nil
}

// dummyHash returns a PHC string with the given parameters and a random
// salt and digest. Verifying any password against it costs exactly what a
// real verification costs, and no password matches it; computing it needs
// no hashing, so a server at rest holds no 64 MiB Argon2 buffer.
func dummyHash(p Argon2Params) (string, error) {
	b := make([]byte, saltLen+hashLen)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, phcB64.EncodeToString(b[:saltLen]), phcB64.EncodeToString(b[saltLen:])), nil
}

// parsePHC splits an Argon2id PHC string into its parameters, salt and hash.
func parsePHC(phc string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, errBadHash
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &threads); n != 3 || err != nil {
		return p, nil, nil, errBadHash
	}
	if p.MemoryKiB == 0 || p.MemoryKiB > maxStoredMemoryKiB || p.Time == 0 || p.Time > maxStoredTime || threads == 0 || threads > 255 {
		return p, nil, nil, errBadHash
	}
	p.Threads = uint8(threads)
	salt, err := phcB64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, errBadHash
	}
	sum, err := phcB64.DecodeString(parts[5])
	if err != nil || len(sum) < 16 || len(sum) > 64 {
		return p, nil, nil, errBadHash
	}
	return p, salt, sum, nil
}

// VerifyPassword reports whether password matches the PHC string, and
// whether the hash should be upgraded to want (its parameters differ).
func VerifyPassword(password, phc string, want Argon2Params) (ok, rehash bool, err error) {
	p, salt, sum, err := parsePHC(phc)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(sum)))
	ok = subtle.ConstantTimeCompare(got, sum) == 1
	return ok, ok && (p != want || len(sum) != hashLen || len(salt) != saltLen), nil
}

// hashGate bounds how many Argon2 hashes run at once: each holds
// MemoryKiB of memory, so a login flood must queue rather than allocate.
type hashGate struct {
	slots   chan struct{}
	wait    time.Duration
	metrics *Metrics
}

func newHashGate(n int, wait time.Duration) *hashGate {
	return &hashGate{slots: make(chan struct{}, n), wait: wait}
}

// errBusy is returned when no hashing slot frees up within the wait.
var errBusy = errors.New("server: too many password hashes in progress")

// do runs f in a slot, waiting at most g.wait (and the context) for one.
func (g *hashGate) do(ctx context.Context, f func()) error {
	t := time.NewTimer(g.wait)
	defer t.Stop()
	g.metrics.hashWait(1)
	select {
	case g.slots <- struct{}{}:
		g.metrics.hashWait(-1)
	case <-t.C:
		g.metrics.hashWait(-1)
		g.metrics.hashRefused()
		return errBusy
	case <-ctx.Done():
		g.metrics.hashWait(-1)
		return ctx.Err()
	}
	g.metrics.hashRunning(1)
	defer func() { g.metrics.hashRunning(-1); <-g.slots }()
	f()
	// The hash's buffer (MemoryKiB) is garbage now. Collect it before
	// the slot is given to the next request, so the process holds at
	// most one buffer per slot; left to the pacer (GOGC=100) the heap
	// would grow to twice the buffers in flight. Handing the slot on
	// first lets a third buffer live for a moment and gained no login
	// rate measurable on a 2-core machine.
	runtime.GC()
	return nil
}

// Password policy (NIST SP 800-63B rev 4): length only, no composition
// rules. Lengths count Unicode code points.
const (
	// DefaultMinPasswordLength is the default minimum length.
	DefaultMinPasswordLength = 15
	// MinPasswordLengthFloor is the lowest minimum a config may set.
	MinPasswordLengthFloor = 8
	// MaxPasswordLength is the upper bound on any password.
	MaxPasswordLength = 1024
)

// checkPassword applies the policy to a chosen password.
func checkPassword(password, username string, minLen int) error {
	if !utf8.ValidString(password) {
		return newError(codeWeakPassword, "password must be valid UTF-8")
	}
	n := utf8.RuneCountInString(password)
	if n < minLen {
		return newError(codeWeakPassword, fmt.Sprintf("password must be at least %d characters", minLen))
	}
	if n > MaxPasswordLength {
		return newError(codeWeakPassword, fmt.Sprintf("password must be at most %d characters", MaxPasswordLength))
	}
	if strings.EqualFold(password, username) {
		return newError(codeWeakPassword, "password must not be the username")
	}
	if isCommonPassword(password) {
		return newError(codeWeakPassword, "password is one of the 10,000 most common passwords; choose another")
	}
	return nil
}

// generatedAlphabet has no look-alike characters.
const generatedAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// GeneratePassword returns a random 24-character password (about 139 bits)
// drawn uniformly from an alphabet without look-alike characters.
func GeneratePassword() (string, error) {
	const n = 24
	out := make([]byte, 0, n)
	buf := make([]byte, 64)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			// Rejection sampling keeps the distribution uniform.
			if int(b) < 256-256%len(generatedAlphabet) && len(out) < n {
				out = append(out, generatedAlphabet[int(b)%len(generatedAlphabet)])
			}
		}
	}
	return string(out), nil
}
