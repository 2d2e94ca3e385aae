package setup

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Errors returned by OpenConfig and the functions built on it. Compare with
// errors.Is.
var (
	// ErrWrongPassword is returned when the config does not decrypt: the
	// password is wrong, or a byte of the file was changed. The two cannot
	// be told apart, by design.
	ErrWrongPassword = errors.New("setup: wrong admin password, or the config file was modified")
	// ErrMalformedConfig is returned when the file is not a sealed accountd
	// config (bad magic, too short or too long, KDF parameters out of
	// bounds) or its decrypted contents are invalid.
	ErrMalformedConfig = errors.New("setup: malformed config file")
	// ErrUnsupportedVersion is returned for a config file, or settings
	// inside it, of a format version this accountd does not read (most
	// likely written by a newer accountd).
	ErrUnsupportedVersion = errors.New("setup: unsupported config file version")
)

// Layout of the sealed file; see the package documentation.
const (
	magic         = "ACCOUNTD-CONFIG"
	formatVersion = 1
	kdfArgon2id   = 1
	saltSize      = 16
	nonceSize     = 12
	tagSize       = 16
	keySize       = 32
	// headerSize is magic, version, KDF id, t, m, p, salt and nonce.
	headerSize = len(magic) + 1 + 1 + 4 + 4 + 1 + saltSize + nonceSize
)

// KDFParams are the Argon2id parameters that turn the admin password into
// the key of the sealed config. The zero value means DefaultKDFParams.
type KDFParams struct {
	// Time is the number of passes. Default 3; 1 to MaxKDFTime.
	Time uint32
	// MemoryKiB is the memory cost in KiB. Default 65536 (64 MiB); 8 per
	// thread to MaxKDFMemoryKiB.
	MemoryKiB uint32
	// Threads is the parallelism. Default 4; 1 to MaxKDFThreads.
	Threads uint8
}

// Bounds on KDFParams. OpenConfig refuses a file whose parameters exceed
// them before doing any work, so that a hostile file cannot make an unlock
// take minutes or gigabytes.
const (
	MaxKDFTime      = 20
	MaxKDFMemoryKiB = 1 << 20 // 1 GiB
	MaxKDFThreads   = 64
)

// DefaultKDFParams returns the parameters SealConfig uses for the zero
// KDFParams: t=3, m=64 MiB, p=4 (about 0.1–0.3 s on a current machine).
// Only tests pass cheaper ones.
func DefaultKDFParams() KDFParams {
	return KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4}
}

// orDefault returns DefaultKDFParams for the zero value, p otherwise.
func (p KDFParams) orDefault() KDFParams {
	if p == (KDFParams{}) {
		return DefaultKDFParams()
	}
	return p
}

// Validate checks p against the bounds. The zero value is valid: it means
// the defaults.
func (p KDFParams) Validate() error {
	if err := p.check(); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	return nil
}

// check is Validate without the package prefix, for wrapping.
func (p KDFParams) check() error {
	if p == (KDFParams{}) {
		return nil
	}
	switch {
	case p.Time < 1 || p.Time > MaxKDFTime:
		return fmt.Errorf("argon2id time %d is outside 1 to %d", p.Time, MaxKDFTime)
	case p.Threads < 1 || p.Threads > MaxKDFThreads:
		return fmt.Errorf("argon2id threads %d is outside 1 to %d", p.Threads, MaxKDFThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > MaxKDFMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB is outside %d KiB (8 per thread) to %d KiB",
			p.MemoryKiB, 8*uint32(p.Threads), MaxKDFMemoryKiB)
	}
	return nil
}

// deriveKey is a variable so that tests can check that hostile parameters
// are refused before any key derivation.
var deriveKey = func(password, salt []byte, p KDFParams) []byte {
	return argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, keySize)
}

// SealConfig validates cfg and seals it under password with the given KDF
// parameters (the zero value means DefaultKDFParams), with a fresh random
// salt and nonce. password must satisfy CheckAdminPassword.
func SealConfig(cfg *Config, password []byte, p KDFParams) ([]byte, error) {
	if cfg == nil {
		return nil, errors.New("setup: seal config: nil config")
	}
	if err := CheckAdminPassword(password); err != nil {
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("setup: seal config: %w", err)
	}
	p = p.orDefault()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	plaintext, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("setup: seal config: encode: %w", err)
	}
	defer clear(plaintext)

	header := make([]byte, headerSize)
	copy(header, magic)
	h := header[len(magic):]
	h[0] = formatVersion
	h[1] = kdfArgon2id
	binary.BigEndian.PutUint32(h[2:6], p.Time)
	binary.BigEndian.PutUint32(h[6:10], p.MemoryKiB)
	h[10] = p.Threads
	salt, nonce := h[11:11+saltSize], h[11+saltSize:]
	if _, err := rand.Read(h[11:]); err != nil {
		return nil, fmt.Errorf("setup: seal config: random salt: %w", err)
	}

	key := deriveKey(password, salt, p)
	defer clear(key)
	aead, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("setup: seal config: %w", err)
	}
	out := make([]byte, headerSize, headerSize+len(plaintext)+tagSize)
	copy(out, header)
	return aead.Seal(out, nonce, plaintext, header), nil
}

