package setup

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/accountd/accountd/store/sqlstore"
)

// ErrAlreadySetUp is returned by Run when the data folder already holds a
// config file. Run never replaces one; Reseal changes its password.
var ErrAlreadySetUp = errors.New("setup: accountd is already set up")

// DefaultListen is the listen address Run uses when Options.Listen is
// empty: loopback only, so that a fresh install is not reachable from the
// network until the admin says so.
const DefaultListen = "127.0.0.1:8080"

// SQLiteFileName is the name of the embedded database file in the data
// folder.
const SQLiteFileName = "accountd.db"

// Options are the answers of the first run.
type Options struct {
	// DataDir is the data folder; it is created with mode 0700 and holds
	// the config file (and the SQLite database). Required.
	DataDir string
	// Driver is DriverSQLite or DriverMySQL. Required.
	Driver string
	// DSN is the go-sql-driver/mysql DSN, with the password and the
	// database name, for DriverMySQL. It must be empty for DriverSQLite,
	// whose database is DataDir/SQLiteFileName.
	DSN string
	// Listen is the server's host:port. Default DefaultListen.
	Listen string
	// AdminPassword seals the config; see CheckAdminPassword. Required.
	AdminPassword []byte
	// KDF are the parameters that derive the sealing key from the admin
	// password. The zero value means DefaultKDFParams; only tests set it.
	KDF KDFParams
	// Server are the optional tunables written into the config.
	Server ServerSettings
}

// Run is the first run: it checks o, refuses when a config exists
// (ErrAlreadySetUp), creates the data folder (mode 0700) and the database
// (MySQL: the database itself if missing, then the tables; SQLite: a new
// file), generates the master key and the identity key, and writes the
// sealed config. The config is written last, so that an error leaves no
// config behind; a SQLite file created by this call is removed on error.
//
// Run refuses a database that already holds signing keys: they were sealed
// under the master key of an earlier setup, which a new config cannot
// open.
func Run(ctx context.Context, o Options) (*Config, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("setup: data folder: %w", err)
	}
	if ok, err := IsSetUp(dataDir); err != nil {
		return nil, err
	} else if ok {
		return nil, fmt.Errorf("%w: %s exists", ErrAlreadySetUp, ConfigPath(dataDir))
	}

	cfg := &Config{
		Version:  ConfigVersion,
		Listen:   o.Listen,
		Database: Database{Driver: o.Driver, DSN: o.DSN},
		Server:   o.Server,
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Server.SigningAlgorithm == "" {
		cfg.Server.SigningAlgorithm = NewSigningAlgorithm
	}
	if o.Driver == DriverSQLite {
		cfg.Database.DSN = filepath.Join(dataDir, SQLiteFileName)
	}
	cfg.MasterKey = make([]byte, MasterKeySize)
	if _, err := rand.Read(cfg.MasterKey); err != nil {
		return nil, fmt.Errorf("setup: generate master key: %w", err)
	}
	if _, cfg.IdentityKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, fmt.Errorf("setup: generate identity key: %w", err)
	}
	// Sealing checks the config and costs the KDF; do it before touching
	// the disk or the database.
	sealed, err := SealConfig(cfg, o.AdminPassword, o.KDF)
	if err != nil {
		return nil, err
	}

	if err := EnsureDataDir(dataDir); err != nil {
		return nil, err
	}
	undo, err := createSchema(ctx, cfg.Database)
	if err != nil {
		return nil, err
	}
	if err := createConfigFile(ConfigPath(dataDir), sealed); err != nil {
		// Keep the database if the config made it to disk after all
		// (only the folder sync failed): the config points to it.
		if ok, _ := IsSetUp(dataDir); !ok {
			undo()
		}
		return nil, err
	}
	return cfg, nil
}

// check validates the options without touching the disk.
func (o *Options) check() error {
	if o.DataDir == "" {
		return errors.New("setup: data folder is empty")
	}
	switch o.Driver {
	case DriverSQLite:
		if o.DSN != "" {
			return fmt.Errorf("setup: a DSN is for mysql only; sqlite uses %s in the data folder", SQLiteFileName)
		}
	case DriverMySQL:
		if err := (Database{Driver: o.Driver, DSN: o.DSN}).Validate(); err != nil {
			return err
		}
	default:
		return (Database{Driver: o.Driver}).Validate()
	}
	if o.Listen != "" {
		if err := ValidateListen(o.Listen); err != nil {
			return err
		}
	}
	if err := CheckAdminPassword(o.AdminPassword); err != nil {
		return err
	}
	if err := o.KDF.Validate(); err != nil {
		return err
	}
	return o.Server.Validate()
}

