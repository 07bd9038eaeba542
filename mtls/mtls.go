package mtls

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
)

type ctxKey struct{}

// presented is the context value: the chain a trusted proxy passed on,
// leaf first. An empty chain records that the proxy passed on none.
type presented struct {
	chain []*x509.Certificate
}

// WithCertificate returns a copy of ctx carrying cert as the client
// certificate, as a trusted proxy's header establishes it. A nil cert
// records that the request has no client certificate, whatever the TLS
// handshake of the connection carried: behind a proxy, that handshake is
// the proxy's, not the client's.
func WithCertificate(ctx context.Context, cert *x509.Certificate) context.Context {
	if cert == nil {
		return WithChain(ctx, nil)
	}
	return WithChain(ctx, []*x509.Certificate{cert})
}

// WithChain is WithCertificate for a client certificate with the
// intermediate certificates the client sent after it, leaf first.
func WithChain(ctx context.Context, chain []*x509.Certificate) context.Context {
	return context.WithValue(ctx, ctxKey{}, presented{chain: chain})
}

// Certificate returns the client certificate of r: one set with
// WithCertificate or WithChain, else the leaf of the TLS handshake, else
// nil.
func Certificate(r *http.Request) *x509.Certificate {
	if chain := Chain(r); len(chain) > 0 {
		return chain[0]
	}
	return nil
}

// Chain returns the client certificate of r followed by the intermediate
// certificates the client sent with it (RFC 8446 §4.4.2), as Certificate
// finds them. The intermediates are unverified: only tls_client_auth's
// path validation (RFC 8705 §2.1) gives them meaning. Nil when r has no
// client certificate.
func Chain(r *http.Request) []*x509.Certificate {
	if p, ok := r.Context().Value(ctxKey{}).(presented); ok {
		return p.chain
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return r.TLS.PeerCertificates
	}
	return nil
}

// Thumbprint returns the x5t#S256 of cert: the base64url SHA-256 of its
// DER encoding (RFC 8705 §3.1).
func Thumbprint(cert *x509.Certificate) string {
	h := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(h[:])
}
