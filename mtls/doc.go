// Package mtls carries a request's client certificate (RFC 8705): the
// certificate of the TLS handshake, or one a trusted TLS-terminating proxy
// passed on in a header (TrustedProxy). Client authentication and
// certificate-bound tokens read it from here (Certificate, Chain,
// Thumbprint), so they do not care where it came from. It also parses and
// compares the RFC 4514 distinguished names that tls_client_auth clients
// register (ParseDN, SubjectDN, EqualDN).
//
// It imports only the standard library. Its sub-package mtlstest makes
// certificates for tests.
package mtls