// createSchema creates the database and its tables. undo removes what it
// created that can be removed safely: a new SQLite file. A MySQL database
// is left, since it may have existed before.
func createSchema(ctx context.Context, d Database) (undo func(), err error) {
	undo = func() {}
	switch d.Driver {
	case DriverSQLite:
		// Create the file ourselves: mode 0600 from the start, and O_EXCL
		// tells a fresh file from someone's existing database.
		f, err := os.OpenFile(d.DSN, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return undo, fmt.Errorf("setup: %s already exists but there is no config file\nhint: its signing keys are sealed under a master key that only its own config holds: restore that config, or move the database away", d.DSN)
		}
		if err != nil {
			return undo, fmt.Errorf("setup: create database: %w", err)
		}
		f.Close()
		undo = func() {
			for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
				os.Remove(d.DSN + suffix)
			}
		}
	case DriverMySQL:
		if err := sqlstore.CreateDatabase(ctx, d.DSN); err != nil {
			return undo, fmt.Errorf("setup: create database: %w", err)
		}
	}
	if err := migrate(ctx, d); err != nil {
		undo()
		return func() {}, err
	}
	return undo, nil
}

// migrate opens the database, creates or updates its tables and checks that
// no earlier setup left signing keys in it.
func migrate(ctx context.Context, d Database) (err error) {
	db, err := sqlstore.Open(ctx, d.Driver, d.DSN)
	if err != nil {
		return fmt.Errorf("setup: open database: %w", err)
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("setup: close database: %w", cerr)
		}
	}()
	if err := db.Migrate(ctx); err != nil {
		return fmt.Errorf("setup: create tables: %w", err)
	}
	keys, err := db.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("setup: check database: %w", err)
	}
	if len(keys) > 0 {
		return fmt.Errorf("setup: the database already holds %d signing keys from an earlier setup\nhint: they are sealed under that setup's master key: restore its config file, or use an empty database", len(keys))
	}
	return nil
}

// Reseal changes the admin password of the config in dataDir: it opens the
// config with oldPassword and seals it again under newPassword with the KDF
// parameters p (zero means DefaultKDFParams), replacing the file
// atomically. newPassword must satisfy CheckAdminPassword.
func Reseal(dataDir string, oldPassword, newPassword []byte, p KDFParams) error {
	if err := CheckAdminPassword(newPassword); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	release, err := lockConfig(dataDir)
	if err != nil {
		return err
	}
	defer release()
	path := ConfigPath(dataDir)
	data, err := ReadConfigFile(path)
	if err != nil {
		return err
	}
	cfg, err := OpenConfig(data, oldPassword)
	if err != nil {
		return err
	}
	sealed, err := SealConfig(cfg, newPassword, p)
	if err != nil {
		return err
	}
	return WriteConfigFile(path, sealed)
}

// UpdateConfig changes the config in dataDir: it opens it with password,
// lets change edit it, and seals the result under the same password and
// key derivation parameters, replacing the file atomically (mode 0600).
// Nothing is written when opening, change or sealing fails. It returns
// the config as written. Changes by other processes wait for each other
// (a lock file in the data folder), so none is lost.
func UpdateConfig(dataDir string, password []byte, change func(*Config) error) (*Config, error) {
	release, err := lockConfig(dataDir)
	if err != nil {
		return nil, err
	}
	defer release()
	path := ConfigPath(dataDir)
	data, err := ReadConfigFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := OpenConfig(data, password)
	if err != nil {
		return nil, err
	}
	if err := change(cfg); err != nil {
		return nil, err
	}
	sealed, err := SealConfig(cfg, password, sealedKDF(data))
	if err != nil {
		return nil, err
	}
	if err := WriteConfigFile(path, sealed); err != nil {
		return nil, err
	}
	return cfg, nil
}
