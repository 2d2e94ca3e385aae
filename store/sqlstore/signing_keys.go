package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/accountd/accountd/store"
)

const signingKeyColumns = `id, algorithm, public_key, sealed_private_key, created_at, active_at, retire_at, expires_at, generation, mac`

// insertSigningKey inserts k with ex, the pool or a transaction.
func (db *DB) insertSigningKey(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, k store.SigningKey) error {
	var generation any
	if k.Generation != 0 {
		generation = k.Generation
	}
	_, err := ex.ExecContext(ctx,
		`INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, blobArg(k.PublicKey), blobArg(k.SealedPrivateKey),
		timeArg(db.dialect, k.CreatedAt), timeArg(db.dialect, k.ActiveAt),
		optionalTimeArg(db.dialect, k.RetireAt), optionalTimeArg(db.dialect, k.ExpiresAt),
		generation, nullBlob(k.MAC))
	return err
}

// CreateSigningKey implements store.Store.
func (db *DB) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	const op = "create signing key"
	if err := checkTimes(op, namedTime{"CreatedAt", k.CreatedAt}, namedTime{"ActiveAt", k.ActiveAt}); err != nil {
		return err
	}
	if k.Generation < 0 {
		return fmt.Errorf("sqlstore: %s: generation %d is negative", op, k.Generation)
	}
	return db.translate(op, db.insertSigningKey(ctx, db.write, k))
}

// RotateSigningKey implements store.Store.
func (db *DB) RotateSigningKey(ctx context.Context, k store.SigningKey, retireAt, expiresAt time.Time) error {
	const op = "rotate signing key"
	if err := checkTimes(op, namedTime{"CreatedAt", k.CreatedAt}, namedTime{"ActiveAt", k.ActiveAt},
		namedTime{"retireAt", retireAt}, namedTime{"expiresAt", expiresAt}); err != nil {
		return err
	}
	if k.Generation <= 0 {
		return fmt.Errorf("sqlstore: %s: generation must be positive", op)
	}
	// Of several rotations at once, the database may roll some back
	// (a deadlock, a Galera conflict); the writer runs them again, and the
	// unique generation then refuses them.
	err := db.write.transact(ctx, func(tx *sql.Tx) error {
		if err := db.insertSigningKey(ctx, tx, k); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`UPDATE signing_keys SET retire_at = ?, expires_at = ? WHERE id <> ? AND retire_at IS NULL`,
			timeArg(db.dialect, retireAt), timeArg(db.dialect, expiresAt), k.ID)
		return err
	})
	return db.translate(op, err)
}

// SetSigningKeyMAC implements store.Store.
func (db *DB) SetSigningKeyMAC(ctx context.Context, id string, mac []byte) error {
	const op = "set signing key mac"
	if len(mac) == 0 || len(mac) > 64 {
		return fmt.Errorf("sqlstore: %s: mac must be 1 to 64 bytes", op)
	}
	res, err := db.write.ExecContext(ctx, `UPDATE signing_keys SET mac = ? WHERE id = ? AND mac IS NULL`, mac, id)
	if err != nil {
		return db.translate(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return db.translate(op, err)
	} else if n == 0 {
		return fmt.Errorf("sqlstore: %s %s: %w", op, id, store.ErrNotFound)
	}
	return nil
}

// ResealSigningKey implements store.Store.
func (db *DB) ResealSigningKey(ctx context.Context, id string, old, sealed, mac []byte) error {
	const op = "reseal signing key"
	if len(mac) == 0 || len(mac) > 64 {
		return fmt.Errorf("sqlstore: %s: mac must be 1 to 64 bytes", op)
	}
	if len(sealed) == 0 || len(old) == 0 {
		return fmt.Errorf("sqlstore: %s: empty sealed private key", op)
	}
	res, err := db.write.ExecContext(ctx,
		`UPDATE signing_keys SET sealed_private_key = ?, mac = ? WHERE id = ? AND sealed_private_key = ?`, sealed, mac, id, old)
	if err != nil {
		return db.translate(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return db.translate(op, err)
	} else if n == 0 {
		return fmt.Errorf("sqlstore: %s %s: %w", op, id, store.ErrNotFound)
	}
	return nil
}

// nullBlob is b, or NULL when b is empty.
func nullBlob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// ListSigningKeys implements store.Store. Keys created at the same instant
// are ordered by id. It returns an empty, non-nil slice when there are no
// keys.
func (db *DB) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	const op = "list signing keys"
	rows, err := db.read.QueryContext(ctx,
		`SELECT `+signingKeyColumns+` FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, db.translate(op, err)
	}
	defer rows.Close()
	keys := []store.SigningKey{}
	for rows.Next() {
		var k store.SigningKey
		var generation sql.NullInt64
		err := rows.Scan(&k.ID, &k.Algorithm, &k.PublicKey, &k.SealedPrivateKey,
			timeColumn{&k.CreatedAt}, timeColumn{&k.ActiveAt},
			timeColumn{&k.RetireAt}, timeColumn{&k.ExpiresAt}, &generation, &k.MAC)
		if err != nil {
			return nil, db.translate(op, err)
		}
		k.Generation = generation.Int64
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, db.translate(op, err)
	}
	return keys, nil
}
