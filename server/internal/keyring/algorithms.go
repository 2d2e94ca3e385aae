package keyring

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"

	"github.com/golang-jwt/jwt/v5"
)

// KeyBits is the size of the RSA signing keys (PS256, RS256).
const KeyBits = 3072

// Algorithms are the JWS algorithms a Ring signs with: ES256 (ECDSA
// P-256), PS256 (RSASSA-PSS, 3072-bit keys), RS256 (RSASSA-PKCS1-v1_5,
// 3072-bit keys) and EdDSA (Ed25519).
var Algorithms = []string{"ES256", "PS256", "RS256", "EdDSA"}

// method returns the jwt signing method of alg, or nil when alg is not
// one of Algorithms.
func method(alg string) jwt.SigningMethod {
	switch alg {
	case "ES256":
		return jwt.SigningMethodES256
	case "PS256":
		return jwt.SigningMethodPS256
	case "RS256":
		return jwt.SigningMethodRS256
	case "EdDSA":
		return jwt.SigningMethodEdDSA
	}
	return nil
}

// generateKey returns a new private key for alg.
func generateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "PS256", "RS256":
		return rsa.GenerateKey(rand.Reader, KeyBits)
	case "EdDSA":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("keyring: unsupported algorithm %q", alg)
}

// fitsAlgorithm reports whether pub is a key alg signs with: a row whose
// algorithm and key disagree is refused, so that a token is never checked
// with a key of another kind than its header says.
func fitsAlgorithm(alg string, pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return alg == "ES256" && k.Curve == elliptic.P256()
	case *rsa.PublicKey:
		return (alg == "PS256" || alg == "RS256") && k.N.BitLen() >= 2048
	case ed25519.PublicKey:
		return alg == "EdDSA" && len(k) == ed25519.PublicKeySize
	}
	return false
}

// samePublicKey reports whether priv is the private half of pub.
func samePublicKey(priv any, pub crypto.PublicKey) bool {
	s, ok := priv.(crypto.Signer)
	if !ok {
		return false
	}
	eq, ok := s.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(pub)
}

// JWK is one public key in the JWKS (RFC 7517; RFC 7518 §6 for RSA and
// EC, RFC 8037 for OKP). Fields a key type does not use are omitted.
type JWK struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	// Crv is "P-256" (EC) or "Ed25519" (OKP).
	Crv string `json:"crv,omitempty"`
	// N and E are an RSA key's modulus and exponent.
	N string `json:"n,omitempty"`
	E string `json:"e,omitempty"`
	// X (and Y for EC) are the public point's coordinates; for OKP, X is
	// the public key.
	X string `json:"x,omitempty"`
	Y string `json:"y,omitempty"`
}

// jwk returns the JWK of pub.
func jwk(kid, alg string, pub crypto.PublicKey) JWK {
	b64 := base64.RawURLEncoding.EncodeToString
	j := JWK{Use: "sig", Alg: alg, Kid: kid}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		j.Kty, j.N, j.E = "RSA", b64(k.N.Bytes()), b64(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		// RFC 7518 §6.2.1.2: coordinates are the full field size, 32
		// bytes for P-256, with leading zeros.
		raw, _ := k.Bytes() // 0x04 || X || Y
		j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", b64(raw[1:33]), b64(raw[33:65])
	case ed25519.PublicKey:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64(k)
	}
	return j
}
