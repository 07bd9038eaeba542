package keys

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// ErrUnknownKey is returned by VerifyJWS when the key set has no key that
// could have signed the token: none with the token's kid or, for a token
// without a kid, none that fits its alg. A caller that fetched the set
// from a jwks_uri may refresh it once and retry.
var ErrUnknownKey = errors.New("keys: no key with that kid")

// VerifyJWS checks a compact JWS (RFC 7515 §7.1) against set. The header
// alg must be one of algs; "none", the HMAC algorithms and any alg not in
// algs are refused whatever algs says (RFC 8725 §3.1). With a kid in the
// header only the keys of that kid are used (ErrUnknownKey if there are
// none); without one, every key whose use, alg and type fit the header
// alg is tried. RSA keys below 2048 bits never fit. VerifyJWS returns the
// protected header and the payload; checking the payload's claims is the
// caller's job.
func VerifyJWS(token string, set *jose.JSONWebKeySet, algs []string) (jose.Header, []byte, error) {
	allowed := intersect(algs, asymmetricAlgs)
	if len(allowed) == 0 {
		return jose.Header{}, nil, fmt.Errorf("keys: no acceptable signing alg in %q", algs)
	}
	jws, err := jose.ParseSignedCompact(token, allowed)
	if err != nil {
		return jose.Header{}, nil, fmt.Errorf("keys: parse JWS: %w", err)
	}
	h := jws.Signatures[0].Protected
	if set == nil {
		return jose.Header{}, nil, ErrUnknownKey
	}
	var candidates []crypto.PublicKey
	kidFound := false
	for _, k := range set.Keys {
		if h.KeyID != "" && k.KeyID != h.KeyID {
			continue
		}
		kidFound = true
		if pub, ok := publicKey(k, h.Algorithm); ok {
			candidates = append(candidates, pub)
		}
	}
	switch {
	case h.KeyID != "" && !kidFound:
		return jose.Header{}, nil, fmt.Errorf("%w %q", ErrUnknownKey, h.KeyID)
	case h.KeyID != "" && len(candidates) == 0:
		return jose.Header{}, nil, fmt.Errorf("keys: key %q does not fit alg %s", h.KeyID, h.Algorithm)
	case len(candidates) == 0:
		return jose.Header{}, nil, fmt.Errorf("%w: none fits alg %s", ErrUnknownKey, h.Algorithm)
	}
	for _, pub := range candidates {
		if payload, err := jws.Verify(pub); err == nil {
			return h, payload, nil
		}
	}
	return jose.Header{}, nil, errors.New("keys: invalid signature")
}

// VerifyHMAC checks a compact JWS MACed with secret, as client_secret_jwt
// assertions are (RFC 7523 §2.2, OIDC Core §9). The header alg must be one
// of algs and one of HS256, HS384 and HS512. RFC 7518 §3.2 requires a
// secret at least as long as the hash output, so a 32-byte secret works
// for HS256 only. VerifyHMAC returns the protected header and the payload.
func VerifyHMAC(token string, secret []byte, algs []string) (jose.Header, []byte, error) {
	allowed := intersect(algs, hmacAlgs)
	if len(allowed) == 0 {
		return jose.Header{}, nil, fmt.Errorf("keys: no acceptable HMAC alg in %q", algs)
	}
	if len(secret) == 0 {
		return jose.Header{}, nil, errors.New("keys: empty HMAC secret")
	}
	jws, err := jose.ParseSignedCompact(token, allowed)
	if err != nil {
		return jose.Header{}, nil, fmt.Errorf("keys: parse JWS: %w", err)
	}
	payload, err := jws.Verify(secret)
	if err != nil {
		return jose.Header{}, nil, fmt.Errorf("keys: invalid MAC: %w", err)
	}
	return jws.Signatures[0].Protected, payload, nil
}

// privateMembers are the JWK members that carry secret key material
// (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2 uses "d" too).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// ParseJWKS parses a client's JWK Set (RFC 7517 §5), from its jwks
// metadata or its jwks_uri. A set with any private or symmetric key
// material is refused as a whole: the client has leaked its key, and we
// must not hold it. Keys whose kty or parameters are not understood are
// skipped (RFC 7517 §5).
func ParseJWKS(data []byte) (*jose.JSONWebKeySet, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("keys: parse JWK Set: %w", err)
	}
	if raw.Keys == nil {
		return nil, errors.New(`keys: parse JWK Set: no "keys" array`)
	}
	set := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for i, b := range raw.Keys {
		var members map[string]json.RawMessage
		if err := json.Unmarshal(b, &members); err != nil {
			return nil, fmt.Errorf("keys: parse JWK Set: key %d is not an object", i)
		}
		for _, m := range privateMembers {
			if _, ok := members[m]; ok {
				return nil, fmt.Errorf("keys: parse JWK Set: key %d has private member %q", i, m)
			}
		}
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(b); err != nil || !k.IsPublic() {
			continue
		}
		set.Keys = append(set.Keys, k)
	}
	return set, nil
}
