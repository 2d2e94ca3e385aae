package setup

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// sqliteOptions are valid options for a SQLite setup in a fresh folder.
func sqliteOptions(tb testing.TB) Options {
	tb.Helper()
	return Options{
		DataDir:       filepath.Join(tb.TempDir(), "data"),
		Driver:        DriverSQLite,
		Listen:        "127.0.0.1:0",
		AdminPassword: testPassword,
		KDF:           cheapKDF,
	}
}

// MustOpenMigrated opens the database d and checks that its schema is at
// the latest version, without migrating it.
func MustOpenMigrated(tb testing.TB, d Database) *sqlstore.DB {
	tb.Helper()
	ctx := testContext(tb)
	db, err := sqlstore.Open(ctx, d.Driver, d.DSN)
	if err != nil {
		tb.Fatalf("open the database setup made: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if latest := db.LatestSchemaVersion(); v != latest || v == 0 {
		tb.Fatalf("schema version %d, want %d", v, latest)
	}
	return db
}

func TestRunSQLite(t *testing.T) {
	ctx := testContext(t)
	o := sqliteOptions(t)
	cfg, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	dbPath := filepath.Join(o.DataDir, SQLiteFileName)
	if cfg.Database != (Database{Driver: DriverSQLite, DSN: dbPath}) || !filepath.IsAbs(cfg.Database.DSN) {
		t.Errorf("Database = %+v, want sqlite at %s", cfg.Database, dbPath)
	}
	if cfg.Listen != "127.0.0.1:0" || cfg.Version != ConfigVersion {
		t.Errorf("config = %s", cfg.Redacted())
	}
	if len(cfg.MasterKey) != 32 || len(cfg.IdentityKey) != ed25519.PrivateKeySize {
		t.Errorf("key sizes %d, %d", len(cfg.MasterKey), len(cfg.IdentityKey))
	}
	// A new config names its algorithm; one that names none is an old
	// config and keeps signing as it did.
	if cfg.Server.SigningAlgorithm != "ES256" {
		t.Errorf("a new config signs with %q, want ES256 written into it", cfg.Server.SigningAlgorithm)
	}
	if got := (ServerSettings{}).SigningAlgorithmOrLegacy(); got != "PS256" {
		t.Errorf("a config without an algorithm signs with %s, want PS256", got)
	}
	if m := mode(t, o.DataDir); m != 0o700 {
		t.Errorf("data folder mode %#o, want 0700", m)
	}
	if m := mode(t, ConfigPath(o.DataDir)); m != 0o600 {
		t.Errorf("config mode %#o, want 0600", m)
	}
	if m := mode(t, dbPath); m != 0o600 {
		t.Errorf("database mode %#o, want 0600", m)
	}

	got, err := Unlock(o.DataDir, testPassword)
	if err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Fatalf("Unlock = %s, want %s", got.Redacted(), cfg.Redacted())
	}
	if _, err := Unlock(o.DataDir, []byte("not the admin password")); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("Unlock with a wrong password: %v", err)
	}

	// The schema is there: a fresh connection can store an account.
	db := MustOpenMigrated(t, got.Database)
	now := time.Now()
	a := store.Account{ID: strings.Repeat("a", 32), Username: "alice", PasswordHash: "$argon2id$x", CreatedAt: now, UpdatedAt: now}
	if err := db.CreateAccount(ctx, a, store.AuthEvent{}); err != nil {
		t.Fatalf("CreateAccount in the new database: %v", err)
	}
}

