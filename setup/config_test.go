package setup

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string // substring of the error; "" = valid
	}{
		{"valid", func(c *Config) {}, ""},
		{"sqlite", func(c *Config) { c.Database = Database{Driver: DriverSQLite, DSN: "/data/accountd.db"} }, ""},
		{"all interfaces", func(c *Config) { c.Listen = ":443" }, ""},
		{"ipv6", func(c *Config) { c.Listen = "[::1]:8080" }, ""},
		{"tunables", func(c *Config) {
			c.Server = ServerSettings{
				TokenLifetime: Duration(time.Minute), SessionLifetime: Duration(time.Hour),
				Issuer: "https://id.example", Audience: "chat", AllowedOrigins: []string{"https://chat.example"},
				SigningAlgorithm: "RS256", MinPasswordLength: 8,
				Argon2: &Argon2Params{Time: 2, MemoryKiB: 64 << 10, Threads: 4},
			}
		}, ""},
		{"version", func(c *Config) { c.Version = 2 }, "version"},
		{"no listen", func(c *Config) { c.Listen = "" }, "listen address is empty"},
		{"listen without port", func(c *Config) { c.Listen = "localhost" }, "not host:port"},
		{"port too big", func(c *Config) { c.Listen = "localhost:65536" }, "port must be"},
		{"port name", func(c *Config) { c.Listen = "localhost:http" }, "port must be"},
		{"no driver", func(c *Config) { c.Database.Driver = "" }, "driver is empty"},
		{"unknown driver", func(c *Config) { c.Database.Driver = "postgres" }, "unknown database driver"},
		{"empty dsn", func(c *Config) { c.Database.DSN = "" }, "DSN is empty"},
		{"empty sqlite path", func(c *Config) { c.Database = Database{Driver: DriverSQLite} }, "path is empty"},
		{"bad dsn", func(c *Config) { c.Database.DSN = "user:pw@tcp(db" }, "does not parse"},
		{"dsn without database", func(c *Config) { c.Database.DSN = "user:pw@tcp(db:3306)/" }, "names no database"},
		{"short master key", func(c *Config) { c.MasterKey = c.MasterKey[:31] }, "master key is 31 bytes"},
		{"long master key", func(c *Config) { c.MasterKey = append(c.MasterKey, 0) }, "master key is 33 bytes"},
		{"short previous master key", func(c *Config) { c.PreviousMasterKey = c.MasterKey[:16] }, "previous master key is 16 bytes"},
		{"short identity key", func(c *Config) { c.IdentityKey = c.IdentityKey[:32] }, "identity key is 32 bytes"},
		{"inconsistent identity key", func(c *Config) { c.IdentityKey[40] ^= 1 }, "inconsistent"},
		{"negative token lifetime", func(c *Config) { c.Server.TokenLifetime = Duration(-time.Second) }, "token lifetime"},
		{"negative session lifetime", func(c *Config) { c.Server.SessionLifetime = Duration(-time.Second) }, "session lifetime"},
		{"empty origin", func(c *Config) { c.Server.AllowedOrigins = []string{""} }, "allowed origin"},
		{"algorithm", func(c *Config) { c.Server.SigningAlgorithm = "HS256" }, "signing algorithm"},
		{"min password", func(c *Config) { c.Server.MinPasswordLength = 7 }, "minimum password length"},
		{"rate limit", func(c *Config) { c.Server.RateLimit = -1 }, "rate limit"},
		{"rate burst", func(c *Config) { c.Server.RateBurst = -1 }, "rate burst"},
		{"lock after", func(c *Config) { c.Server.LockAfter = 101 }, "lock-after 101"},
		{"audit retention", func(c *Config) { c.Server.AuditRetention = Duration(time.Minute) }, "audit retention"},
		{"argon2 time", func(c *Config) { c.Server.Argon2 = &Argon2Params{Time: 0, MemoryKiB: 1024, Threads: 1} }, "argon2id: time"},
		{"argon2 threads", func(c *Config) { c.Server.Argon2 = &Argon2Params{Time: 1, MemoryKiB: 1024} }, "argon2id: threads"},
		{"argon2 memory", func(c *Config) { c.Server.Argon2 = &Argon2Params{Time: 1, MemoryKiB: 8, Threads: 2} }, "argon2id: memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := MustConfig(t)
			tt.change(c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret-db-pass") {
				t.Fatalf("error shows the database password: %v", err)
			}
		})
	}
}

