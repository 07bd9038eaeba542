// Package keys owns backchannel's signing keys and the JOSE plumbing around
// them: generating and persisting one active key per configured signing
// algorithm, rotating keys while retired ones stay published, serving the
// JWK Set (RFC 7517 §5), signing and verifying compact JWS (RFC 7515), and
// resolving and verifying the public keys of clients (RFC 7591 jwks and
// jwks_uri, RFC 7523).
//
// It imports only store from this module; it never imports oauth or any
// package above it. Errors are plain Go errors: the protocol packages
// decide what they mean on the wire.
package keys
