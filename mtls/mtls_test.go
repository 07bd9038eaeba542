package mtls_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/mtls"
	"github.com/backchannel/backchannel/mtls/mtlstest"
)

// TestCertificateOverTLS reads the certificate of a real TLS handshake,
// and checks that a context value overrides it.
func TestCertificateOverTLS(t *testing.T) {
	ca := mtlstest.NewCA(t, "Test CA")
	inter := ca.Intermediate(t, "Test Intermediate")
	client := inter.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "client"}})
	other := mtlstest.SelfSigned(t, &x509.Certificate{Subject: pkix.Name{CommonName: "other"}})

	type seen struct {
		Leaf  string
		Chain int
	}
	var got seen
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = seen{}
		if r.URL.Query().Has("override") {
			r = r.WithContext(mtls.WithCertificate(r.Context(), other.Leaf))
		}
		if r.URL.Query().Has("none") {
			r = r.WithContext(mtls.WithCertificate(r.Context(), nil))
		}
		if c := mtls.Certificate(r); c != nil {
			got.Leaf = c.Subject.CommonName
		}
		got.Chain = len(mtls.Chain(r))
	}))
	mtlstest.StartTLS(srv)
	t.Cleanup(srv.Close)

	tests := []struct {
		name  string
		certs []tls.Certificate
		query string
		want  seen
	}{
		{"no certificate", nil, "", seen{}},
		{"leaf and intermediate", []tls.Certificate{client}, "", seen{"client", 2}},
		{"context overrides the handshake", []tls.Certificate{client}, "?override", seen{"other", 1}},
		{"explicit none overrides the handshake", []tls.Certificate{client}, "?none", seen{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := mtlstest.Client(srv, tt.certs...).Get(srv.URL + "/" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("certificate seen (-want +got):\n%s", diff)
			}
		})
	}
}

func TestThumbprint(t *testing.T) {
	// RFC 8705 §3.1: base64url (no padding) of SHA-256 of the DER.
	cert := &x509.Certificate{Raw: []byte("abc")}
	// SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad
	if got, want := mtls.Thumbprint(cert), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"; got != want {
		t.Errorf("Thumbprint = %q, want %q", got, want)
	}
}