func TestRunTwice(t *testing.T) {
	ctx := testContext(t)
	o := sqliteOptions(t)
	first, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(ConfigPath(o.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := IsSetUp(o.DataDir); !ok || err != nil {
		t.Fatalf("IsSetUp = %v, %v; want true", ok, err)
	}

	o.AdminPassword = []byte("another long password")
	if cfg, err := Run(ctx, o); !errors.Is(err, ErrAlreadySetUp) || cfg != nil {
		t.Fatalf("second Run = %v, %v; want ErrAlreadySetUp", cfg, err)
	}
	after, _ := os.ReadFile(ConfigPath(o.DataDir))
	if string(after) != string(before) {
		t.Fatal("second Run changed the config file")
	}
	if got, err := Unlock(o.DataDir, testPassword); err != nil || !reflect.DeepEqual(got.MasterKey, first.MasterKey) {
		t.Fatalf("Unlock after the second Run: %v", err)
	}
	MustOpenMigrated(t, first.Database)
}

func TestRunRefusesOptions(t *testing.T) {
	tests := []struct {
		name   string
		change func(o *Options)
		want   string
	}{
		{"no data folder", func(o *Options) { o.DataDir = "" }, "data folder is empty"},
		{"no driver", func(o *Options) { o.Driver = "" }, "driver is empty"},
		{"unknown driver", func(o *Options) { o.Driver = "postgres" }, "unknown database driver"},
		{"dsn for sqlite", func(o *Options) { o.DSN = "u:p@tcp(h)/d" }, "mysql only"},
		{"mysql without dsn", func(o *Options) { o.Driver = DriverMySQL }, "DSN is empty"},
		{"mysql without database", func(o *Options) { o.Driver, o.DSN = DriverMySQL, "u:p@tcp(h:3306)/" }, "names no database"},
		{"bad listen", func(o *Options) { o.Listen = "8080" }, "not host:port"},
		{"empty password", func(o *Options) { o.AdminPassword = nil }, "empty"},
		{"short password", func(o *Options) { o.AdminPassword = []byte("short") }, "at least 12 characters"},
		{"long password", func(o *Options) { o.AdminPassword = []byte(strings.Repeat("x", 1025)) }, "at most 1024 characters"},
		{"hostile kdf", func(o *Options) { o.KDF = KDFParams{Time: 1, MemoryKiB: 4 << 20, Threads: 1} }, "memory"},
		{"bad settings", func(o *Options) { o.Server.TokenLifetime = -1 }, "token lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := sqliteOptions(t)
			tt.change(&o)
			cfg, err := Run(testContext(t), o)
			if err == nil || cfg != nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, %v; want error containing %q", cfg, err, tt.want)
			}
			if o.DataDir != "" {
				if _, err := os.Stat(o.DataDir); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("Run with bad options created the data folder (%v)", err)
				}
			}
		})
	}
}

