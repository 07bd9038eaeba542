package client

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"slices"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// clockSkew is the difference between the OP's clock and ours that
// VerifyIDToken tolerates on exp and iat (OIDC Core §3.1.3.7 leaves the
// allowance to the client).
const clockSkew = 60 * time.Second

// IDToken is a verified ID token (OIDC Core §2).
type IDToken struct {
	Issuer   string
	Subject  string
	Audience []string
	Expiry   time.Time
	IssuedAt time.Time
	AuthTime time.Time // zero if the token has no auth_time
	ACR      string
	AMR      []string
	AtHash   string
	// Claims holds every claim of the token, the ones above included.
	Claims map[string]any
}

// idClaims is the JSON form of the claims VerifyIDToken checks.
type idClaims struct {
	Issuer   string       `json:"iss"`
	Subject  string       `json:"sub"`
	Audience audience     `json:"aud"`
	Expiry   *numericDate `json:"exp"`
	IssuedAt *numericDate `json:"iat"`
	AuthTime *numericDate `json:"auth_time"`
	ACR      string       `json:"acr"`
	AMR      []string     `json:"amr"`
	AtHash   string       `json:"at_hash"`
	AZP      string       `json:"azp"`
}

// audience is the aud claim: one string or an array of them (RFC 7519
// §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(b, []byte(`"`)) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = list
	return nil
}

// numericDate is a JWT NumericDate: seconds since the epoch, possibly
// with a fraction (RFC 7519 §2).
type numericDate struct{ time.Time }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
		return fmt.Errorf("%s is not a NumericDate", b)
	}
	sec, frac := math.Modf(f)
	d.Time = time.Unix(int64(sec), int64(frac*1e9))
	return nil
}

// VerifyIDToken verifies an ID token (OIDC Core §3.1.3.7) and returns its
// claims:
//   - the JWS signature, with a key from the OP's JWKS (cached, and
//     fetched again once when no cached key has the token's kid);
//   - alg is one of id_token_signing_alg_values_supported, never "none"
//     and never an HMAC algorithm (RFC 8725 §3.1);
//   - iss equals the issuer, aud contains the client ID, and azp, present
//     whenever there are several audiences, equals the client ID;
//   - exp is in the future and iat not in the future, give or take 60
//     seconds of clock skew; CIBA has no nonce;
//   - if accessToken is not empty and the token has an at_hash, at_hash
//     matches it (OIDC Core §3.1.3.8, §3.3.2.11): the left half of the
//     access token's SHA-256 for ES256, PS256 and RS256, of SHA-384 and
//     SHA-512 for the 384 and 512 variants, and of SHA-512 for EdDSA.
func (c *Client) VerifyIDToken(ctx context.Context, raw, accessToken string) (*IDToken, error) {
	tok, err := c.verifyIDToken(ctx, raw, accessToken)
	if err != nil {
		return nil, fmt.Errorf("id token: %w", err)
	}
	return tok, nil
}

func (c *Client) verifyIDToken(ctx context.Context, raw, accessToken string) (*IDToken, error) {
	// ParseSignedCompact refuses any alg outside c.idAlgs, which never
	// holds "none" or an HMAC algorithm.
	jws, err := jose.ParseSignedCompact(raw, c.idAlgs)
	if err != nil {
		return nil, fmt.Errorf("parse JWS: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("not a single-signature JWS")
	}
	header := jws.Signatures[0].Protected
	alg := jose.SignatureAlgorithm(header.Algorithm)
	payload, err := c.verifySignature(ctx, jws, header.KeyID, alg)
	if err != nil {
		return nil, err
	}

	var cl idClaims
	if err := json.Unmarshal(payload, &cl); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	var all map[string]any
	if err := json.Unmarshal(payload, &all); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}

	// OIDC Core §3.1.3.7, steps 2 to 10, in order.
	if cl.Issuer != c.meta.Issuer {
		return nil, fmt.Errorf("iss %q is not the issuer %q", cl.Issuer, c.meta.Issuer)
	}
	if !slices.Contains(cl.Audience, c.cfg.ClientID) {
		return nil, fmt.Errorf("aud %q does not contain the client ID %q", []string(cl.Audience), c.cfg.ClientID)
	}
	if len(cl.Audience) > 1 && cl.AZP == "" {
		return nil, errors.New("several audiences and no azp")
	}
	if cl.AZP != "" && cl.AZP != c.cfg.ClientID {
		return nil, fmt.Errorf("azp %q is not the client ID %q", cl.AZP, c.cfg.ClientID)
	}
	now := c.now()
	if cl.Expiry == nil {
		return nil, errors.New("no exp")
	}
	if !now.Before(cl.Expiry.Add(clockSkew)) {
		return nil, fmt.Errorf("expired at %s", cl.Expiry.UTC().Format(time.RFC3339))
	}
	if cl.IssuedAt == nil {
		return nil, errors.New("no iat")
	}
	if cl.IssuedAt.After(now.Add(clockSkew)) {
		return nil, fmt.Errorf("issued in the future, at %s", cl.IssuedAt.UTC().Format(time.RFC3339))
	}
	if cl.Subject == "" {
		return nil, errors.New("no sub")
	}
	if accessToken != "" && cl.AtHash != "" {
		want, err := tokenHash(alg, accessToken)
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(cl.AtHash)) != 1 {
			return nil, errors.New("at_hash does not match the access token")
		}
	}

	tok := &IDToken{
		Issuer:   cl.Issuer,
		Subject:  cl.Subject,
		Audience: cl.Audience,
		Expiry:   cl.Expiry.Time,
		IssuedAt: cl.IssuedAt.Time,
		ACR:      cl.ACR,
		AMR:      cl.AMR,
		AtHash:   cl.AtHash,
		Claims:   all,
	}
	if cl.AuthTime != nil {
		tok.AuthTime = cl.AuthTime.Time
	}
	return tok, nil
}

