package setup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSealOpenRoundTrip(t *testing.T) {
	cfg := MustConfig(t)
	cfg.Server.AllowedOrigins = []string{"https://chat.example"}
	cfg.Server.Argon2 = &Argon2Params{Time: 2, MemoryKiB: 64 << 10, Threads: 4}
	sealed := MustSeal(t, cfg)

	got, err := OpenConfig(sealed, testPassword)
	if err != nil {
		t.Fatalf("OpenConfig: %v", err)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Fatalf("OpenConfig = %s, want %s", got.Redacted(), cfg.Redacted())
	}
	if !bytes.HasPrefix(sealed, []byte("ACCOUNTD-CONFIG\x01\x01")) {
		t.Errorf("sealed file starts %q, want magic, version 1, KDF 1", sealed[:17])
	}
	for _, s := range secrets(cfg) {
		if bytes.Contains(sealed, []byte(s)) {
			t.Errorf("sealed file contains secret %q in clear", s)
		}
	}

	again := MustSeal(t, cfg)
	if bytes.Equal(sealed[26:54], again[26:54]) {
		t.Error("two seals share a salt and nonce")
	}
}

func TestSealDefaultParams(t *testing.T) {
	sealed, err := SealConfig(MustConfig(t), testPassword, KDFParams{})
	if err != nil {
		t.Fatal(err)
	}
	h := sealed[len(magic)+2:]
	got := KDFParams{binary.BigEndian.Uint32(h[0:4]), binary.BigEndian.Uint32(h[4:8]), h[8]}
	if want := (KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4}); got != want || got != DefaultKDFParams() {
		t.Fatalf("zero params sealed with %+v, want %+v", got, want)
	}
	if _, err := OpenConfig(sealed, testPassword); err != nil {
		t.Fatalf("OpenConfig: %v", err)
	}
}

func TestOpenWrongPassword(t *testing.T) {
	sealed := MustSeal(t, MustConfig(t))
	for _, pw := range []string{"correct horse battery stapl", "Correct horse battery staple", "", "x"} {
		cfg, err := OpenConfig(sealed, []byte(pw))
		if !errors.Is(err, ErrWrongPassword) || cfg != nil {
			t.Errorf("OpenConfig(%q) = %v, %v; want nil, ErrWrongPassword", pw, cfg, err)
		}
	}
	if _, err := OpenConfig(sealed, []byte("nope")); err.Error() != "setup: wrong admin password, or the config file was modified" {
		t.Errorf("error text = %q", err)
	}
}

// TestOpenFlippedBytes changes every byte of a sealed file in turn: each
// change must fail, and never yield a config.
func TestOpenFlippedBytes(t *testing.T) {
	sealed := MustSeal(t, MustConfig(t))
	for i := range sealed {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(sealed)
			b[i] ^= mask
			cfg, err := OpenConfig(b, testPassword)
			if err == nil || cfg != nil {
				t.Fatalf("byte %d ^ %#x: OpenConfig = %v, %v; want nil, error", i, mask, cfg, err)
			}
			if i >= headerSize && !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("byte %d ^ %#x in the ciphertext: err = %v, want ErrWrongPassword", i, mask, err)
			}
		}
	}
}

func TestOpenTruncatedAndExtended(t *testing.T) {
	sealed := MustSeal(t, MustConfig(t))
	for n := range len(sealed) {
		cfg, err := OpenConfig(sealed[:n], testPassword)
		if err == nil || cfg != nil {
			t.Fatalf("truncated to %d bytes: OpenConfig = %v, %v; want nil, error", n, cfg, err)
		}
	}
	for _, extra := range []string{"\x00", "\n", "garbage"} {
		if cfg, err := OpenConfig(append(bytes.Clone(sealed), extra...), testPassword); err == nil || cfg != nil {
			t.Fatalf("with %q appended: OpenConfig = %v, %v; want nil, error", extra, cfg, err)
		}
	}
}

func TestOpenNotAConfig(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrMalformedConfig},
		{"text", []byte("listen = :8080\n"), ErrMalformedConfig},
		{"magic only", []byte(magic), ErrMalformedConfig},
		{"newer version", append([]byte(magic+"\x02\x01"), make([]byte, 100)...), ErrUnsupportedVersion},
		{"too large", append([]byte(magic+"\x01\x01"), make([]byte, MaxConfigFileSize)...), ErrMalformedConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := OpenConfig(tt.data, testPassword)
			if !errors.Is(err, tt.want) || cfg != nil {
				t.Fatalf("OpenConfig = %v, %v; want nil, %v", cfg, err, tt.want)
			}
		})
	}
}

// header returns a sealed-file header with the given KDF parameters, and a
// fake ciphertext.
func header(kdf byte, p KDFParams) []byte {
	b := make([]byte, headerSize+64)
	copy(b, magic)
	h := b[len(magic):]
	h[0] = formatVersion
	h[1] = kdf
	binary.BigEndian.PutUint32(h[2:6], p.Time)
	binary.BigEndian.PutUint32(h[6:10], p.MemoryKiB)
	h[10] = p.Threads
	return b
}

