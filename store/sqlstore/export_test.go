package sqlstore

import "context"

// SessionSyncWait returns wsrep_sync_wait as a connection of db's pool
// sees it ("0" on MariaDB without Galera).
func SessionSyncWait(ctx context.Context, db *DB) (string, error) {
	var v string
	err := db.read.QueryRowContext(ctx, "SELECT @@SESSION.wsrep_sync_wait").Scan(&v)
	return v, err
}

// MigrateTo moves db's schema up or down to version v.
func MigrateTo(ctx context.Context, db *DB, v int64) error {
	cur, err := db.migrator.GetDBVersion(ctx)
	if err != nil {
		return err
	}
	if v < cur {
		_, err = db.migrator.DownTo(ctx, v)
	} else {
		_, err = db.migrator.UpTo(ctx, v)
	}
	return err
}
