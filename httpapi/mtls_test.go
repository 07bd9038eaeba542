package httpapi_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/mtls"
	"github.com/backchannel/backchannel/mtls/mtlstest"
)

// postWithCert posts form to path presenting cert (none when nil), with
// no other client credentials.
func (s *testServer) postWithCert(path string, form url.Values, cert *tls.Certificate) response {
	s.t.Helper()
	var certs []tls.Certificate
	if cert != nil {
		certs = append(certs, *cert)
	}
	resp, err := mtlstest.Client(s.Server, certs...).PostForm(s.URL+path, form)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(b, &r.body); err != nil {
		s.t.Fatalf("POST %s: body %q is not JSON", path, b)
	}
	return r
}

func (s *testServer) discovery() map[string]any {
	s.t.Helper()
	resp, err := s.Client().Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		s.t.Fatal(err)
	}
	return m
}

// TestDiscoveryMutualTLS: the RFC 8705 metadata appears only when the
// server sees client certificates.
func TestDiscoveryMutualTLS(t *testing.T) {
	type mtlsMeta struct {
		Methods      []string          `json:"token_endpoint_auth_methods_supported"`
		Introspect   []string          `json:"introspection_endpoint_auth_methods_supported"`
		Revoke       []string          `json:"revocation_endpoint_auth_methods_supported"`
		CertBound    bool              `json:"tls_client_certificate_bound_access_tokens"`
		Aliases      map[string]string `json:"mtls_endpoint_aliases"`
		Token        string            `json:"token_endpoint"`
		Backchannel  string            `json:"backchannel_authentication_endpoint"`
		UserInfo     string            `json:"userinfo_endpoint"`
		Introspecter string            `json:"introspection_endpoint"`
		Revocation   string            `json:"revocation_endpoint"`
	}
	read := func(s *testServer) mtlsMeta {
		b, _ := json.Marshal(s.discovery())
		var m mtlsMeta
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}

	plain := read(startTestServer(t, testOptions{}))
	for _, list := range [][]string{plain.Methods, plain.Introspect, plain.Revoke} {
		if slices.Contains(list, "tls_client_auth") || slices.Contains(list, "self_signed_tls_client_auth") {
			t.Errorf("plain HTTP server lists mutual TLS methods: %v", list)
		}
	}
	if plain.CertBound || plain.Aliases != nil {
		t.Errorf("plain HTTP server: tls_client_certificate_bound_access_tokens %v, mtls_endpoint_aliases %v; want false and absent", plain.CertBound, plain.Aliases)
	}

	m := read(startTestServer(t, testOptions{tls: true}))
	for _, list := range [][]string{m.Methods, m.Introspect, m.Revoke} {
		if !slices.Contains(list, "tls_client_auth") || !slices.Contains(list, "self_signed_tls_client_auth") {
			t.Errorf("TLS server auth methods = %v, want the mutual TLS methods", list)
		}
	}
	if !m.CertBound {
		t.Error("TLS server: tls_client_certificate_bound_access_tokens = false, want true")
	}
	// RFC 8705 §5: without a listener of their own, the aliases are the
	// normal endpoints.
	want := map[string]string{
		"token_endpoint":                      m.Token,
		"backchannel_authentication_endpoint": m.Backchannel,
		"userinfo_endpoint":                   m.UserInfo,
		"introspection_endpoint":              m.Introspecter,
		"revocation_endpoint":                 m.Revocation,
	}
	if diff := cmp.Diff(want, m.Aliases); diff != "" {
		t.Errorf("mtls_endpoint_aliases (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(m.Token, "https://") {
		t.Errorf("token_endpoint = %q, want https", m.Token)
	}
}

// TestMutualTLSClients registers tls_client_auth and
// self_signed_tls_client_auth clients through the admin API and runs a
// CIBA flow with each over TLS.
func TestMutualTLSClients(t *testing.T) {
	ca := mtlstest.NewCA(t, "Client CA")
	s := startTestServer(t, testOptions{tls: true, clientCAs: ca.Pool()})
	good := ca.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "rp-1", Organization: []string{"Example Bank"}}, DNSNames: []string{"rp.example.com"}})
	other := ca.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "rp-2", Organization: []string{"Example Bank"}}})
	self := mtlstest.SelfSigned(t, &x509.Certificate{Subject: pkix.Name{CommonName: "self-rp"}})
	selfOther := mtlstest.SelfSigned(t, &x509.Certificate{Subject: pkix.Name{CommonName: "self-rp"}})
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: self.Leaf.PublicKey, KeyID: mtls.Thumbprint(self.Leaf), Use: "sig"}}})

	wrongOrder := s.admin(http.MethodPost, "/clients", map[string]any{
		"grant_types":                []string{cibaGrant},
		"token_endpoint_auth_method": "tls_client_auth",
		"tls_client_auth_subject_dn": "O=Example Bank, CN=rp-1",
	}, http.StatusCreated)
	if wrongOrder["client_secret"] != nil {
		t.Errorf("tls_client_auth client got a client_secret")
	}
	if wrongOrder["tls_client_auth_subject_dn"] != "O=Example Bank, CN=rp-1" {
		t.Errorf("registered tls_client_auth_subject_dn = %v", wrongOrder["tls_client_auth_subject_dn"])
	}
	// The RFC 4514 string names the last RDN first: "O=…, CN=…" is not
	// the subject "CN=rp-1,O=Example Bank".
	dnClient := s.admin(http.MethodPost, "/clients", map[string]any{
		"grant_types":                []string{cibaGrant},
		"token_endpoint_auth_method": "tls_client_auth",
		"tls_client_auth_subject_dn": "cn=RP-1,o=example bank",
	}, http.StatusCreated)
	dnsClient := s.admin(http.MethodPost, "/clients", map[string]any{
		"grant_types":                []string{cibaGrant},
		"token_endpoint_auth_method": "tls_client_auth",
		"tls_client_auth_san_dns":    "rp.example.com",
	}, http.StatusCreated)
	if dnsClient["tls_client_auth_san_dns"] != "rp.example.com" {
		t.Errorf("registered tls_client_auth_san_dns = %v", dnsClient["tls_client_auth_san_dns"])
	}
	selfClient := s.admin(http.MethodPost, "/clients", map[string]any{
		"grant_types":                []string{cibaGrant},
		"token_endpoint_auth_method": "self_signed_tls_client_auth",
		"jwks":                       json.RawMessage(jwks),
	}, http.StatusCreated)
	s.createUser(map[string]any{"sub": "u1", "email": "hana@example.jp"})
	dev := s.enrolDevice("u1")

	start := func(clientID string) url.Values {
		return url.Values{"client_id": {clientID}, "scope": {"openid"}, "login_hint": {"u1"}}
	}
	tests := []struct {
		name     string
		clientID string
		cert     *tls.Certificate
		want     int
	}{
		{"subject DN", dnClient["client_id"].(string), &good, http.StatusOK},
		{"subject DN in the wrong order", wrongOrder["client_id"].(string), &good, http.StatusUnauthorized},
		{"SAN DNS", dnsClient["client_id"].(string), &good, http.StatusOK},
		{"SAN DNS missing", dnsClient["client_id"].(string), &other, http.StatusUnauthorized},
		{"subject DN of another certificate", dnClient["client_id"].(string), &other, http.StatusUnauthorized},
		{"no certificate", dnClient["client_id"].(string), nil, http.StatusUnauthorized},
		{"self-signed", selfClient["client_id"].(string), &self, http.StatusOK},
		{"self-signed with another key", selfClient["client_id"].(string), &selfOther, http.StatusUnauthorized},
		{"CA-issued certificate for a self-signed client", selfClient["client_id"].(string), &good, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.postWithCert("/bc-authorize", start(tt.clientID), tt.cert)
			if tt.want != http.StatusOK {
				wantError(t, r, http.StatusUnauthorized, "invalid_client")
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("bc-authorize = %d %v", r.status, r.body)
			}
			authReqID := r.str("auth_req_id")
			poll := url.Values{"client_id": {tt.clientID}, "grant_type": {cibaGrant}, "auth_req_id": {authReqID}}

			// The token endpoint authenticates the same way.
			wantError(t, s.postWithCert("/token", poll, nil), http.StatusUnauthorized, "invalid_client")
			s.clock.Advance(5 * time.Second)
			wantError(t, s.postWithCert("/token", poll, tt.cert), http.StatusBadRequest, "authorization_pending")

			pending, err := dev.Pending(t.Context())
			if err != nil || len(pending) != 1 {
				t.Fatalf("Pending = %d requests, %v; want 1", len(pending), err)
			}
			if err := dev.Decide(t.Context(), pending[0], true); err != nil {
				t.Fatal(err)
			}
			s.clock.Advance(5 * time.Second)
			if tok := s.postWithCert("/token", poll, tt.cert); tok.status != http.StatusOK || tok.str("access_token") == "" {
				t.Errorf("token = %d %v, want 200 with an access token", tok.status, tok.body)
			}
		})
	}
}

