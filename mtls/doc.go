// Package mtls carries a request's client certificate (RFC 8705): the
// certificate of the TLS handshake, or one a trusted TLS-terminating proxy
// passed on. Client authentication and certificate-bound tokens read it
// from here, so they do not care where it came from. It imports only the
// standard library.
package mtls
