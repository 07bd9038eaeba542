package token

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
)

// Hash returns the SHA-256 of a token, as store.Token.Hash keeps it. The
// tokens are 256-bit random values, so a fast unsalted hash suffices:
// nothing can be guessed from it, and lookups stay one index probe.
func Hash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// HalfHash returns the base64url (unpadded) encoding of the left-most half
// of the hash of value, where the hash is the one used by the JWS alg
// that signs the ID token: the at_hash and c_hash rule of OIDC Core
// §3.1.3.6 and §3.3.2.11, also used for rt_hash (CIBA Core §10.3.1).
//
// OIDC Core names no hash for EdDSA, whose hash depends on the curve. We
// sign EdDSA only with Ed25519, and for Ed25519 the OpenID Connect working
// group settled on SHA-512, the hash Ed25519 itself uses (openid/connect
// issue 1125, 2019); that is what common OPs and RP libraries compute.
func HalfHash(alg, value string) (string, error) {
	var h hash.Hash
	switch alg {
	case "ES256", "PS256", "RS256", "HS256":
		h = sha256.New()
	case "ES384", "PS384", "RS384", "HS384":
		h = sha512.New384()
	case "ES512", "PS512", "RS512", "HS512", "EdDSA":
		h = sha512.New()
	default:
		return "", fmt.Errorf("token: no hash for alg %q", alg)
	}
	h.Write([]byte(value))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
}
