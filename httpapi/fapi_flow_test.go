package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/mtls"
	"github.com/backchannel/backchannel/mtls/mtlstest"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/token"
)

// fapiRP is a FAPI-CIBA relying party: a request-signing key, a client
// certificate, and the client library configured with both.
type fapiRP struct {
	rp   *client.Client
	key  *ecdsa.PrivateKey
	cert tls.Certificate
	http *http.Client
}

// newFAPIRP registers a FAPI-CIBA client in s's store with method
// (private_key_jwt or tls_client_auth) and mode, and returns its party.
func newFAPIRP(t *testing.T, s *testServer, ca *mtlstest.CA, id, method string, mode store.DeliveryMode, endpoint string) *fapiRP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "rp", Algorithm: "ES256", Use: "sig"}}})
	cert := ca.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: id, Organization: []string{"Example Bank"}}})
	c := store.Client{
		ID: id, Name: "Bank " + id, GrantTypes: []string{cibaGrant}, JWKS: jwks, Profile: "fapi-ciba",
		TokenEndpointAuthMethod: method, TokenEndpointAuthSigningAlg: "ES256", RequestSigningAlg: "ES256",
		IDTokenSignedResponseAlg: "ES256", CertificateBoundAccessTokens: true,
		DeliveryMode: mode, NotificationEndpoint: endpoint, CreatedAt: s.clock.Now(),
	}
	if method == "tls_client_auth" {
		c.TLSClientAuthSubjectDN = "CN=" + id + ",O=Example Bank"
	}
	if err := s.store.CreateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	hc := mtlstest.Client(s.Server, cert)
	cfg := client.Config{Issuer: s.URL, ClientID: id, AuthMethod: method, PrivateKey: key, KeyID: "rp", HTTPClient: hc}
	rp, err := client.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fapiRP{rp: rp, key: key, cert: cert, http: hc}
}

// start sends a signed FAPI request and approves it on dev.
func (f *fapiRP) start(t *testing.T, extra client.AuthRequest) client.Started {
	t.Helper()
	extra.LoginHint, extra.BindingMessage = "u1", "Transfer 42 EUR"
	ro, err := f.rp.RequestObject(extra, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	started, err := f.rp.Initiate(t.Context(), client.AuthRequest{Request: ro})
	if err != nil {
		t.Fatalf("Initiate: %v", err)
	}
	return started
}

// userinfo calls userinfo with tok over hc.
func userinfo(t *testing.T, s *testServer, hc *http.Client, tok string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestFAPIFlows: FAPI-CIBA clients with private_key_jwt (poll) and
// tls_client_auth (ping) complete their flows over mutual TLS and receive
// certificate-bound tokens that work only with their certificate.
func TestFAPIFlows(t *testing.T) {
	ca := mtlstest.NewCA(t, "Test Client CA")
	s := startTestServer(t, testOptions{tls: true, clientCAs: ca.Pool(), notify: true})
	s.createUser(map[string]any{"sub": "u1", "email": "u1@example.jp"})
	dev := s.enrolDevice("u1")
	approve := func() {
		t.Helper()
		p, err := dev.Pending(t.Context())
		if err != nil || len(p) != 1 {
			t.Fatalf("Pending = %v, %v", p, err)
		}
		if err := dev.Decide(t.Context(), p[0], true); err != nil {
			t.Fatal(err)
		}
	}
	checkBound := func(t *testing.T, f *fapiRP, tok *client.Tokens) {
		t.Helper()
		if tok.Claims == nil || tok.Claims.Subject != "u1" {
			t.Errorf("ID token claims = %+v", tok.Claims)
		}
		if got := userinfo(t, s, f.http, tok.AccessToken); got != http.StatusOK {
			t.Errorf("userinfo with the client's certificate = %d, want 200", got)
		}
		if got := userinfo(t, s, mtlstest.Client(s.Server), tok.AccessToken); got != http.StatusUnauthorized {
			t.Errorf("userinfo without a certificate = %d, want 401", got)
		}
		other := ca.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "thief"}})
		if got := userinfo(t, s, mtlstest.Client(s.Server, other), tok.AccessToken); got != http.StatusUnauthorized {
			t.Errorf("userinfo with another certificate = %d, want 401", got)
		}
		stored, err := s.store.Token(t.Context(), token.Hash(tok.AccessToken))
		if err != nil {
			t.Fatal(err)
		}
		if want := mtls.Thumbprint(f.cert.Leaf); stored.X5TS256 != want {
			t.Errorf("token bound to %q, want the client certificate's %q", stored.X5TS256, want)
		}
	}

	t.Run("private_key_jwt, poll", func(t *testing.T) {
		f := newFAPIRP(t, s, ca, "bank-poll", "private_key_jwt", store.Poll, "")
		started := f.start(t, client.AuthRequest{})
		approve()
		tok, err := f.rp.Poll(t.Context(), started)
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		checkBound(t, f, tok)
	})
	t.Run("tls_client_auth, ping", func(t *testing.T) {
		rc := newReceiver(t, 0)
		f := newFAPIRP(t, s, ca, "bank-ping", "tls_client_auth", store.Ping, rc.URL+"/cb")
		started := f.start(t, client.AuthRequest{ClientNotificationToken: notifyToken})
		approve()
		if n := rc.wait(t); n.body["auth_req_id"] != started.AuthReqID {
			t.Fatalf("ping = %v", n.body)
		}
		tok, err := f.rp.Token(t.Context(), started.AuthReqID)
		if err != nil {
			t.Fatalf("Token after ping: %v", err)
		}
		checkBound(t, f, tok)
	})
	t.Run("token request without a certificate", func(t *testing.T) {
		f := newFAPIRP(t, s, ca, "bank-nocert", "private_key_jwt", store.Poll, "")
		started := f.start(t, client.AuthRequest{})
		approve()
		bare, err := client.New(t.Context(), client.Config{Issuer: s.URL, ClientID: "bank-nocert", AuthMethod: client.AuthPrivateKey, PrivateKey: f.key, KeyID: "rp", HTTPClient: mtlstest.Client(s.Server)})
		if err != nil {
			t.Fatal(err)
		}
		s.clock.Advance(5 * time.Second)
		_, err = bare.Token(t.Context(), started.AuthReqID)
		wantClientError(t, err, http.StatusBadRequest, "invalid_request")
	})
	t.Run("tls_client_auth with the wrong certificate", func(t *testing.T) {
		rc := newReceiver(t, 0)
		f := newFAPIRP(t, s, ca, "bank-dn", "tls_client_auth", store.Ping, rc.URL)
		other := ca.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "someone-else", Organization: []string{"Example Bank"}}})
		rp, err := client.New(t.Context(), client.Config{Issuer: s.URL, ClientID: "bank-dn", AuthMethod: client.AuthTLS, PrivateKey: f.key, KeyID: "rp", HTTPClient: mtlstest.Client(s.Server, other)})
		if err != nil {
			t.Fatal(err)
		}
		ro, _ := rp.RequestObject(client.AuthRequest{LoginHint: "u1", BindingMessage: "x", ClientNotificationToken: notifyToken}, time.Minute)
		_, err = rp.Initiate(t.Context(), client.AuthRequest{Request: ro})
		wantClientError(t, err, http.StatusUnauthorized, "invalid_client")
	})
}
