package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
)

// sealKey encrypts a PKCS#8 private key under the master key with
// AES-256-GCM; the key id is the additional data, so a sealed key cannot
// be moved to another row.
func sealKey(master []byte, kid string, pkcs8 []byte) ([]byte, error) {
	aead, err := masterAEAD(master)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, pkcs8, []byte("accountd signing key "+kid)), nil
}

func unsealKey(master []byte, kid string, sealed []byte) ([]byte, error) {
	aead, err := masterAEAD(master)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("sealed signing key too short")
	}
	n := aead.NonceSize()
	pt, err := aead.Open(nil, sealed[:n], sealed[n:], []byte("accountd signing key "+kid))
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
