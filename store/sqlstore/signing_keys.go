package sqlstore

import (
	"context"

	"github.com/accountd/accountd/store"
)

const signingKeyColumns = `id, algorithm, public_key, sealed_private_key, created_at, active_at, retire_at, expires_at`

// CreateSigningKey implements store.Store.
func (db *DB) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	const op = "create signing key"
	if err := checkTimes(op, namedTime{"CreatedAt", k.CreatedAt}, namedTime{"ActiveAt", k.ActiveAt}); err != nil {
		return err
	}
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, blobArg(k.PublicKey), blobArg(k.SealedPrivateKey),
		timeArg(db.dialect, k.CreatedAt), timeArg(db.dialect, k.ActiveAt),
		optionalTimeArg(db.dialect, k.RetireAt), optionalTimeArg(db.dialect, k.ExpiresAt))
	return db.translate(op, err)
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
		err := rows.Scan(&k.ID, &k.Algorithm, &k.PublicKey, &k.SealedPrivateKey,
			timeColumn{&k.CreatedAt}, timeColumn{&k.ActiveAt},
			timeColumn{&k.RetireAt}, timeColumn{&k.ExpiresAt})
		if err != nil {
			return nil, db.translate(op, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, db.translate(op, err)
	}
	return keys, nil
}
