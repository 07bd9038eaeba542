// Package token mints what the token endpoint returns: opaque access and
// refresh tokens (RFC 6749 §1.4, §1.5), stored only as SHA-256 hashes, and
// signed ID tokens (OIDC Core §2) with at_hash (OIDC Core §3.1.3.6) and,
// for CIBA push mode, the auth_req_id and rt_hash claims (CIBA Core
// §10.3.1).
//
// It decides nothing about whether a grant is allowed: ciba does that and
// store saves the records Issue describes, atomically with the request's
// redemption. It imports keys, store and oauth, never httpapi.
package token
