package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
)

// ErrUnseal is returned by Open when sealed data does not open with the
// master key and purpose given (wrong key, another row's data, altered
// bytes).
var ErrUnseal = errors.New("keyring: sealed data does not open with this master key")

// Seal encrypts a secret under the master key with AES-256-GCM and a
// random nonce. purpose is authenticated with it (for example the row it
// belongs to), so that sealed data cannot be moved to another use or row.
func Seal(master []byte, purpose string, secret []byte) ([]byte, error) {
	aead, err := masterAEAD(master)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, secret, []byte("accountd "+purpose)), nil
}

// Open decrypts what Seal sealed for the same purpose; ErrUnseal when it
// does not open.
func Open(master []byte, purpose string, sealed []byte) ([]byte, error) {
	aead, err := masterAEAD(master)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(sealed) < n+aead.Overhead() {
		return nil, ErrUnseal
	}
	pt, err := aead.Open(nil, sealed[:n], sealed[n:], []byte("accountd "+purpose))
	if err != nil {
		return nil, ErrUnseal
	}
	return pt, nil
}

// sealKey seals a PKCS#8 private key for the signing key row kid.
func sealKey(master []byte, kid string, pkcs8 []byte) ([]byte, error) {
	return Seal(master, "signing key "+kid, pkcs8)
}

func unsealKey(master []byte, kid string, sealed []byte) ([]byte, error) {
	pt, err := Open(master, "signing key "+kid, sealed)
	if err != nil {
		return nil, errors.New("signing key does not open with this master key")
	}
	return pt, nil
}

func masterAEAD(master []byte) (cipher.AEAD, error) {
	if len(master) != 32 {
		return nil, errors.New("master key must be 32 bytes")
	}
	b, err := aes.NewCipher(master)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}