// OpenConfig decrypts a sealed config with password and returns it,
// validated. It returns ErrMalformedConfig, ErrUnsupportedVersion or
// ErrWrongPassword (wrapped); it never returns a Config with an error.
func OpenConfig(data, password []byte) (*Config, error) {
	return openConfig(data, password, KDFParams{Time: MaxKDFTime, MemoryKiB: MaxKDFMemoryKiB, Threads: MaxKDFThreads})
}

// openConfig is OpenConfig with a bound on the KDF parameters, lower in
// the fuzz test.
func openConfig(data, password []byte, limit KDFParams) (*Config, error) {
	if len(data) > MaxConfigFileSize {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrMalformedConfig, len(data), MaxConfigFileSize)
	}
	if len(data) < len(magic) || !bytes.Equal(data[:len(magic)], []byte(magic)) {
		return nil, fmt.Errorf("%w: not an accountd config file (no %q header)", ErrMalformedConfig, magic)
	}
	if len(data) < len(magic)+1 {
		return nil, fmt.Errorf("%w: truncated header", ErrMalformedConfig)
	}
	if v := data[len(magic)]; v != formatVersion {
		return nil, fmt.Errorf("%w: file format version %d (this accountd reads version %d)",
			ErrUnsupportedVersion, v, formatVersion)
	}
	if len(data) < headerSize+tagSize {
		return nil, fmt.Errorf("%w: truncated (%d bytes)", ErrMalformedConfig, len(data))
	}
	header := data[:headerSize]
	h := header[len(magic):]
	if h[1] != kdfArgon2id {
		return nil, fmt.Errorf("%w: unknown key derivation function %d", ErrMalformedConfig, h[1])
	}
	p := KDFParams{
		Time:      binary.BigEndian.Uint32(h[2:6]),
		MemoryKiB: binary.BigEndian.Uint32(h[6:10]),
		Threads:   h[10],
	}
	if p == (KDFParams{}) {
		return nil, fmt.Errorf("%w: zero key derivation parameters", ErrMalformedConfig)
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedConfig, err)
	}
	if p.Time > limit.Time || p.MemoryKiB > limit.MemoryKiB || p.Threads > limit.Threads {
		return nil, fmt.Errorf("%w: key derivation parameters %+v exceed %+v", ErrMalformedConfig, p, limit)
	}
	if len(password) == 0 {
		return nil, ErrWrongPassword
	}
	salt, nonce := h[11:11+saltSize], h[11+saltSize:]

	key := deriveKey(password, salt, p)
	defer clear(key)
	aead, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("setup: open config: %w", err)
	}
	plaintext, err := aead.Open(nil, nonce, data[headerSize:], header)
	if err != nil {
		return nil, ErrWrongPassword
	}
	defer clear(plaintext)
	return decodeConfig(plaintext)
}

// decodeConfig parses and validates the settings JSON.
func decodeConfig(plaintext []byte) (*Config, error) {
	var v struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(plaintext, &v); err != nil {
		return nil, fmt.Errorf("%w: decode settings: %w", ErrMalformedConfig, err)
	}
	if v.Version == nil {
		return nil, fmt.Errorf("%w: settings have no version", ErrMalformedConfig)
	}
	if *v.Version != ConfigVersion {
		return nil, fmt.Errorf("%w: settings version %d (this accountd reads version %d)",
			ErrUnsupportedVersion, *v.Version, ConfigVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(plaintext))
	dec.DisallowUnknownFields()
	cfg := new(Config)
	if err := dec.Decode(cfg); err != nil {
		return nil, fmt.Errorf("%w: decode settings: %w", ErrMalformedConfig, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after settings", ErrMalformedConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: invalid settings: %s", ErrMalformedConfig, strings.TrimPrefix(err.Error(), "setup: "))
	}
	cfg.ExpirePreviousIdentity(time.Now())
	return cfg, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealedKDF returns the key derivation parameters in the header of a
// sealed file that OpenConfig accepted.
func sealedKDF(data []byte) KDFParams {
	h := data[len(magic):headerSize]
	return KDFParams{
		Time:      binary.BigEndian.Uint32(h[2:6]),
		MemoryKiB: binary.BigEndian.Uint32(h[6:10]),
		Threads:   h[10],
	}
}
