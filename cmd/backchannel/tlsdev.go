package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/backchannel/backchannel/mtls"
)

// The lifetimes of the --dev --tls certificates. A certificate is made
// anew when less than devRenewBefore of it is left.
const (
	devCALifetime     = 365 * 24 * time.Hour
	devServerLifetime = 90 * 24 * time.Hour
	devRenewBefore    = 7 * 24 * time.Hour
)

// devTLSFiles are the files of the --dev --tls CA and server certificate.
type devTLSFiles struct {
	CA, CAKey, Cert, Key string
}

// ensureDevTLS returns the --dev --tls CA and server certificate in
// dataDir/tls, making them when they are missing, unreadable or close to
// expiry, and reusing them otherwise, so that a client told to trust the
// CA keeps trusting the server across restarts. The CA is name-constrained
// to localhost and the loopback addresses: trusting it trusts nothing
// else. The server certificate names 127.0.0.1, ::1 and localhost.
func ensureDevTLS(dataDir string, now time.Time) (devTLSFiles, error) {
	dir := filepath.Join(dataDir, "tls")
	f := devTLSFiles{
		CA:    filepath.Join(dir, "ca.pem"),
		CAKey: filepath.Join(dir, "ca-key.pem"),
		Cert:  filepath.Join(dir, "server.pem"),
		Key:   filepath.Join(dir, "server-key.pem"),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, fmt.Errorf("dev TLS: %w", err)
	}
	ca, caKey, err := loadPair(f.CA, f.CAKey)
	if err != nil || now.Add(devRenewBefore).After(ca.NotAfter) {
		if ca, caKey, err = newDevCA(f, now); err != nil {
			return f, fmt.Errorf("dev TLS: make CA: %w", err)
		}
	}
	if usableDevServer(f, ca, now) {
		return f, nil
	}
	if err := newDevServer(f, ca, caKey, now); err != nil {
		return f, fmt.Errorf("dev TLS: make server certificate: %w", err)
	}
	return f, nil
}

// loadPair reads a PEM certificate and its PEM PKCS #8 ECDSA key.
func loadPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("not an ECDSA key")
	}
	return pair.Leaf, key, nil
}

// usableDevServer reports whether the server certificate on disk was
// issued by ca, covers the loopback names and is not close to expiry.
func usableDevServer(f devTLSFiles, ca *x509.Certificate, now time.Time) bool {
	leaf, _, err := loadPair(f.Cert, f.Key)
	if err != nil || leaf.CheckSignatureFrom(ca) != nil || now.Add(devRenewBefore).After(leaf.NotAfter) {
		return false
	}
	return leaf.VerifyHostname("127.0.0.1") == nil && leaf.VerifyHostname("localhost") == nil
}

func newDevCA(f devTLSFiles, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	_, v4, _ := net.ParseCIDR("127.0.0.0/8")
	_, v6, _ := net.ParseCIDR("::1/128")
	tmpl := &x509.Certificate{
		SerialNumber:                serial(),
		Subject:                     pkix.Name{CommonName: "backchannel --dev CA", Organization: []string{"backchannel development"}},
		NotBefore:                   now.Add(-time.Hour),
		NotAfter:                    now.Add(devCALifetime),
		IsCA:                        true,
		BasicConstraintsValid:       true,
		MaxPathLenZero:              true,
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         []string{"localhost"},
		PermittedIPRanges:           []*net.IPNet{v4, v6},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if err := writePair(f.CA, f.CAKey, der, key); err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

func newDevServer(f devTLSFiles, ca *x509.Certificate, caKey *ecdsa.PrivateKey, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(devServerLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	return writePair(f.Cert, f.Key, der, key)
}

// writePair writes a certificate (0644) and its key (0600) in PEM.
func writePair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// serveTLS is what serve needs for TLS and client certificates.
type serveTLS struct {
	// main and mtls are the TLS configurations of the main and the
	// mutual TLS listener; main is nil when serve listens on plain http.
	main, mtls *tls.Config
	// clientCAs are trusted for tls_client_auth; nil when not configured.
	clientCAs *x509.CertPool
	// proxy takes client certificates from trusted proxies' headers; nil
	// without tls.trusted_proxies.
	proxy func(http.Handler) http.Handler
	// devCA is the PEM file of the --dev --tls CA.
	devCA string
}

// setupTLS loads the certificates of cfg.TLS, making the --dev ones
// first when asked to.
func setupTLS(cfg Config, log *slog.Logger, now time.Time) (serveTLS, error) {
	var s serveTLS
	t := cfg.TLS
	if t.Dev {
		f, err := ensureDevTLS(cfg.DataDir, now)
		if err != nil {
			return s, err
		}
		t.CertFile, t.KeyFile, s.devCA = f.Cert, f.Key, f.CA
	}
	if t.CertFile != "" {
		// The certificate is read once: a renewed one takes effect on
		// restart. Reloading it on SIGHUP through GetCertificate is the
		// upgrade path.
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return s, fmt.Errorf("tls.cert_file, tls.key_file: %w", err)
		}
		s.main = serverTLSConfig(pair, tls.RequestClientCert)
		if t.MTLSAddr != "" {
			// Browsers reach the main listener; only the aliases ask
			// for certificates (RFC 8705 §5).
			s.mtls = s.main
			s.main = serverTLSConfig(pair, tls.NoClientCert)
		}
	} else if strings.HasPrefix(cfg.Issuer, "https://") {
		log.Info("serving plain http under an https issuer: TLS is expected to be terminated in front of backchannel",
			"issuer", cfg.Issuer, "trusted_proxies", t.TrustedProxies)
	}
	if t.ClientCAFile != "" {
		b, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return s, fmt.Errorf("tls.client_ca_file: %w", err)
		}
		s.clientCAs = x509.NewCertPool()
		if !s.clientCAs.AppendCertsFromPEM(b) {
			return s, fmt.Errorf("tls.client_ca_file %s: no PEM certificates", t.ClientCAFile)
		}
	}
	if len(t.TrustedProxies) > 0 {
		proxies, err := mtls.ParsePrefixes(t.TrustedProxies)
		if err != nil {
			return s, fmt.Errorf("tls.trusted_proxies: %w", err)
		}
		s.proxy = mtls.TrustedProxy(proxies, t.ClientCertHeader, log)
	}
	return s, nil
}

// serverTLSConfig returns the TLS configuration of a listener serving
// cert. It asks for client certificates as auth says but never verifies
// them: clientauth does, per client (RFC 8705 §2), and a handshake must
// not fail for a certificate that only binds tokens.
func serverTLSConfig(cert tls.Certificate, auth tls.ClientAuthType) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   auth,
		// FAPI 1.0 Advanced §8.5: TLS 1.2 or later.
		MinVersion: tls.VersionTLS12,
		// FAPI 1.0 Advanced §8.5 permits four TLS 1.2 suites; Go
		// implements the two ECDHE_RSA ones (not DHE). The ECDHE_ECDSA
		// twins are added because Go negotiates only suites that match
		// the certificate's key: with an RSA certificate, as §8.5
		// presumes, they are never chosen, and with an ECDSA certificate
		// (the --dev one) they are the only AEAD suites TLS 1.2 clients
		// and HTTP/2 (RFC 9113 §9.2.2) can use; BCP 195 (RFC 9325 §4.2)
		// recommends them alike. For strict FAPI 1 conformance under TLS
		// 1.2, serve an RSA certificate. TLS 1.3 suites are fixed by Go.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		},
	}
}
