package clientauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// maxJTI bounds the length of an assertion's jti, which becomes a key in
// the store.
const maxJTI = 256

// authenticateAssertion authenticates a client_secret_jwt or
// private_key_jwt request (RFC 7523 §2.2, OIDC Core §9). It reads the
// unverified iss only to find the client, and trusts nothing else in the
// assertion until the signature is verified with that client's key.
func (a *Authenticator) authenticateAssertion(ctx context.Context, form oauth.Form, endpoint string) (store.Client, error) {
	// RFC 7521 §4.2: both parameters are required, and the type must be
	// the JWT bearer type of RFC 7523 §2.2.
	switch {
	case !form.Has("client_assertion_type"):
		return store.Client{}, oauth.Errorf(oauth.InvalidRequest, "client_assertion_type is missing")
	case form.Get("client_assertion_type") != oauth.ClientAssertionJWT:
		return store.Client{}, oauth.Errorf(oauth.InvalidRequest, "client_assertion_type must be %s", oauth.ClientAssertionJWT)
	case form.Get("client_assertion") == "":
		return store.Client{}, oauth.Errorf(oauth.InvalidRequest, "client_assertion is missing")
	}

	// RFC 7521 §4.2: the assertion is a single JWT, so JWS Compact
	// Serialization only. Listing the algorithms keeps "none" out.
	jws, err := jose.ParseSignedCompact(form.Get("client_assertion"), parseAlgs())
	if err != nil {
		return store.Client{}, invalidClient("client_assertion is not a JWT signed with a supported algorithm", err)
	}
	header := jws.Signatures[0].Header
	alg := jose.SignatureAlgorithm(header.Algorithm)

	var peek jwt.Claims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &peek); err != nil {
		return store.Client{}, invalidClient("client_assertion does not hold a valid JWT claims set", err)
	}
	if peek.Issuer == "" {
		return store.Client{}, invalidClient("client_assertion has no iss", errors.New("empty iss"))
	}
	// RFC 7521 §4.2: a client_id sent with the assertion must name the
	// client the assertion authenticates.
	if form.Has("client_id") && form.Get("client_id") != peek.Issuer {
		return store.Client{}, invalidClient("client_id does not match the iss of client_assertion", errors.New("client_id differs from iss"))
	}

	c, err := a.loadClient(ctx, peek.Issuer)
	if err != nil {
		return store.Client{}, err
	}
	var payload []byte
	switch method := registeredMethod(c); method {
	case oauth.AuthSecretJWT:
		if !allowedHMAC(c, alg) {
			return store.Client{}, failed(fmt.Errorf("client %q: alg %s is not allowed for client_secret_jwt (registered %q)", c.ID, alg, c.TokenEndpointAuthSigningAlg))
		}
		if c.Secret == "" {
			return store.Client{}, failed(fmt.Errorf("client %q: client_secret_jwt client has no secret", c.ID))
		}
		// OIDC Core §10.1: the HMAC key is the octets of the UTF-8
		// representation of the client_secret.
		payload, err = jws.Verify([]byte(c.Secret))
		if err != nil {
			return store.Client{}, failed(fmt.Errorf("client %q: verify client_secret_jwt: %w", c.ID, err))
		}
	case oauth.AuthPrivateKey:
		if !allowedKeyAlg(c, alg) {
			return store.Client{}, failed(fmt.Errorf("client %q: alg %s is not allowed for private_key_jwt (registered %q)", c.ID, alg, c.TokenEndpointAuthSigningAlg))
		}
		payload, err = a.verifyWithClientKeys(ctx, c, jws, alg, header.KeyID)
		if err != nil {
			return store.Client{}, err
		}
	default:
		return store.Client{}, failed(fmt.Errorf("client %q is registered for %s, not a JWT assertion", c.ID, method))
	}

	// The signature holds: from here on the client is who it says, and
	// the descriptions may be precise.
	var cl jwt.Claims
	if err := json.Unmarshal(payload, &cl); err != nil {
		return store.Client{}, invalidClient("client_assertion does not hold a valid JWT claims set", err)
	}
	if err := a.checkClaims(cl, c, endpoint); err != nil {
		return store.Client{}, err
	}
	exp := cl.Expiry.Time()
	// RFC 7523 §3 item 7: the jti is single use. It is remembered until
	// the assertion can no longer pass the exp check, skew included.
	key := "client_assertion:" + c.ID + ":" + cl.ID
	if err := a.Store.UseOnce(ctx, key, exp.Add(a.skew())); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.Client{}, invalidClient("client_assertion replayed: its jti was already used", fmt.Errorf("client %q: jti %q: %w", c.ID, truncate(cl.ID, 64), err))
		}
		return store.Client{}, fmt.Errorf("record client assertion jti: %w", err)
	}
	return c, nil
}

