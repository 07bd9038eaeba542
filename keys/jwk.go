package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// The signing algorithms the server can keep keys for (RFC 7518 §3.1,
// RFC 8037 §3.1 for EdDSA).
const (
	ES256 = "ES256"
	PS256 = "PS256"
	RS256 = "RS256"
	EdDSA = "EdDSA"
)

// signingAlgs lists the algorithms Config.Algs may name. ES256 comes
// first: it is the default, and FAPI 1.0 Advanced §8.6 allows only PS256
// and ES256 (RS256 and EdDSA serve relying parties outside FAPI).
var signingAlgs = []string{ES256, PS256, RS256, EdDSA}

// SigningAlgs returns the algorithms Config.Algs may name, ES256 first.
func SigningAlgs() []string { return slices.Clone(signingAlgs) }

// asymmetricAlgs are the JWS algorithms VerifyJWS can accept. "none" and
// the HMAC algorithms are deliberately absent: a key set holds public
// keys, and an HMAC "signature" made with a public key as the secret
// proves nothing (RFC 8725 §2.1, §3.1).
var asymmetricAlgs = []string{
	"ES256", "ES384", "ES512",
	"PS256", "PS384", "PS512",
	"RS256", "RS384", "RS512",
	"EdDSA",
}

// hmacAlgs are the algorithms VerifyHMAC can accept (RFC 7518 §3.2).
var hmacAlgs = []string{"HS256", "HS384", "HS512"}

// minRSABits is the smallest RSA modulus accepted for verification
// (FAPI 1.0 Advanced §8.6: RSA keys of at least 2048 bits).
const minRSABits = 2048

// rsaBits is the size of the RSA keys we generate. 2048 bits is what FAPI
// and NIST SP 800-57 require today and keeps PS256 signing fast; the
// upgrade path is 3072 bits, which verifiers already accept.
const rsaBits = 2048

// generate creates a new private key for alg, as a JWK carrying its kid
// (the RFC 7638 thumbprint), alg and use "sig".
func generate(alg string) (jose.JSONWebKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case PS256, RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return jose.JSONWebKey{}, fmt.Errorf("keys: unsupported signing alg %q", alg)
	}
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	jwk := jose.JSONWebKey{Key: priv, Algorithm: alg, Use: "sig"}
	kid, err := Thumbprint(jwk)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	jwk.KeyID = kid
	return jwk, nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint of k's public key: the
// base64url (unpadded) SHA-256 of its required members in lexicographic
// order. It is the kid of every key we generate. A private key has the
// thumbprint of its public half.
func Thumbprint(k jose.JSONWebKey) (string, error) {
	sum, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("keys: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// publicKey returns the public key of k that can verify a JWS signed with
// alg, or false if k does not fit alg: its use is not "sig", its alg
// differs, its type or curve is wrong for alg, or it is an RSA key below
// 2048 bits.
func publicKey(k jose.JSONWebKey, alg string) (crypto.PublicKey, bool) {
	// RFC 7517 §4.2, §4.4: a key restricted to another use or alg is not
	// ours to use here.
	if k.Use != "" && k.Use != "sig" {
		return nil, false
	}
	if k.Algorithm != "" && k.Algorithm != alg {
		return nil, false
	}
	var pub any
	switch key := k.Key.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		pub = key
	case *ecdsa.PrivateKey:
		pub = key.Public()
	case *rsa.PrivateKey:
		pub = key.Public()
	case ed25519.PrivateKey:
		pub = key.Public()
	default:
		return nil, false // symmetric or unknown
	}
	switch alg {
	case "ES256", "ES384", "ES512":
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return nil, false
		}
		// RFC 7518 §3.4: each ES alg is bound to one curve.
		if ec.Curve != curveOf(alg) {
			return nil, false
		}
		return ec, true
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		r, ok := pub.(*rsa.PublicKey)
		if !ok || r.N == nil || r.N.BitLen() < minRSABits {
			return nil, false
		}
		return r, true
	case "EdDSA":
		// RFC 8037 §3.1; Ed448 is not supported by go-jose.
		ed, ok := pub.(ed25519.PublicKey)
		if !ok {
			return nil, false
		}
		return ed, true
	}
	return nil, false
}

// intersect returns the members of want that are also in allowed, in the
// order of want, without duplicates.
func intersect(want, allowed []string) []jose.SignatureAlgorithm {
	var out []jose.SignatureAlgorithm
	for _, a := range want {
		sa := jose.SignatureAlgorithm(a)
		if slices.Contains(allowed, a) && !slices.Contains(out, sa) {
			out = append(out, sa)
		}
	}
	return out
}

// curveOf returns the curve an ES alg signs with (RFC 7518 §3.4).
func curveOf(alg string) elliptic.Curve {
	switch alg {
	case "ES256":
		return elliptic.P256()
	case "ES384":
		return elliptic.P384()
	case "ES512":
		return elliptic.P521()
	}
	return nil
}
