package mtls

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// DefaultHeader is the request header in which a TLS-terminating proxy
// passes on the client certificate when no other is configured.
const DefaultHeader = "X-Client-Cert"

// maxChain bounds the certificates read from a proxy header.
const maxChain = 8

// TrustedProxy returns middleware that takes the client certificate from
// request header header (DefaultHeader when empty) of requests whose
// r.RemoteAddr is in proxies, as a TLS-terminating proxy sends it: the
// PEM certificate, URL-encoded (nginx's $ssl_client_escaped_cert),
// optionally followed by the intermediate certificates.
//
// For a request from a trusted proxy, the header is the only source of
// the client certificate: without the header (or with one that does not
// parse, which is logged as a warning on log) the request has none, even
// if the proxy's own connection presented one. From any other peer the
// header is removed unread, so a client can never vouch for its own
// certificate; its TLS handshake still counts. A nil log discards the
// warnings.
func TrustedProxy(proxies []netip.Prefix, header string, log *slog.Logger) func(http.Handler) http.Handler {
	if header == "" {
		header = DefaultHeader
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	proxies = append([]netip.Prefix(nil), proxies...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			values := r.Header.Values(header)
			if len(values) == 0 && len(proxies) == 0 {
				next.ServeHTTP(w, r)
				return
			}
			r.Header.Del(header)
			if !trusted(proxies, r.RemoteAddr) {
				next.ServeHTTP(w, r)
				return
			}
			var chain []*x509.Certificate
			if len(values) > 0 {
				var err error
				if chain, err = ParseHeader(values); err != nil {
					log.WarnContext(r.Context(), "ignoring malformed client certificate header from a trusted proxy",
						"header", header, "remote_addr", r.RemoteAddr, "err", err)
					chain = nil
				}
			}
			next.ServeHTTP(w, r.WithContext(WithChain(r.Context(), chain)))
		})
	}
}

// trusted reports whether remoteAddr, an http.Request's RemoteAddr, is
// in one of proxies.
func trusted(proxies []netip.Prefix, remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ParseHeader parses the values of a proxy's client certificate header:
// exactly one value holding one or more URL-encoded PEM CERTIFICATE
// blocks, the client certificate first. An empty value means the client
// sent no certificate and yields a nil chain.
func ParseHeader(values []string) ([]*x509.Certificate, error) {
	if len(values) != 1 {
		return nil, fmt.Errorf("%d header values, want one", len(values))
	}
	v := strings.TrimSpace(values[0])
	if v == "" {
		return nil, nil
	}
	// Path unescaping leaves "+" alone: base64's "+" survives a proxy
	// that does not escape it, where query unescaping would make it a
	// space.
	raw, err := url.PathUnescape(v)
	if err != nil {
		return nil, errors.New("not URL-encoded")
	}
	rest := []byte(raw)
	var chain []*x509.Certificate
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q, want CERTIFICATE", b.Type)
		}
		if len(chain) == maxChain {
			return nil, fmt.Errorf("more than %d certificates", maxChain)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("trailing data after the PEM certificates")
	}
	return chain, nil
}

// ParsePrefixes parses CIDRs, and bare addresses as single-address
// prefixes, for TrustedProxy.
func ParsePrefixes(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		errs = append(errs, fmt.Errorf("%q is not a CIDR or an IP address", s))
	}
	return out, errors.Join(errs...)
}