// TestOpenHostileParams checks that parameters out of bounds are refused
// before any key derivation.
func TestOpenHostileParams(t *testing.T) {
	calls := 0
	orig := deriveKey
	deriveKey = func(password, salt []byte, p KDFParams) []byte {
		calls++
		return orig(password, salt, p)
	}
	t.Cleanup(func() { deriveKey = orig })

	hostile := []struct {
		name string
		kdf  byte
		p    KDFParams
	}{
		{"zero", 1, KDFParams{}},
		{"zero time", 1, KDFParams{0, 64, 1}},
		{"zero memory", 1, KDFParams{1, 0, 1}},
		{"zero threads", 1, KDFParams{1, 64, 0}},
		{"too many passes", 1, KDFParams{MaxKDFTime + 1, 64, 1}},
		{"max passes", 1, KDFParams{1<<32 - 1, 64, 1}},
		{"too much memory", 1, KDFParams{1, MaxKDFMemoryKiB + 1, 1}},
		{"max memory", 1, KDFParams{1, 1<<32 - 1, 1}},
		{"too many threads", 1, KDFParams{1, 1024, MaxKDFThreads + 1}},
		{"too little memory per thread", 1, KDFParams{1, 8*4 - 1, 4}},
		{"unknown kdf", 2, KDFParams{1, 64, 1}},
	}
	for _, tt := range hostile {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := OpenConfig(header(tt.kdf, tt.p), testPassword)
			if !errors.Is(err, ErrMalformedConfig) || cfg != nil {
				t.Fatalf("OpenConfig = %v, %v; want nil, ErrMalformedConfig", cfg, err)
			}
			if calls != 0 {
				t.Fatalf("derived a key %d times for parameters %+v", calls, tt.p)
			}
			if _, err := SealConfig(MustConfig(t), testPassword, tt.p); tt.kdf == kdfArgon2id && tt.p != (KDFParams{}) && err == nil {
				t.Fatalf("SealConfig accepted parameters %+v", tt.p)
			}
			calls = 0 // sealing with the zero (default) parameters derives
		})
	}

	// Within bounds, the same file costs one derivation and fails to
	// decrypt: the counter above can see work.
	if _, err := OpenConfig(header(1, cheapKDF), testPassword); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("OpenConfig(valid header, bad ciphertext) = %v, want ErrWrongPassword", err)
	}
	if calls != 1 {
		t.Fatalf("derived a key %d times for valid parameters, want 1", calls)
	}
}

func TestSealRefuses(t *testing.T) {
	bad := MustConfig(t)
	bad.MasterKey = nil
	tests := []struct {
		name string
		cfg  *Config
		pw   string
		want string
	}{
		{"nil config", nil, string(testPassword), "nil config"},
		{"invalid config", bad, string(testPassword), "master key"},
		{"empty password", MustConfig(t), "", "empty"},
		{"short password", MustConfig(t), "elevenchars", "at least 12 characters"},
		{"long password", MustConfig(t), strings.Repeat("a", 1025), "at most 1024 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed, err := SealConfig(tt.cfg, []byte(tt.pw), cheapKDF)
			if err == nil || sealed != nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SealConfig = %d bytes, %v; want error containing %q", len(sealed), err, tt.want)
			}
		})
	}
	// Twelve characters, not twelve bytes, and at most 1024 of them.
	for _, pw := range []string{"ünïcödé-pässwörd", strings.Repeat("é", 1024), "twelve chars"} {
		if _, err := SealConfig(MustConfig(t), []byte(pw), cheapKDF); err != nil {
			t.Errorf("SealConfig(%d-byte password) = %v", len(pw), err)
		}
	}
	if _, err := SealConfig(MustConfig(t), []byte("élevenchars"), cheapKDF); err == nil {
		t.Error("SealConfig accepted a password of fewer than 12 characters")
	}
}

// The committed vector is a version 1 file: every later accountd must open
// it. Regenerate (never in CI) with: go test ./setup -run Vector -update-vector
var updateVector = flag.Bool("update-vector", false, "rewrite testdata/config-v1.sealed")

const vectorPassword = "accountd test vector password"

func TestVectorV1(t *testing.T) {
	path := filepath.Join("testdata", "config-v1.sealed")
	if *updateVector {
		cfg := MustConfig(t)
		cfg.Database = Database{Driver: DriverSQLite, DSN: "/var/lib/accountd/accountd.db"}
		cfg.Server.TokenLifetime = Duration(3600e9)
		sealed, err := SealConfig(cfg, []byte(vectorPassword), cheapKDF)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, sealed, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s; identity %s", path, cfg.IdentityFingerprint())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := OpenConfig(data, []byte(vectorPassword))
	if err != nil {
		t.Fatalf("OpenConfig(%s): %v", path, err)
	}
	if cfg.Database.DSN != "/var/lib/accountd/accountd.db" || cfg.Server.TokenLifetime != Duration(3600e9) {
		t.Errorf("vector opened to %s", cfg.Redacted())
	}
	if _, err := OpenConfig(data, []byte(vectorPassword+"!")); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("vector with a wrong password: %v", err)
	}
}

// FuzzOpenConfig: no input panics, a Config comes only without an error,
// and only the sealed file itself opens. It is seeded from the committed
// vector, which is the same in every fuzz worker process.
func FuzzOpenConfig(f *testing.F) {
	vector, err := os.ReadFile(filepath.Join("testdata", "config-v1.sealed"))
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{vector, vector[:headerSize], vector[:len(vector)-1], []byte(magic)}
	for _, s := range seeds {
		f.Add(s)
	}
	limit := KDFParams{Time: 2, MemoryKiB: 256, Threads: 2} // keep fuzzing fast
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := openConfig(data, []byte(vectorPassword), limit)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("openConfig = %v, %v: want exactly one nil", cfg, err)
		}
		if err == nil && !bytes.Equal(data, vector) {
			t.Fatalf("a file other than the sealed one opened")
		}
	})
}