func TestRunDefaultListen(t *testing.T) {
	o := sqliteOptions(t)
	o.Listen = ""
	cfg, err := Run(testContext(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != DefaultListen {
		t.Fatalf("Listen = %q, want %q", cfg.Listen, DefaultListen)
	}
}

// TestRunLeavesNothingOnFailure makes the config write fail: no config and
// no database may remain.
func TestRunLeavesNothingOnFailure(t *testing.T) {
	orig := syncFile
	syncFile = func(*os.File) error { return errors.New("simulated I/O error") }
	t.Cleanup(func() { syncFile = orig })

	o := sqliteOptions(t)
	if cfg, err := Run(testContext(t), o); err == nil || cfg != nil {
		t.Fatalf("Run = %v, %v; want the write error", cfg, err)
	}
	if names := listDir(t, o.DataDir); len(names) != 0 {
		t.Fatalf("a failed Run left %q", names)
	}
	syncFile = orig
	if _, err := Run(testContext(t), o); err != nil {
		t.Fatalf("Run after a failed Run: %v", err)
	}
}

// TestRunKeepsExistingSQLite: a database without a config is someone's
// data; Run refuses it and does not remove it.
func TestRunKeepsExistingSQLite(t *testing.T) {
	o := sqliteOptions(t)
	if err := EnsureDataDir(o.DataDir); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(o.DataDir, SQLiteFileName)
	if err := os.WriteFile(dbPath, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Run(testContext(t), o)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Run = %v, want a refusal naming the database", err)
	}
	if got, _ := os.ReadFile(dbPath); string(got) != "precious" {
		t.Fatal("Run changed an existing database file")
	}
	if ok, _ := IsSetUp(o.DataDir); ok {
		t.Fatal("Run wrote a config")
	}
}

func TestRunRefusesWideDataDir(t *testing.T) {
	o := sqliteOptions(t)
	if err := os.Mkdir(o.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(o.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(testContext(t), o); !errors.Is(err, ErrInsecurePermissions) {
		t.Fatalf("Run = %v, want ErrInsecurePermissions", err)
	}
	if names := listDir(t, o.DataDir); len(names) != 0 {
		t.Fatalf("Run left %q", names)
	}
}

func TestRunMySQL(t *testing.T) {
	ctx := testContext(t)
	dsn := sqltest.MySQLDSN(t)
	o := Options{
		DataDir:       filepath.Join(t.TempDir(), "data"),
		Driver:        DriverMySQL,
		DSN:           dsn,
		Listen:        ":8080",
		AdminPassword: testPassword,
		KDF:           cheapKDF,
	}
	cfg, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if cfg.Database != (Database{Driver: DriverMySQL, DSN: dsn}) {
		t.Fatalf("Database = %v", cfg.Database)
	}
	got, err := Unlock(o.DataDir, testPassword)
	if err != nil || !reflect.DeepEqual(got, cfg) {
		t.Fatalf("Unlock = %v, %v", got, err)
	}
	db := MustOpenMigrated(t, got.Database)

	// A second setup on the same database works while it holds no signing
	// keys, and is refused once it does: their master key is elsewhere.
	o.DataDir = filepath.Join(t.TempDir(), "second")
	if _, err := Run(ctx, o); err != nil {
		t.Fatalf("second setup on a database without keys: %v", err)
	}
	now := time.Now()
	key := store.SigningKey{ID: "k1", Algorithm: "PS256", PublicKey: []byte{1}, SealedPrivateKey: []byte{2}, CreatedAt: now, ActiveAt: now}
	if err := db.CreateSigningKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	o.DataDir = filepath.Join(t.TempDir(), "third")
	_, err = Run(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "signing keys") {
		t.Fatalf("setup on a database with signing keys: %v, want a refusal", err)
	}
	if ok, _ := IsSetUp(o.DataDir); ok {
		t.Fatal("the refused setup wrote a config")
	}
}

// TestRunMySQLCreatesDatabase: Run creates a database that does not exist.
func TestRunMySQLCreatesDatabase(t *testing.T) {
	ctx := testContext(t)
	c, err := mysql.ParseDSN(sqltest.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	c.DBName += "_new"
	t.Cleanup(func() { dropMySQLDatabase(t, c) })
	o := Options{
		DataDir:       filepath.Join(t.TempDir(), "data"),
		Driver:        DriverMySQL,
		DSN:           c.FormatDSN(),
		AdminPassword: testPassword,
		KDF:           cheapKDF,
	}
	cfg, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	MustOpenMigrated(t, cfg.Database)
}

func dropMySQLDatabase(tb testing.TB, c *mysql.Config) {
	server := c.Clone()
	server.DBName = ""
	connector, err := mysql.NewConnector(server)
	if err != nil {
		tb.Error(err)
		return
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+c.DBName+"`"); err != nil {
		tb.Errorf("drop %s: %v", c.DBName, err)
	}
}

func TestReseal(t *testing.T) {
	o := sqliteOptions(t)
	cfg, err := Run(testContext(t), o)
	if err != nil {
		t.Fatal(err)
	}
	newPassword := []byte("a brand new admin password")

	if err := Reseal(o.DataDir, []byte("wrong old password"), newPassword, cheapKDF); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("Reseal with a wrong old password: %v", err)
	}
	if err := Reseal(o.DataDir, testPassword, []byte("short"), cheapKDF); err == nil || !strings.Contains(err.Error(), "at least 12") {
		t.Fatalf("Reseal to a short password: %v", err)
	}
	if _, err := Unlock(o.DataDir, testPassword); err != nil {
		t.Fatalf("failed Reseals changed the password: %v", err)
	}

	if err := Reseal(o.DataDir, testPassword, newPassword, cheapKDF); err != nil {
		t.Fatalf("Reseal: %v", err)
	}
	if _, err := Unlock(o.DataDir, testPassword); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("old password after Reseal: %v, want ErrWrongPassword", err)
	}
	got, err := Unlock(o.DataDir, newPassword)
	if err != nil || !reflect.DeepEqual(got, cfg) {
		t.Fatalf("new password after Reseal: %v", err)
	}
	if m := mode(t, ConfigPath(o.DataDir)); m != 0o600 {
		t.Fatalf("mode after Reseal %#o", m)
	}
	if err := Reseal(t.TempDir(), testPassword, newPassword, cheapKDF); !errors.Is(err, ErrNotSetUp) {
		t.Fatalf("Reseal without a config: %v, want ErrNotSetUp", err)
	}
}

func TestUnlockNotSetUp(t *testing.T) {
	dir := t.TempDir()
	if ok, err := IsSetUp(dir); ok || err != nil {
		t.Fatalf("IsSetUp(empty folder) = %v, %v", ok, err)
	}
	if _, err := Unlock(dir, testPassword); !errors.Is(err, ErrNotSetUp) {
		t.Fatalf("Unlock = %v, want ErrNotSetUp", err)
	}
}

func TestReadPasswordFile(t *testing.T) {
	tests := []struct {
		content string
		want    string // "" means an error
	}{
		{"secret password", "secret password"},
		{"secret password\n", "secret password"},
		{"secret password\r\n", "secret password"},
		{"secret password\n\n", "secret password\n"},
		{"secret password\r\n\r\n", "secret password\r\n"},
		{"secret password\r", "secret password\r"},
		{" spaced \t", " spaced \t"},
		{"multi\nline\n", "multi\nline"},
		{"", ""},
		{"\n", ""},
		{"\r\n", ""},
		{strings.Repeat("x", 9000), ""},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(path, []byte(tt.content), 0o400); err != nil {
			t.Fatal(err)
		}
		got, err := ReadPasswordFile(path)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ReadPasswordFile(%q) = %q, want an error", tt.content, got)
		case tt.want != "" && (err != nil || string(got) != tt.want):
			t.Errorf("ReadPasswordFile(%q) = %q, %v; want %q", tt.content, got, err, tt.want)
		}
	}
	if _, err := ReadPasswordFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
