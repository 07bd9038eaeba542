// Package clientauth authenticates OAuth clients at the backchannel
// authentication endpoint (CIBA Core §7.1) and the token endpoint
// (RFC 6749 §3.2.1). It implements the methods of OpenID Connect Core §9:
// client_secret_basic and client_secret_post (RFC 6749 §2.3.1), and the
// JWT assertions client_secret_jwt and private_key_jwt (RFC 7523 §2.2 and
// §3); and the mutual TLS methods of RFC 8705 §2: tls_client_auth (a
// certificate from a configured CA carrying the registered name) and
// self_signed_tls_client_auth (a certificate whose key the client
// registered). Public clients (method none) cannot authenticate here.
//
// An Authenticator turns a request into the authenticated store.Client or
// an *oauth.Error. It reads clients and records used assertion IDs
// through store.Store, resolves client keys through a KeySource, and
// reads the client certificate with mtls.Chain, whether it came from the
// TLS handshake or a trusted proxy. It imports mtls, oauth and store from
// this module and must not import httpapi, ciba, token or any store
// backend.
package clientauth
