// Package resource protects the HTTP APIs of a resource server that
// accepts backchannel's access tokens: a middleware that validates the
// token of each request, enforces its sender constraint, and hands the
// token's claims to the API's handler through the request context.
//
// Issuer validates tokens of one backchannel OP. It finds the OP's
// endpoints through discovery (OpenID Connect Discovery 1.0 §4), verifies
// JWT access tokens (RFC 9068) locally against the OP's JWK Set, and asks
// the OP's introspection endpoint (RFC 7662) about opaque ones, as a
// client with the resource server's own credentials. A token bound to a
// client certificate (cnf.x5t#S256, RFC 8705 §3) must come over a
// connection that presented that certificate; a token bound to a DPoP
// key (cnf.jkt, RFC 9449 §6) must come with the DPoP scheme and a proof
// by that key for the request (§7). Failures are answered 401 with the
// challenge of RFC 6750 §3 or RFC 9449 §7.1.
//
// It imports dpop, mtls, keys and oauth, never httpapi or token: a
// resource server links only what it needs to check tokens.
package resource
