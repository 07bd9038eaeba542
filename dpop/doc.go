// Package dpop verifies DPoP proofs (RFC 9449), the signed JWTs by which a
// client proves, request by request, that it holds the private key an
// access token is bound to.
//
// A Verifier checks one request's proof as RFC 9449 §4.3 lists the
// steps: exactly one DPoP header, a compact JWS typed dpop+jwt, signed
// with an allowed asymmetric alg by the public key in its own jwk header,
// whose claims name the request's method and URI, were created within a
// short window, carry a jti never seen before and, for a protected
// resource request, the hash of the access token (ath). It returns the
// key's RFC 7638 thumbprint, the jkt that an access token's cnf claim
// holds (RFC 9449 §6.1). A NonceSource adds the server-provided nonces of
// RFC 9449 §8 and §9 without any server-side state.
//
// The token endpoint uses a Verifier to bind tokens, the userinfo
// endpoint and the resource package to check them. Refusals are
// *oauth.Error values with the codes of RFC 9449 §12.2; their HTTP status
// is the token endpoint's (400): a protected resource answers 401 with a
// DPoP challenge instead (RFC 9449 §7.1).
//
// It imports keys, store and oauth, never httpapi or token.
package dpop
