package keyring

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/accountd/accountd/store"
)

// keyMAC authenticates what a verifier trusts of a signing key (its id,
// algorithm, public key, creation and activation times and generation)
// under a key derived from the master key, so that a row written with
// database access alone is never trusted. RetireAt and ExpiresAt are not
// covered: a rotation sets them on older rows in SQL. The ring bounds
// them instead by the next authenticated key's activation (see
// boundValidity), so a row can be made to retire sooner, never later.
func keyMAC(master []byte, k store.SigningKey) ([]byte, error) {
	mk, err := hkdf.Key(sha256.New, master, nil, "accountd signing-key mac v1", 32)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, mk)
	field := func(b []byte) {
		m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
		m.Write(b)
	}
	field([]byte(k.ID))
	field([]byte(k.Algorithm))
	field(k.PublicKey)
	field(binary.BigEndian.AppendUint64(nil, uint64(micros(k.CreatedAt))))
	field(binary.BigEndian.AppendUint64(nil, uint64(micros(k.ActiveAt))))
	field(binary.BigEndian.AppendUint64(nil, uint64(k.Generation)))
	return m.Sum(nil), nil
}

// micros is t in microseconds since the Unix epoch: the stores keep
// times at that precision.
func micros(t time.Time) int64 { return t.UTC().Truncate(time.Microsecond).UnixMicro() }

// checkMAC reports whether k's MAC is right.
func checkMAC(master []byte, k store.SigningKey) bool {
	want, err := keyMAC(master, k)
	return err == nil && hmac.Equal(want, k.MAC)
}