// TestMutualTLSRegistration: the RFC 8705 client metadata rules, each an
// invalid_client_metadata error of the admin API.
func TestMutualTLSRegistration(t *testing.T) {
	tlsServer := startTestServer(t, testOptions{tls: true})
	plain := startTestServer(t, testOptions{})
	base := map[string]any{"grant_types": []string{cibaGrant}}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		s    *testServer
		doc  map[string]any
		want string // in error_description
	}{
		{"tls_client_auth without mutual TLS", plain, with("token_endpoint_auth_method", "tls_client_auth", "tls_client_auth_san_dns", "rp.example.com"), "needs mutual TLS"},
		{"self_signed_tls_client_auth without mutual TLS", plain, with("token_endpoint_auth_method", "self_signed_tls_client_auth", "jwks_uri", "https://rp.example.com/jwks"), "needs mutual TLS"},
		{"tls_client_auth without a name", tlsServer, with("token_endpoint_auth_method", "tls_client_auth"), "exactly one of tls_client_auth_subject_dn"},
		{"tls_client_auth with two names", tlsServer, with("token_endpoint_auth_method", "tls_client_auth", "tls_client_auth_san_dns", "rp.example.com", "tls_client_auth_san_ip", "192.0.2.1"), "exactly one of"},
		{"bad subject DN", tlsServer, with("token_endpoint_auth_method", "tls_client_auth", "tls_client_auth_subject_dn", "rp-1"), "tls_client_auth_subject_dn is not an RFC 4514"},
		{"bad SAN DNS", tlsServer, with("token_endpoint_auth_method", "tls_client_auth", "tls_client_auth_san_dns", "rp example"), "tls_client_auth_san_dns is not a DNS name"},
		{"bad SAN URI", tlsServer, with("token_endpoint_auth_method", "tls_client_auth", "tls_client_auth_san_uri", "rp/path"), "tls_client_auth_san_uri is not an absolute URI"},
		{"bad SAN IP", tlsServer, with("token_endpoint_auth_method", "tls_client_auth", "tls_client_auth_san_ip", "192.0.2.300"), "tls_client_auth_san_ip is not an IPv4 or IPv6 address"},
		{"bad SAN email", tlsServer, with("token_endpoint_auth_method", "tls_client_auth", "tls_client_auth_san_email", "Alice <a@example.com>"), "tls_client_auth_san_email is not an email address"},
		{"names with another method", tlsServer, with("token_endpoint_auth_method", "client_secret_basic", "tls_client_auth_san_dns", "rp.example.com"), "only used with token_endpoint_auth_method tls_client_auth"},
		{"self_signed_tls_client_auth without keys", tlsServer, with("token_endpoint_auth_method", "self_signed_tls_client_auth"), "jwks or jwks_uri is required for self_signed_tls_client_auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.s.admin(http.MethodPost, "/clients", tt.doc, http.StatusBadRequest)
			if r["error"] != "invalid_client_metadata" || !strings.Contains(r["error_description"].(string), tt.want) {
				t.Errorf("create client = %v, want invalid_client_metadata mentioning %q", r, tt.want)
			}
		})
	}
	// Every name kind registers and comes back.
	for name, value := range map[string]string{
		"tls_client_auth_san_uri":   "spiffe://example.com/rp",
		"tls_client_auth_san_ip":    "2001:db8::1",
		"tls_client_auth_san_email": "rp@example.com",
	} {
		got := tlsServer.admin(http.MethodPost, "/clients", with("token_endpoint_auth_method", "tls_client_auth", name, value), http.StatusCreated)
		if got[name] != value {
			t.Errorf("registered %s = %v, want %q", name, got[name], value)
		}
	}
}
