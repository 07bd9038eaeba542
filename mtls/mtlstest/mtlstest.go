// Package mtlstest makes certificates for tests of mutual TLS (RFC 8705):
// certificate authorities, client and server certificates issued by
// them, self-signed client certificates, and HTTP clients that present
// a certificate to an httptest server started with StartTLS. Keys are
// ECDSA P-256, made fresh for each call. It imports only the standard
// library and must only be imported by tests.
package mtlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// CA is a certificate authority made for a test.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// parents are the intermediate CAs above this one, nearest first,
	// not including the root.
	parents []*x509.Certificate
}

// NewCA returns a new root CA named cn, valid from a year ago for two
// years, so that tests with a fixed clock near today can use it.
func NewCA(tb testing.TB, cn string) *CA {
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"backchannel tests"}},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		NotBefore:             time.Now().AddDate(-1, 0, 0),
		NotAfter:              time.Now().AddDate(1, 0, 0),
	}
	fill(tb, tmpl)
	return &CA{Cert: create(tb, tmpl, tmpl, &key.PublicKey, key), Key: key}
}

// Intermediate returns a CA named cn whose certificate ca issued.
func (ca *CA) Intermediate(tb testing.TB, cn string) *CA {
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		NotBefore:             time.Now().AddDate(-1, 0, 0),
		NotAfter:              time.Now().AddDate(1, 0, 0),
	}
	fill(tb, tmpl)
	cert := create(tb, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	parents := ca.parents
	if !ca.isRoot() {
		parents = append([]*x509.Certificate{ca.Cert}, ca.parents...)
	}
	return &CA{Cert: cert, Key: key, parents: parents}
}

func (ca *CA) isRoot() bool { return ca.Cert.CheckSignatureFrom(ca.Cert) == nil }

// Pool returns a pool holding only ca's certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// PEM returns ca's certificate in PEM.
func (ca *CA) PEM() []byte { return PEM(ca.Cert) }

// Issue returns a certificate ca issued from tmpl, with a new key. Zero
// fields of tmpl get defaults: a random serial number, validity from an
// hour ago for a day, the digital signature key usage and the client
// authentication extended key usage. The chain of the result holds the
// intermediate CAs up to, but not including, the root.
func (ca *CA) Issue(tb testing.TB, tmpl *x509.Certificate) tls.Certificate {
	tb.Helper()
	key := newKey(tb)
	t := *tmpl
	fill(tb, &t)
	if t.KeyUsage == 0 {
		t.KeyUsage = x509.KeyUsageDigitalSignature
	}
	if t.ExtKeyUsage == nil {
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	leaf := create(tb, &t, ca.Cert, &key.PublicKey, ca.Key)
	chain := [][]byte{leaf.Raw}
	if !ca.isRoot() {
		chain = append(chain, ca.Cert.Raw)
		for _, p := range ca.parents {
			chain = append(chain, p.Raw)
		}
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}
}

// Server returns a server certificate ca issued for 127.0.0.1, ::1 and
// localhost.
func (ca *CA) Server(tb testing.TB) tls.Certificate {
	tb.Helper()
	return ca.Issue(tb, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// SelfSigned returns a self-signed client certificate made from tmpl,
// with the defaults of Issue.
func SelfSigned(tb testing.TB, tmpl *x509.Certificate) tls.Certificate {
	tb.Helper()
	key := newKey(tb)
	t := *tmpl
	fill(tb, &t)
	if t.KeyUsage == 0 {
		t.KeyUsage = x509.KeyUsageDigitalSignature
	}
	if t.ExtKeyUsage == nil {
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	leaf := create(tb, &t, &t, &key.PublicKey, key)
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
}

// PEM returns cert in PEM.
func PEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// StartTLS starts srv with TLS, asking clients for a certificate without
// verifying it (tls.RequestClientCert), as backchannel's listeners do.
func StartTLS(srv *httptest.Server) {
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
}

// Client returns a client of srv, started with StartTLS, that trusts its
// certificate and presents certs (none when certs is empty).
func Client(srv *httptest.Server, certs ...tls.Certificate) *http.Client {
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = certs
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

func fill(tb testing.TB, t *x509.Certificate) {
	tb.Helper()
	if t.SerialNumber == nil {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
		if err != nil {
			tb.Fatal(err)
		}
		t.SerialNumber = n
	}
	if t.NotBefore.IsZero() {
		t.NotBefore = time.Now().Add(-time.Hour)
	}
	if t.NotAfter.IsZero() {
		t.NotAfter = t.NotBefore.Add(25 * time.Hour)
	}
}

func create(tb testing.TB, tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
	tb.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert
}