// checkClaims checks the verified claims of client c's assertion against
// RFC 7523 §3 and OIDC Core §9.
func (a *Authenticator) checkClaims(cl jwt.Claims, c store.Client, endpoint string) error {
	now := a.now()
	skew := a.skew()
	switch {
	// RFC 7523 §3 items 1 and 2.B; OIDC Core §9: iss and sub are both
	// the client_id.
	case cl.Issuer != c.ID:
		return invalidClient("iss of client_assertion must be the client_id", fmt.Errorf("iss %q, client %q", truncate(cl.Issuer, 64), c.ID))
	case cl.Subject != cl.Issuer:
		return invalidClient("sub of client_assertion must equal its iss, the client_id", fmt.Errorf("sub %q, iss %q", truncate(cl.Subject, 64), cl.Issuer))
	// RFC 7523 §3 item 3: aud identifies this server; the issuer and the
	// URL of the endpoint called both do, compared as simple strings.
	case !(a.Issuer != "" && cl.Audience.Contains(a.Issuer)) && !(endpoint != "" && cl.Audience.Contains(endpoint)):
		return invalidClient("aud of client_assertion must contain the issuer identifier or the URL of this endpoint", fmt.Errorf("aud %q", cl.Audience))
	// RFC 7523 §3 item 4: exp is required and must not have passed.
	case cl.Expiry == nil:
		return invalidClient("client_assertion has no exp", errors.New("exp missing"))
	case now.After(cl.Expiry.Time().Add(skew)):
		return invalidClient("client_assertion has expired", fmt.Errorf("exp %v, now %v", cl.Expiry.Time().UTC(), now.UTC()))
	// A bounded lifetime bounds how long a jti must be remembered.
	case cl.Expiry.Time().After(now.Add(a.maxLifetime() + skew)):
		return invalidClient(fmt.Sprintf("client_assertion expires too far in the future: exp may be at most %v ahead", a.maxLifetime()), fmt.Errorf("exp %v, now %v", cl.Expiry.Time().UTC(), now.UTC()))
	// RFC 7523 §3 items 5 and 6: nbf and iat, when present, are not in
	// the future.
	case cl.NotBefore != nil && cl.NotBefore.Time().After(now.Add(skew)):
		return invalidClient("client_assertion is not valid yet (nbf is in the future)", fmt.Errorf("nbf %v, now %v", cl.NotBefore.Time().UTC(), now.UTC()))
	case cl.IssuedAt != nil && cl.IssuedAt.Time().After(now.Add(skew)):
		return invalidClient("client_assertion was issued in the future (iat)", fmt.Errorf("iat %v, now %v", cl.IssuedAt.Time().UTC(), now.UTC()))
	// RFC 7523 §3 item 7; OIDC Core §9: jti is required there.
	case cl.ID == "":
		return invalidClient("client_assertion has no jti", errors.New("jti missing"))
	case len(cl.ID) > maxJTI:
		return invalidClient(fmt.Sprintf("jti of client_assertion is longer than %d octets", maxJTI), fmt.Errorf("jti of %d octets", len(cl.ID)))
	}
	return nil
}