// verifySignature verifies jws with a key of the OP's JWKS and returns its
// payload.
func (c *Client) verifySignature(ctx context.Context, jws *jose.JSONWebSignature, kid string, alg jose.SignatureAlgorithm) ([]byte, error) {
	keys, err := c.verificationKeys(ctx, kid, alg)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if payload, err := jws.Verify(k); err == nil {
			return payload, nil
		}
	}
	return nil, errors.New("signature does not verify with the OP's keys")
}

// verificationKeys returns the keys of the OP's JWKS that may verify a
// token signed with alg by the key kid (any key, if kid is empty). The
// set is cached; it is fetched again, once, when no cached key fits, so a
// key the OP has just rotated in is picked up (OIDC Core §10.1.1).
func (c *Client) verificationKeys(ctx context.Context, kid string, alg jose.SignatureAlgorithm) ([]jose.JSONWebKey, error) {
	c.jwksMu.Lock()
	defer c.jwksMu.Unlock()
	fetched := false
	if !c.jwksOK {
		if err := c.fetchJWKS(ctx); err != nil {
			return nil, err
		}
		fetched = true
	}
	keys := matchKeys(c.jwks, kid, alg)
	if len(keys) == 0 && !fetched {
		if err := c.fetchJWKS(ctx); err != nil {
			return nil, err
		}
		keys = matchKeys(c.jwks, kid, alg)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("the OP's JWKS has no %s key with kid %q", alg, kid)
	}
	return keys, nil
}

// fetchJWKS replaces the cached key set with the OP's current one. The
// caller holds c.jwksMu.
func (c *Client) fetchJWKS(ctx context.Context) error {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := c.getJSON(ctx, c.meta.JWKSURI, &set); err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, raw := range set.Keys {
		// RFC 7517 §5: skip keys we cannot use (an unknown kty, say)
		// rather than reject the whole set.
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil || !k.Valid() || !k.IsPublic() {
			continue
		}
		keys = append(keys, k)
	}
	c.jwks, c.jwksOK = keys, true
	return nil
}

// matchKeys returns the keys of set that may verify a signature made
// with alg by key kid.
func matchKeys(set []jose.JSONWebKey, kid string, alg jose.SignatureAlgorithm) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range set {
		if kid != "" && k.KeyID != kid {
			continue
		}
		// RFC 7517 §4.2 and §4.4: a key for encryption, or for another
		// algorithm, must not verify this signature.
		if (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != string(alg)) {
			continue
		}
		if !keyFits(k.Key, alg) {
			continue
		}
		out = append(out, k)
	}
	return out
}

// keyFits reports whether a public key of key's type can verify alg.
func keyFits(key any, alg jose.SignatureAlgorithm) bool {
	switch key.(type) {
	case *ecdsa.PublicKey:
		return alg == jose.ES256 || alg == jose.ES384 || alg == jose.ES512
	case *rsa.PublicKey:
		return slices.Contains([]jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512}, alg)
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}

// asymmetricAlgs are the ID token algorithms the client accepts at most.
// "none" and the HMAC algorithms are absent on purpose: an ID token must
// be signed by the OP's private key (RFC 8725 §3.1).
var asymmetricAlgs = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.RS256, jose.RS384, jose.RS512,
	jose.EdDSA,
}

// idTokenAlgs returns the asymmetric algorithms among the OP's
// id_token_signing_alg_values_supported. An OP that lists none defaults
// to RS256 (OIDC Core §3.1.3.7 step 7, Discovery §3).
func idTokenAlgs(supported []string) []jose.SignatureAlgorithm {
	if len(supported) == 0 {
		return []jose.SignatureAlgorithm{jose.RS256}
	}
	var out []jose.SignatureAlgorithm
	for _, a := range asymmetricAlgs {
		if slices.Contains(supported, string(a)) {
			out = append(out, a)
		}
	}
	return out
}

// tokenHash returns the at_hash of token for an ID token signed with alg
// (OIDC Core §3.1.3.6): the base64url left half of the token's hash with
// the alg's hash function; SHA-512 for EdDSA with Ed25519.
func tokenHash(alg jose.SignatureAlgorithm, token string) (string, error) {
	var h hash.Hash
	switch alg {
	case jose.ES256, jose.PS256, jose.RS256:
		h = sha256.New()
	case jose.ES384, jose.PS384, jose.RS384:
		h = sha512.New384()
	case jose.ES512, jose.PS512, jose.RS512, jose.EdDSA:
		h = sha512.New()
	default:
		return "", fmt.Errorf("no at_hash function for alg %s", alg)
	}
	h.Write([]byte(token))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
}
