package setup

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
)

// cheapKDF makes tests fast; production never uses it.
var cheapKDF = KDFParams{Time: 1, MemoryKiB: 8, Threads: 1}

var testPassword = []byte("correct horse battery staple")

// MustConfig returns a valid config with fresh keys and a MySQL DSN that
// carries a password.
func MustConfig(tb testing.TB) *Config {
	tb.Helper()
	master := make([]byte, MasterKeySize)
	if _, err := rand.Read(master); err != nil {
		tb.Fatal(err)
	}
	_, id, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return &Config{
		Version: ConfigVersion,
		Listen:  "127.0.0.1:8080",
		Database: Database{
			Driver: DriverMySQL,
			DSN:    "accountd:s3cret-db-pass@tcp(db.example:3306)/accountd?parseTime=true",
		},
		MasterKey:   master,
		IdentityKey: id,
	}
}

// MustSeal seals cfg under testPassword with cheapKDF.
func MustSeal(tb testing.TB, cfg *Config) []byte {
	tb.Helper()
	sealed, err := SealConfig(cfg, testPassword, cheapKDF)
	if err != nil {
		tb.Fatal(err)
	}
	return sealed
}
