package sqlstore

import "context"

// SessionSyncWait returns wsrep_sync_wait as a connection of db's pool
// sees it ("0" on MariaDB without Galera).
func SessionSyncWait(ctx context.Context, db *DB) (string, error) {
	var v string
	err := db.read.QueryRowContext(ctx, "SELECT @@SESSION.wsrep_sync_wait").Scan(&v)
	return v, err
}