// verifyWithClientKeys verifies jws with a key of client c. If the JWS
// names a kid the client's key set lacks, the set is refreshed once, so
// that a client's new key works before the cache expires
// (OIDC Core §10.1.1).
func (a *Authenticator) verifyWithClientKeys(ctx context.Context, c store.Client, jws *jose.JSONWebSignature, alg jose.SignatureAlgorithm, kid string) ([]byte, error) {
	if a.Keys == nil {
		return nil, fmt.Errorf("clientauth: no KeySource to verify private_key_jwt client %q", c.ID)
	}
	set, err := a.Keys.Keys(ctx, c)
	if err != nil {
		return nil, failed(fmt.Errorf("client %q: keys: %w", c.ID, err))
	}
	if kid != "" && (set == nil || len(set.Key(kid)) == 0) {
		set, err = a.Keys.Refresh(ctx, c)
		if err != nil {
			return nil, failed(fmt.Errorf("client %q: refresh keys for kid %q: %w", c.ID, truncate(kid, 64), err))
		}
	}
	if set == nil {
		return nil, failed(fmt.Errorf("client %q has no keys", c.ID))
	}
	for _, k := range set.Keys {
		if !usable(k, kid, alg) {
			continue
		}
		pub := k.Public()
		// Only asymmetric public keys: an "oct" key in a JWK Set must
		// never turn a private_key_jwt into an HMAC.
		if !pub.Valid() || !pub.IsPublic() {
			continue
		}
		if payload, err := jws.Verify(pub); err == nil {
			return payload, nil
		}
	}
	return nil, failed(fmt.Errorf("client %q: no key (kid %q) verifies the %s assertion", c.ID, truncate(kid, 64), alg))
}

// usable reports whether k may verify a JWS with kid and alg: the kid
// matches when the JWS names one, and the key's use and alg, when set,
// allow it (RFC 7517 §4.2, §4.4).
func usable(k jose.JSONWebKey, kid string, alg jose.SignatureAlgorithm) bool {
	switch {
	case kid != "" && k.KeyID != kid:
		return false
	case k.Use != "" && k.Use != "sig":
		return false
	case k.Algorithm != "" && k.Algorithm != string(alg):
		return false
	}
	return true
}

// parseAlgs returns every algorithm an assertion may be signed with:
// the HMACs of client_secret_jwt and the asymmetric algorithms of
// private_key_jwt. Never "none" (OIDC Core §9).
func parseAlgs() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{
		jose.HS256, jose.HS384, jose.HS512,
		jose.RS256, jose.RS384, jose.RS512,
		jose.PS256, jose.PS384, jose.PS512,
		jose.ES256, jose.ES384, jose.ES512,
		jose.EdDSA,
	}
}

// allowedHMAC reports whether client_secret_jwt client c may sign with
// alg: its registered token_endpoint_auth_signing_alg if set, else any
// of HS256, HS384 and HS512.
func allowedHMAC(c store.Client, alg jose.SignatureAlgorithm) bool {
	if c.TokenEndpointAuthSigningAlg != "" && string(alg) != c.TokenEndpointAuthSigningAlg {
		return false
	}
	switch alg {
	case jose.HS256, jose.HS384, jose.HS512:
		return true
	}
	return false
}

// allowedKeyAlg reports whether private_key_jwt client c may sign with
// alg: its registered token_endpoint_auth_signing_alg if set (and
// asymmetric), else any of RS256, PS256, ES256 and EdDSA.
func allowedKeyAlg(c store.Client, alg jose.SignatureAlgorithm) bool {
	if c.TokenEndpointAuthSigningAlg != "" {
		if string(alg) != c.TokenEndpointAuthSigningAlg {
			return false
		}
		switch alg {
		case jose.RS256, jose.RS384, jose.RS512,
			jose.PS256, jose.PS384, jose.PS512,
			jose.ES256, jose.ES384, jose.ES512,
			jose.EdDSA:
			return true
		}
		return false
	}
	switch alg {
	case jose.RS256, jose.PS256, jose.ES256, jose.EdDSA:
		return true
	}
	return false
}
