package clientauth_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/clientauth"
	"github.com/backchannel/backchannel/mtls"
	"github.com/backchannel/backchannel/mtls/mtlstest"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

const (
	mtlsNoClientID = "client_id is required when authenticating with a client certificate (RFC 8705 §2)"
	clientDN       = "CN=client-one,O=Example Bank,C=BR"
)

// tlsEnv is an env whose Authenticator trusts ca for tls_client_auth, with
// mutual TLS clients registered:
//
//	tls-dn          tls_client_auth, subject DN clientDN
//	tls-dn-folded   tls_client_auth, clientDN in another case and spacing
//	tls-dns         tls_client_auth, SAN DNS client.example.com
//	tls-uri         tls_client_auth, SAN URI https://client.example.com/rp
//	tls-ip          tls_client_auth, SAN IP 2001:db8::1
//	tls-email       tls_client_auth, SAN email rp@EXAMPLE.com
//	tls-two-names   tls_client_auth with a DN and a DNS name (invalid)
//	tls-no-name     tls_client_auth with no name (invalid)
//	self            self_signed_tls_client_auth, the key of selfCert
//	self-rotated    self_signed_tls_client_auth whose cached keys are stale
//	self-broken     self_signed_tls_client_auth whose keys cannot be loaded
//
// The store also finds tls-dn as TLS-DN, as a case-insensitive backend
// would.
//
// good carries all the names above and chains to ca through an
// intermediate; the other certificates each break one rule.
type tlsEnv struct {
	*env
	ca                                    *mtlstest.CA
	good, leafOnly, otherCA, serverEKU    tls.Certificate
	expired, otherDN, selfCert, selfOther tls.Certificate
	selfNew                               tls.Certificate
}

func newTLSEnv(t *testing.T, endpoint string) *tlsEnv {
	t.Helper()
	e := &tlsEnv{env: newEnv(t, endpoint), ca: mtlstest.NewCA(t, "Client CA")}
	inter := e.ca.Intermediate(t, "Client Issuing CA")
	valid := func(c *x509.Certificate) *x509.Certificate {
		c.NotBefore, c.NotAfter = e.now.Add(-time.Hour), e.now.Add(time.Hour)
		return c
	}
	named := func() *x509.Certificate {
		u, _ := url.Parse("https://client.example.com/rp")
		return valid(&x509.Certificate{
			Subject:        pkix.Name{CommonName: "client-one", Organization: []string{"Example Bank"}, Country: []string{"BR"}},
			DNSNames:       []string{"other.example.com", "Client.Example.Com"},
			URIs:           []*url.URL{u},
			IPAddresses:    []net.IP{net.ParseIP("192.0.2.9"), net.ParseIP("2001:db8:0:0::1")},
			EmailAddresses: []string{"rp@example.com"},
		})
	}
	e.good = inter.Issue(t, named())
	e.leafOnly = tls.Certificate{Certificate: e.good.Certificate[:1], PrivateKey: e.good.PrivateKey}
	e.otherCA = mtlstest.NewCA(t, "Client CA").Issue(t, named())
	serverEKU := named()
	serverEKU.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	e.serverEKU = inter.Issue(t, serverEKU)
	expired := named()
	expired.NotBefore, expired.NotAfter = e.now.Add(-48*time.Hour), e.now.Add(-24*time.Hour)
	e.expired = inter.Issue(t, expired)
	e.otherDN = inter.Issue(t, valid(&x509.Certificate{Subject: pkix.Name{CommonName: "client-two", Organization: []string{"Example Bank"}, Country: []string{"BR"}}}))
	e.selfCert = mtlstest.SelfSigned(t, named())
	e.selfOther = mtlstest.SelfSigned(t, named())
	e.selfNew = mtlstest.SelfSigned(t, named())

	for _, c := range []store.Client{
		{ID: "tls-dn", TokenEndpointAuthMethod: oauth.AuthTLS, TLSClientAuthSubjectDN: clientDN},
		{ID: "tls-dn-folded", TokenEndpointAuthMethod: oauth.AuthTLS, TLSClientAuthSubjectDN: "cn = Client-One , o=EXAMPLE  BANK,c=br"},
		{ID: "tls-dns", TokenEndpointAuthMethod: oauth.AuthTLS, TLSClientAuthSANDNS: "client.example.com"},
		{ID: "tls-uri", TokenEndpointAuthMethod: oauth.AuthTLS, TLSClientAuthSANURI: "https://client.example.com/rp"},
		{ID: "tls-ip", TokenEndpointAuthMethod: oauth.AuthTLS, TLSClientAuthSANIP: "2001:db8::1"},
		{ID: "tls-email", TokenEndpointAuthMethod: oauth.AuthTLS, TLSClientAuthSANEmail: "rp@EXAMPLE.com"},
		{ID: "tls-two-names", TokenEndpointAuthMethod: oauth.AuthTLS, TLSClientAuthSubjectDN: clientDN, TLSClientAuthSANDNS: "client.example.com"},
		{ID: "tls-no-name", TokenEndpointAuthMethod: oauth.AuthTLS},
		{ID: "self", TokenEndpointAuthMethod: oauth.AuthSelfSignedTLS},
		{ID: "self-rotated", TokenEndpointAuthMethod: oauth.AuthSelfSignedTLS},
		{ID: "self-broken", TokenEndpointAuthMethod: oauth.AuthSelfSignedTLS},
	} {
		e.store.clients[c.ID] = c
	}
	e.store.clients["TLS-DN"] = e.store.clients["tls-dn"]
	set := func(certs ...tls.Certificate) *jose.JSONWebKeySet {
		s := &jose.JSONWebKeySet{}
		for _, c := range certs {
			s.Keys = append(s.Keys, jose.JSONWebKey{Key: c.Leaf.PublicKey, KeyID: mtls.Thumbprint(c.Leaf), Use: "sig"})
		}
		return s
	}
	keys := func(refreshed bool) func(context.Context, store.Client) (*jose.JSONWebKeySet, error) {
		return func(_ context.Context, c store.Client) (*jose.JSONWebKeySet, error) {
			switch {
			case c.ID == "self":
				// The encryption key never authenticates.
				s := set(e.selfCert)
				s.Keys = append(s.Keys, jose.JSONWebKey{Key: e.selfOther.Leaf.PublicKey, KeyID: "enc", Use: "enc"})
				return s, nil
			case c.ID == "self-rotated" && refreshed:
				return set(e.selfCert, e.selfNew), nil
			case c.ID == "self-rotated":
				return set(e.selfCert), nil
			}
			return nil, errors.New("jwks_uri unreachable")
		}
	}
	e.auth.Keys = fakeKeys{keys: keys(false), refresh: keys(true)}
	e.auth.ClientCAs = e.ca.Pool()
	return e
}

