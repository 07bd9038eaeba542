package mtls

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
)

type ctxKey struct{}

// WithCertificate returns a copy of ctx carrying cert as the client
// certificate, as a trusted proxy's header establishes it.
func WithCertificate(ctx context.Context, cert *x509.Certificate) context.Context {
	return context.WithValue(ctx, ctxKey{}, cert)
}

// Certificate returns the client certificate of r: one set with
// WithCertificate, else the leaf of the TLS handshake, else nil.
func Certificate(r *http.Request) *x509.Certificate {
	if c, ok := r.Context().Value(ctxKey{}).(*x509.Certificate); ok && c != nil {
		return c
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return r.TLS.PeerCertificates[0]
	}
	return nil
}

// Thumbprint returns the x5t#S256 of cert: the base64url SHA-256 of its
// DER encoding (RFC 8705 §3.1).
func Thumbprint(cert *x509.Certificate) string {
	h := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(h[:])
}
