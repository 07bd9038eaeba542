// Package token owns backchannel's tokens from issue to end.
//
// Issuer mints what the token endpoint returns: access tokens, opaque or
// JWTs of RFC 9068; opaque refresh tokens (RFC 6749 §1.5); and signed ID
// tokens (OIDC Core §2) with at_hash (OIDC Core §3.1.3.6) and, for CIBA
// push mode, the auth_req_id and rt_hash claims (CIBA Core §10.3.1).
// Every token is stored only as the SHA-256 of its text, in a family
// shared by all the tokens of one grant and its refreshes. Issue decides
// nothing about whether a grant is allowed: ciba decides that for the
// CIBA grant, and store saves the records Issue describes atomically with
// the request's redemption.
//
// A Grant's Binding sender-constrains the access token to a DPoP key
// (RFC 9449) or a client certificate (RFC 8705): the token records it, a
// JWT access token carries it as cnf, and a DPoP-bound token's type is
// DPoP. Service.UserInfo checks it against how the token was Presented.
//
// Service runs the rest of a token's life: refresh with rotation and
// replay detection (RFC 6749 §6), introspection (RFC 7662), revocation
// (RFC 7009) and userinfo (OIDC Core §5.3), each decision made inside one
// atomic store update.
//
// It imports keys, store, oauth and dpop (for the DPoP names), never
// httpapi.
package token