// secrets returns the encodings of c's secrets that must never be printed.
// secrets are the spellings of c's secrets that must never show; a
// secret c does not hold (no previous master key) has none.
func secrets(c *Config) []string {
	seed := c.IdentityKey.Seed()
	all := []string{
		"s3cret-db-pass",
		hex.EncodeToString(c.MasterKey),
		base64.StdEncoding.EncodeToString(c.MasterKey),
		base64.RawStdEncoding.EncodeToString(c.MasterKey),
		base64.URLEncoding.EncodeToString(c.MasterKey),
		hex.EncodeToString(seed),
		base64.StdEncoding.EncodeToString(seed),
		base64.StdEncoding.EncodeToString(c.IdentityKey),
		base64.RawStdEncoding.EncodeToString(seed),
		string(c.MasterKey),
		string(seed),
		hex.EncodeToString(c.PreviousMasterKey),
		base64.StdEncoding.EncodeToString(c.PreviousMasterKey),
		base64.RawStdEncoding.EncodeToString(c.PreviousMasterKey),
	}
	if prev := c.PreviousIdentityKey; len(prev) != 0 {
		all = append(all, hex.EncodeToString(prev.Seed()), base64.StdEncoding.EncodeToString(prev.Seed()),
			base64.RawStdEncoding.EncodeToString(prev.Seed()), base64.StdEncoding.EncodeToString(prev), string(prev.Seed()))
	}
	return slices.DeleteFunc(all, func(s string) bool { return s == "" })
}

func TestRedacted(t *testing.T) {
	c := MustConfig(t)
	c.Server.Issuer = "https://id.example"
	c.PreviousMasterKey = MustConfig(t).MasterKey
	if err := c.RotateIdentity(time.Now(), time.Hour, false); err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()

	var outputs = map[string]string{
		"Redacted": r,
		"%v":       fmt.Sprintf("%v", c),
		"%+v":      fmt.Sprintf("%+v", *c),
		"%#v":      fmt.Sprintf("%#v", c),
		//lint:ignore S1025 the case under test is fmt's %s verb itself
		"%s":       fmt.Sprintf("%s", *c),
		"Database": fmt.Sprint(c.Database),
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "cfg", c)
	outputs["slog"] = logged.String()
	for name, out := range outputs {
		for _, s := range secrets(c) {
			if strings.Contains(out, s) {
				t.Errorf("%s output contains secret %q:\n%s", name, s, out)
			}
		}
	}

	sum := sha256.Sum256(c.IdentityKey.Public().(ed25519.PublicKey))
	fp := "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	for _, want := range []string{fp, c.PreviousIdentityFingerprint(), "previous_identity_until", "REDACTED", "a master key rotation is under way", "db.example:3306", "127.0.0.1:8080", "https://id.example", "accountd:REDACTED@"} {
		if !strings.Contains(r, want) {
			t.Errorf("Redacted() lacks %q:\n%s", want, r)
		}
	}
	if got := c.IdentityFingerprint(); got != fp {
		t.Errorf("IdentityFingerprint() = %q, want %q", got, fp)
	}
	var parsed map[string]any
	if err := json.Unmarshal([]byte(r), &parsed); err != nil {
		t.Errorf("Redacted() is not JSON: %v", err)
	}
}

func TestRedactedDSN(t *testing.T) {
	tests := []struct{ db Database }{
		{Database{DriverMySQL, "u:s3cret-db-pass@tcp(h:3306)/d"}},
		{Database{DriverMySQL, "u:s3cret-db-pass@tcp(h:3306"}}, // does not parse
		{Database{DriverMySQL, "s3cret-db-pass"}},
	}
	for _, tt := range tests {
		if got := tt.db.RedactedDSN(); strings.Contains(got, "s3cret") {
			t.Errorf("RedactedDSN(%q) = %q", tt.db.DSN, got)
		}
	}
	if got := (Database{DriverSQLite, "/data/accountd.db"}).RedactedDSN(); got != "/data/accountd.db" {
		t.Errorf("sqlite RedactedDSN = %q, want the path", got)
	}
}

