package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/accountd/accountd/store"
)

const serviceKeyColumns = `id, name, secret_hash, scopes, created_at`

// CreateServiceKey implements store.Store.
func (db *DB) CreateServiceKey(ctx context.Context, k store.ServiceKey, e store.AuthEvent) error {
	const op = "create service key"
	if err := checkTimes(op, namedTime{"CreatedAt", k.CreatedAt}); err != nil {
		return err
	}
	if err := db.checkAuthEvent(op, e); err != nil {
		return err
	}
	if len(k.SecretHash) != 32 {
		return fmt.Errorf("sqlstore: %s: secret hash must be 32 bytes", op)
	}
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO service_keys (`+serviceKeyColumns+`) VALUES (?, ?, ?, ?, ?)`,
			k.ID, k.Name, k.SecretHash, strings.Join(k.Scopes, " "), timeArg(db.dialect, k.CreatedAt))
		if err != nil {
			return err
		}
		return db.insertAuthEvent(ctx, tx, e)
	})
	return db.translate(op, err)
}

// GetServiceKey implements store.Store.
func (db *DB) GetServiceKey(ctx context.Context, id string) (store.ServiceKey, error) {
	row := db.read.QueryRowContext(ctx, `SELECT `+serviceKeyColumns+` FROM service_keys WHERE id = ?`, id)
	k, err := scanServiceKey(row)
	return k, db.translateGet("get service key", err)
}

// ListServiceKeys implements store.Store.
func (db *DB) ListServiceKeys(ctx context.Context) ([]store.ServiceKey, error) {
	const op = "list service keys"
	rows, err := db.read.QueryContext(ctx, `SELECT `+serviceKeyColumns+` FROM service_keys ORDER BY name`)
	if err != nil {
		return nil, db.translate(op, err)
	}
	defer rows.Close()
	out := []store.ServiceKey{}
	for rows.Next() {
		k, err := scanServiceKey(rows)
		if err != nil {
			return nil, db.translate(op, err)
		}
		out = append(out, k)
	}
	return out, db.translate(op, rows.Err())
}

// DeleteServiceKey implements store.Store.
func (db *DB) DeleteServiceKey(ctx context.Context, name string, e store.AuthEvent) error {
	const op = "delete service key"
	if err := db.checkAuthEvent(op, e); err != nil {
		return err
	}
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM service_keys WHERE name = ?`, name)
		if err := checkAffected(res, err); err != nil {
			return err
		}
		return db.insertAuthEvent(ctx, tx, e)
	})
	return db.translateGet(op, err)
}

func scanServiceKey(row rowScanner) (store.ServiceKey, error) {
	var (
		k      store.ServiceKey
		scopes string
	)
	if err := row.Scan(&k.ID, &k.Name, &k.SecretHash, &scopes, timeColumn{&k.CreatedAt}); err != nil {
		return store.ServiceKey{}, err
	}
	k.Scopes = strings.Fields(scopes)
	return k, nil
}