func TestTrustedProxy(t *testing.T) {
	ca := mtlstest.NewCA(t, "Test CA")
	inter := ca.Intermediate(t, "Test Intermediate")
	client := inter.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "client"}})
	leafPEM := string(mtlstest.PEM(client.Leaf))
	chainPEM := leafPEM + string(mtlstest.PEM(inter.Cert))
	// nginx's $ssl_client_escaped_cert escapes newlines, "+", "/" and
	// "=" but not "-" or letters.
	escaped := url.PathEscape(leafPEM)
	// Some proxies leave base64's "+", "/" and "=" as they are.
	lightly := strings.NewReplacer("\n", "%0A", " ", "%20").Replace(leafPEM)

	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}

	type result struct {
		Leaf   string // CN of the certificate the handler saw
		Chain  int
		Header string // the header as the handler saw it
		Warned bool
	}
	tests := []struct {
		name    string
		remote  string
		headers []string // values of X-Client-Cert
		tlsCert bool     // the connection itself presented a certificate
		want    result
	}{
		{"trusted proxy, escaped PEM", "10.1.2.3:5000", []string{escaped}, false, result{Leaf: "client", Chain: 1}},
		{"trusted proxy, lightly escaped PEM", "10.1.2.3:5000", []string{lightly}, false, result{Leaf: "client", Chain: 1}},
		{"trusted proxy, chain", "10.1.2.3:5000", []string{url.PathEscape(chainPEM)}, false, result{Leaf: "client", Chain: 2}},
		{"trusted IPv6 proxy", "[fd00::1]:443", []string{escaped}, false, result{Leaf: "client", Chain: 1}},
		{"trusted proxy as IPv4-mapped IPv6", "[::ffff:10.0.0.7]:443", []string{escaped}, false, result{Leaf: "client", Chain: 1}},
		{"trusted proxy, no header: no certificate", "10.1.2.3:5000", nil, false, result{}},
		{"trusted proxy, empty header: no certificate", "10.1.2.3:5000", []string{""}, false, result{}},
		{"trusted proxy, no header: its own TLS certificate is not the client's", "10.1.2.3:5000", nil, true, result{}},
		{"trusted proxy, malformed header", "10.1.2.3:5000", []string{"not a certificate"}, false, result{Warned: true}},
		{"trusted proxy, bad escaping", "10.1.2.3:5000", []string{"%zz"}, false, result{Warned: true}},
		{"trusted proxy, two headers", "10.1.2.3:5000", []string{escaped, escaped}, false, result{Warned: true}},
		{"trusted proxy, a private key instead", "10.1.2.3:5000", []string{url.PathEscape("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")}, false, result{Warned: true}},
		{"trusted proxy, garbage after the PEM", "10.1.2.3:5000", []string{escaped + "junk"}, false, result{Warned: true}},
		{"trusted proxy, corrupt DER", "10.1.2.3:5000", []string{url.PathEscape("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")}, false, result{Warned: true}},
		{"untrusted peer: header ignored and removed", "192.0.2.1:5000", []string{escaped}, false, result{}},
		{"untrusted peer: its TLS certificate counts", "192.0.2.1:5000", []string{escaped}, true, result{Leaf: "direct", Chain: 1}},
		{"untrusted loopback peer", "127.0.0.1:5000", []string{escaped}, false, result{}},
		{"unparsable remote address", "somewhere", []string{escaped}, false, result{}},
	}
	direct := mtlstest.SelfSigned(t, &x509.Certificate{Subject: pkix.Name{CommonName: "direct"}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			var got result
			h := mtls.TrustedProxy(proxies, "", log)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if c := mtls.Certificate(r); c != nil {
					got.Leaf = c.Subject.CommonName
				}
				got.Chain = len(mtls.Chain(r))
				got.Header = r.Header.Get("X-Client-Cert")
				w.WriteHeader(http.StatusNoContent)
			}))
			r := httptest.NewRequest(http.MethodGet, "https://op.example/token", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.headers {
				r.Header.Add("X-Client-Cert", v)
			}
			if tt.tlsCert {
				r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{direct.Leaf}}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got.Warned = strings.Contains(logs.String(), "level=WARN")
			if w.Code != http.StatusNoContent {
				t.Errorf("status = %d, want %d", w.Code, http.StatusNoContent)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("TrustedProxy (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrustedProxyCustomHeader(t *testing.T) {
	client := mtlstest.SelfSigned(t, &x509.Certificate{Subject: pkix.Name{CommonName: "client"}})
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}
	var got string
	var leaked []string
	h := mtls.TrustedProxy(proxies, "Ssl-Client-Cert", nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = ""
		if c := mtls.Certificate(r); c != nil {
			got = c.Subject.CommonName
		}
		leaked = r.Header.Values("Ssl-Client-Cert")
	}))
	for _, tt := range []struct {
		remote, header, want string
	}{
		{"10.0.0.1:1234", "Ssl-Client-Cert", "client"},
		{"10.0.0.1:1234", "X-Client-Cert", ""}, // not the configured header
		{"10.0.0.2:1234", "Ssl-Client-Cert", ""},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tt.remote
		r.Header.Set(tt.header, url.PathEscape(string(mtlstest.PEM(client.Leaf))))
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got != tt.want {
			t.Errorf("from %s with %s: certificate %q, want %q", tt.remote, tt.header, got, tt.want)
		}
		if len(leaked) > 0 {
			t.Errorf("from %s with %s: handler saw the header %q", tt.remote, tt.header, leaked)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := mtls.ParsePrefixes([]string{"10.0.0.0/8", " 192.0.2.7 ", "fd00::/8", "::1", "10.1.2.3/8", ""})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("fd00::/8"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("10.0.0.0/8"),
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("ParsePrefixes (-want +got):\n%s", diff)
	}
	_, err = mtls.ParsePrefixes([]string{"10.0.0.0/33", "proxy.example"})
	if err == nil || !strings.Contains(err.Error(), `"10.0.0.0/33"`) || !strings.Contains(err.Error(), `"proxy.example"`) {
		t.Errorf("ParsePrefixes(bad) = %v, want both named", err)
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(url.PathEscape("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add("%zz")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		chain, err := mtls.ParseHeader([]string{v})
		if err == nil && len(chain) > 8 {
			t.Errorf("ParseHeader returned %d certificates", len(chain))
		}
	})
}