func TestDurationJSON(t *testing.T) {
	s := ServerSettings{TokenLifetime: Duration(90 * time.Minute)}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"token_lifetime":"1h30m0s"}`; string(b) != want {
		t.Fatalf("Marshal = %s, want %s", b, want)
	}
	var got ServerSettings
	if err := json.Unmarshal([]byte(`{"token_lifetime":"15m","session_lifetime":"24h"}`), &got); err != nil {
		t.Fatal(err)
	}
	want := ServerSettings{TokenLifetime: Duration(15 * time.Minute), SessionLifetime: Duration(24 * time.Hour)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Unmarshal = %+v, want %+v", got, want)
	}
	for _, bad := range []string{`{"token_lifetime":3600}`, `{"token_lifetime":"an hour"}`} {
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("Unmarshal(%s) = nil, want error", bad)
		}
	}
}

func TestDatabaseWithAddr(t *testing.T) {
	t.Parallel()
	d := Database{Driver: DriverMySQL, DSN: "acc:s3cret@tcp(10.0.0.1:3306)/accountd?parseTime=true"}
	got, err := d.WithAddr("10.0.0.2:3307")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.DSN, "tcp(10.0.0.2:3307)") || !strings.Contains(got.DSN, "acc:s3cret@") || !strings.Contains(got.DSN, "/accountd") {
		t.Fatalf("WithAddr = %q: want the new address with the user, password and database kept", got.DSN)
	}
	if _, err := d.WithAddr("no-port"); err == nil {
		t.Error("an address without a port was accepted")
	}
	if _, err := (Database{Driver: DriverSQLite, DSN: "x.db"}).WithAddr("h:1"); err == nil {
		t.Error("an address for the SQLite store was accepted")
	}
}

func TestRotateIdentity(t *testing.T) {
	// Now, so that OpenConfig below keeps the overlap; the end is in
	// whole seconds.
	now := time.Now()
	c := MustConfig(t)
	first := c.IdentityKey
	if err := c.RotateIdentity(now, 720*time.Hour, false); err != nil {
		t.Fatal(err)
	}
	second := c.IdentityKey
	if second.Equal(first) || !c.PreviousIdentityKey.Equal(first) || !c.PreviousIdentityUntil.Equal(time.Unix(now.Add(720*time.Hour).Unix(), 0)) {
		t.Fatalf("after rotate: previous is first %v, until %v", c.PreviousIdentityKey.Equal(first), c.PreviousIdentityUntil)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}

	// Sealed and opened, the rotation stays while its overlap runs.
	opened, err := OpenConfig(MustSeal(t, c), testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !opened.PreviousIdentityKey.Equal(first) || !opened.PreviousIdentityUntil.Equal(c.PreviousIdentityUntil) || !opened.IdentityKey.Equal(second) {
		t.Fatal("the sealed config lost the rotation")
	}

	if err := c.RotateIdentity(now.Add(time.Hour), 720*time.Hour, false); !errors.Is(err, ErrIdentityOverlap) {
		t.Fatalf("a second rotation during the overlap: %v, want ErrIdentityOverlap", err)
	}
	if !c.IdentityKey.Equal(second) {
		t.Fatal("a refused rotation changed the key")
	}
	if err := c.RotateIdentity(now.Add(time.Hour), 24*time.Hour, true); err != nil {
		t.Fatal(err)
	}
	third := c.IdentityKey
	if !c.PreviousIdentityKey.Equal(second) || third.Equal(second) {
		t.Fatal("--force: the previous key is not the second one")
	}
	// After the overlap the next rotation needs no force.
	if err := c.RotateIdentity(now.Add(48*time.Hour), 0, false); err != nil {
		t.Fatal(err)
	}
	if len(c.PreviousIdentityKey) != 0 || !c.PreviousIdentityUntil.IsZero() || c.IdentityKey.Equal(third) {
		t.Fatal("overlap 0 left a previous key")
	}
	if err := c.RotateIdentity(now, -time.Second, false); err == nil {
		t.Fatal("a negative overlap was accepted")
	}
}

func TestPreviousIdentityDroppedWhenOver(t *testing.T) {
	c := MustConfig(t)
	if err := c.RotateIdentity(time.Now().Add(-2*time.Hour), time.Hour, false); err != nil {
		t.Fatal(err)
	}
	sealed := MustSeal(t, c) // an overlap that ended an hour ago
	opened, err := OpenConfig(sealed, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if len(opened.PreviousIdentityKey) != 0 || !opened.PreviousIdentityUntil.IsZero() || !opened.IdentityKey.Equal(c.IdentityKey) {
		t.Fatalf("an ended overlap was kept at load: %s", opened.PreviousIdentityFingerprint())
	}
}

func TestValidatePreviousIdentity(t *testing.T) {
	until := time.Now().Add(time.Hour)
	damaged := func(c *Config) { c.PreviousIdentityKey[40] ^= 1 }
	for name, edit := range map[string]func(c *Config){
		"equal to the identity key": func(c *Config) { c.PreviousIdentityKey = c.IdentityKey },
		"without its end":           func(c *Config) { c.PreviousIdentityUntil = time.Time{} },
		"an end without a key":      func(c *Config) { c.PreviousIdentityKey = nil },
		"of 32 bytes":               func(c *Config) { c.PreviousIdentityKey = c.PreviousIdentityKey[:32] },
		"public half damaged":       damaged,
	} {
		c := MustConfig(t)
		c.PreviousIdentityKey, c.PreviousIdentityUntil = MustConfig(t).IdentityKey, until
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: the valid config before the edit: %v", name, err)
		}
		edit(c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := SealConfig(c, testPassword, cheapKDF); err == nil {
			t.Errorf("%s: sealed", name)
		}
	}
}