// serveTLS serves the Authenticator of newEnvAt's env over TLS, asking
// for client certificates; wrap, if set, wraps the handler.
func serveTLS[E any](t *testing.T, newEnvAt func(endpoint string) E, auth func(E) *clientauth.Authenticator, wrap func(http.Handler) http.Handler) (*httptest.Server, E, func() error) {
	t.Helper()
	var (
		mu   sync.Mutex
		last error
		e    E
	)
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, err := oauth.ParseForm(w, r)
		var c store.Client
		if err == nil {
			c, err = auth(e).Authenticate(r, form, "")
		}
		mu.Lock()
		last = err
		mu.Unlock()
		var oe *oauth.Error
		switch {
		case err == nil:
			oauth.WriteJSON(w, http.StatusOK, map[string]string{"client_id": c.ID})
		case errors.As(err, &oe):
			oauth.WriteError(w, oe)
		default:
			http.Error(w, "server error", http.StatusInternalServerError)
		}
	})
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewUnstartedServer(h)
	e = newEnvAt("https://" + srv.Listener.Addr().String() + "/token")
	mtlstest.StartTLS(srv)
	t.Cleanup(srv.Close)
	return srv, e, func() error {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// postWith posts req with client hc.
func postWith(t *testing.T, hc *http.Client, endpoint string, req request, header http.Header) response {
	t.Helper()
	hr, err := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint, strings.NewReader(req.form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vs := range header {
		hr.Header[k] = vs
	}
	for _, a := range req.authz {
		hr.Header.Add("Authorization", a)
	}
	resp, err := hc.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error       oauth.Code `json:"error"`
		Description string     `json:"error_description"`
		ClientID    string     `json:"client_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode response (status %d): %v", resp.StatusCode, err)
	}
	return response{status: resp.StatusCode, code: body.Error, desc: body.Description, clientID: body.ClientID, wwwAuth: resp.Header.Get("WWW-Authenticate")}
}

func TestAuthenticateMutualTLS(t *testing.T) {
	srv, e, lastErr := serveTLS(t, func(endpoint string) *tlsEnv { return newTLSEnv(t, endpoint) },
		func(e *tlsEnv) *clientauth.Authenticator { return e.auth }, nil)

	ok := func(id string) response { return response{status: http.StatusOK, clientID: id} }
	invalidClient := func(desc string) response {
		return response{status: http.StatusUnauthorized, code: oauth.InvalidClient, desc: desc, wwwAuth: `Basic realm="backchannel"`}
	}
	id := func(client string) request { return request{form: url.Values{"client_id": {client}}} }

	tests := []struct {
		name  string
		cert  *tls.Certificate
		req   request
		want  response
		cause string // in the error Authenticate returned
	}{
		// tls_client_auth (RFC 8705 §2.1), one registered name each.
		{"subject DN", &e.good, id("tls-dn"), ok("tls-dn"), ""},
		{"subject DN in another case and spacing", &e.good, id("tls-dn-folded"), ok("tls-dn-folded"), ""},
		{"SAN DNS, case-insensitive", &e.good, id("tls-dns"), ok("tls-dns"), ""},
		{"SAN URI", &e.good, id("tls-uri"), ok("tls-uri"), ""},
		{"SAN IP in another notation", &e.good, id("tls-ip"), ok("tls-ip"), ""},
		{"SAN email, domain case-insensitive", &e.good, id("tls-email"), ok("tls-email"), ""},
		{"subject DN mismatch", &e.otherDN, id("tls-dn"), invalidClient(failed), "lacks the registered tls_client_auth_subject_dn"},
		{"SAN DNS missing", &e.otherDN, id("tls-dns"), invalidClient(failed), "lacks the registered tls_client_auth_san_dns"},
		{"SAN URI missing", &e.otherDN, id("tls-uri"), invalidClient(failed), "lacks the registered tls_client_auth_san_uri"},
		{"SAN IP missing", &e.otherDN, id("tls-ip"), invalidClient(failed), "lacks the registered tls_client_auth_san_ip"},
		{"SAN email missing", &e.otherDN, id("tls-email"), invalidClient(failed), "lacks the registered tls_client_auth_san_email"},
		{"two registered names", &e.good, id("tls-two-names"), invalidClient(failed), "2 certificate names registered"},
		{"no registered name", &e.good, id("tls-no-name"), invalidClient(failed), "0 certificate names registered"},
		{"certificate of another CA", &e.otherCA, id("tls-dn"), invalidClient(failed), "unknown authority"},
		{"intermediate not sent", &e.leafOnly, id("tls-dn"), invalidClient(failed), "unknown authority"},
		{"server-only extended key usage", &e.serverEKU, id("tls-dn"), invalidClient(failed), "incompatible key usage"},
		{"expired certificate", &e.expired, id("tls-dn"), invalidClient(failed), "expired"},
		{"self-signed certificate for tls_client_auth", &e.selfCert, id("tls-dn"), invalidClient(failed), "unknown authority"},

		// self_signed_tls_client_auth (RFC 8705 §2.2).
		{"self-signed", &e.selfCert, id("self"), ok("self"), ""},
		{"self-signed with an unregistered key", &e.selfNew, id("self"), invalidClient(failed), "is not registered"},
		{"self-signed with a key registered for encryption", &e.selfOther, id("self"), invalidClient(failed), "is not registered"},
		{"self-signed with a key added since the keys were cached", &e.selfNew, id("self-rotated"), ok("self-rotated"), ""},
		{"self-signed whose keys cannot be loaded", &e.selfCert, id("self-broken"), invalidClient(failed), "jwks_uri unreachable"},
		{"CA-issued certificate whose key is not registered", &e.good, id("self"), invalidClient(failed), "is not registered"},

		// RFC 8705 §2: the client_id names the client.
		{"certificate without client_id", &e.good, request{form: url.Values{}}, invalidClient(mtlsNoClientID), "without client_id"},
		{"no certificate", nil, id("tls-dn"), invalidClient(required), ""},
		{"no certificate for a self-signed client", nil, id("self"), invalidClient(required), ""},
		{"unknown client", &e.good, id("no-such-client"), invalidClient(failed), "not found"},
		{"client registered for another method", &e.good, id("basic-client"), invalidClient(failed), "registered for client_secret_basic"},
		{"client_id found as another case", &e.good, id("TLS-DN"), invalidClient(failed), `found as`},

		// A certificate next to other credentials is for token binding
		// only (RFC 8705 §3): the other method decides.
		{"certificate with Basic credentials", &e.good, request{authz: []string{basic("basic-client", basicSecret)}}, ok("basic-client"), ""},
		{"mutual TLS client using Basic", &e.good, request{authz: []string{basic("tls-dn", "guess")}}, invalidClient(failed), "registered for tls_client_auth"},
		{"mutual TLS client using client_secret_post", &e.good, request{form: url.Values{"client_id": {"tls-dn"}, "client_secret": {"guess"}}}, invalidClient(failed), "registered for tls_client_auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var certs []tls.Certificate
			if tt.cert != nil {
				certs = append(certs, *tt.cert)
			}
			got := postWith(t, mtlstest.Client(srv, certs...), srv.URL+"/token", tt.req, nil)
			if got != tt.want {
				t.Errorf("Authenticate = %+v, want %+v (cause: %v)", got, tt.want, lastErr())
			}
			if tt.cause != "" && (lastErr() == nil || !strings.Contains(lastErr().Error(), tt.cause)) {
				t.Errorf("Authenticate error = %v, want it to mention %q", lastErr(), tt.cause)
			}
		})
	}
}

// TestAuthenticateMutualTLSWithoutCAs: with no client CAs configured,
// tls_client_auth fails and self_signed_tls_client_auth still works.
func TestAuthenticateMutualTLSWithoutCAs(t *testing.T) {
	srv, e, lastErr := serveTLS(t, func(endpoint string) *tlsEnv {
		e := newTLSEnv(t, endpoint)
		e.auth.ClientCAs = nil
		return e
	}, func(e *tlsEnv) *clientauth.Authenticator { return e.auth }, nil)
	got := postWith(t, mtlstest.Client(srv, e.good), srv.URL, request{form: url.Values{"client_id": {"tls-dn"}}}, nil)
	if got.status != http.StatusUnauthorized || got.code != oauth.InvalidClient || !strings.Contains(lastErr().Error(), "no client CAs") {
		t.Errorf("tls_client_auth without CAs = %+v (%v), want 401 invalid_client for want of CAs", got, lastErr())
	}
	got = postWith(t, mtlstest.Client(srv, e.selfCert), srv.URL, request{form: url.Values{"client_id": {"self"}}}, nil)
	if got.status != http.StatusOK || got.clientID != "self" {
		t.Errorf("self_signed_tls_client_auth without CAs = %+v (%v), want 200 self", got, lastErr())
	}
}

// TestAuthenticateMutualTLSBehindProxy authenticates with the certificate
// a trusted proxy passed on, and never with one an untrusted peer claims.
func TestAuthenticateMutualTLSBehindProxy(t *testing.T) {
	for _, tt := range []struct {
		name    string
		proxies []netip.Prefix
		want    response
	}{
		{"trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, response{status: http.StatusOK, clientID: "tls-dn"}},
		{"untrusted peer", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, response{status: http.StatusUnauthorized, code: oauth.InvalidClient, desc: failed, wwwAuth: `Basic realm="backchannel"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, e, lastErr := serveTLS(t, func(endpoint string) *tlsEnv { return newTLSEnv(t, endpoint) },
				func(e *tlsEnv) *clientauth.Authenticator { return e.auth }, mtls.TrustedProxy(tt.proxies, "", nil))
			header := http.Header{"X-Client-Cert": {url.PathEscape(pemChain(e.good))}}
			// The peer presents a certificate of its own over TLS: from
			// a trusted proxy it is the proxy's and does not count; from
			// any other peer it is the only one that counts.
			got := postWith(t, mtlstest.Client(srv, e.selfCert), srv.URL, request{form: url.Values{"client_id": {"tls-dn"}}}, header)
			if got != tt.want {
				t.Errorf("Authenticate = %+v, want %+v (cause: %v)", got, tt.want, lastErr())
			}
		})
	}
}

// pemChain is c's chain in PEM, leaf first.
func pemChain(c tls.Certificate) string {
	var b strings.Builder
	for _, der := range c.Certificate {
		cert, _ := x509.ParseCertificate(der)
		b.Write(mtlstest.PEM(cert))
	}
	return b.String()
}
