package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds the versioned schema of each dialect, one directory per
// dialect (migrations/mysql, migrations/sqlite), in goose's SQL format.
//
//go:embed migrations
var migrations embed.FS

// newMigrator returns a goose provider for the dialect's migrations on db.
//
// For MySQL the provider takes goose's table lock (a row in goose_lock with
// a lease), so that several accountd instances starting at once apply each
// migration once. A table lock rather than GET_LOCK because GET_LOCK is not
// supported on a Galera cluster, which DESIGN.md names as the way to scale
// past one database machine. SQLite needs no lock: its single writer
// serializes migrations.
func newMigrator(d dialect, db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations/"+d.migrationsDir())
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	opts := []goose.ProviderOption{
		// Only this package's migrations, never Go migrations that some
		// other package registered globally with goose.
		goose.WithDisableGlobalRegistry(true),
	}
	if d.name() == MySQL {
		locker, err := lock.NewMySQLTableLocker(
			// Retry every second (default 5 s) for up to 5 minutes; the
			// caller's context can end the wait sooner.
			lock.WithTableLockTimeout(time.Second, 300),
		)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migration lock: %w", err)
		}
		opts = append(opts, goose.WithLocker(locker))
	}
	p, err := goose.NewProvider(d.gooseDialect(), db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration, in order. It is safe to call on
// an up-to-date database (it does nothing) and from several processes at
// once.
func (db *DB) Migrate(ctx context.Context) error {
	var firstErr error
	last := int64(-1)
	for {
		_, err := db.migrator.Up(ctx)
		if err == nil {
			return nil
		}
		if firstErr == nil {
			firstErr = err
		}
		// Two processes migrating one SQLite file can both decide to apply
		// the same migration; the loser's transaction rolls back whole.
		// While the schema moves on between attempts, someone is making
		// progress: try again from there. When it stops moving, the
		// failure is real.
		v, verr := db.SchemaVersion(ctx)
		if verr != nil || v <= last {
			return db.translate("migrate", firstErr)
		}
		last = v
	}
}

// SchemaVersion returns the version of the last migration applied to the
// database, 0 for an empty database.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	current, _, err := db.migrator.GetVersions(ctx)
	if err != nil {
		return 0, db.translate("schema version", err)
	}
	return current, nil
}

// LatestSchemaVersion returns the version of the newest migration embedded
// in this build. A database whose SchemaVersion is lower needs Migrate.
func (db *DB) LatestSchemaVersion() int64 {
	sources := db.migrator.ListSources()
	if len(sources) == 0 {
		return 0
	}
	return sources[len(sources)-1].Version
}
