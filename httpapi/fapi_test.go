package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/store"
)

// fapiClient is a FAPI-CIBA client registered in the store with
// private_key_jwt and an ES256 key (and an RS256 key, to prove it is
// refused).
type fapiClient struct {
	id  string
	ec  *ecdsa.PrivateKey
	rsa *rsa.PrivateKey
	rp  *client.Client
	s   *testServer
}

func newFAPIClient(t *testing.T, s *testServer, id string, c store.Client) *fapiClient {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &ec.PublicKey, KeyID: "ec", Algorithm: "ES256", Use: "sig"},
		{Key: &rk.PublicKey, KeyID: "rsa", Algorithm: "RS256", Use: "sig"},
	}}
	jwks, _ := json.Marshal(set)
	c.ID = id
	c.Name = "Bank " + id
	c.GrantTypes = []string{"urn:openid:params:grant-type:ciba"}
	c.JWKS = jwks
	c.Profile = "fapi-ciba"
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = "private_key_jwt"
	}
	if c.DeliveryMode == "" {
		c.DeliveryMode = store.Poll
	}
	c.CreatedAt = s.clock.Now()
	if err := s.store.CreateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	rp, err := client.New(t.Context(), client.Config{Issuer: s.URL, ClientID: id, AuthMethod: client.AuthPrivateKey, PrivateKey: ec, KeyID: "ec", HTTPClient: s.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return &fapiClient{id: id, ec: ec, rsa: rk, rp: rp, s: s}
}

// requestObject signs claims (defaults overridden by change; nil deletes).
func (f *fapiClient) requestObject(t *testing.T, alg jose.SignatureAlgorithm, change map[string]any) string {
	t.Helper()
	now := f.s.clock.Now()
	claims := map[string]any{
		"iss": f.id, "aud": f.s.URL, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"jti": rand.Text(), "scope": "openid", "login_hint": "u1", "binding_message": "Transfer 42",
	}
	for k, v := range change {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	key := jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: f.ec, KeyID: "ec"}}
	if alg == jose.RS256 || alg == jose.PS256 {
		key = jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: f.rsa, KeyID: "rsa"}}
	}
	signer, err := jose.NewSigner(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// wantClientError checks an error returned by the client library.
func wantClientError(t *testing.T, err error, status int, code string) {
	t.Helper()
	ce, ok := err.(*client.Error)
	if !ok || ce.StatusCode != status || ce.Code != code {
		t.Errorf("error = %v, want %d %s", err, status, code)
	}
}

func TestFAPIRequestRules(t *testing.T) {
	s := newTestServer(t)
	s.createUser(map[string]any{"sub": "u1"})
	s.enrolDevice("u1")
	fc := newFAPIClient(t, s, "bank-1", store.Client{})
	start := func(req client.AuthRequest) error {
		_, err := fc.rp.Initiate(t.Context(), req)
		return err
	}
	if err := start(client.AuthRequest{Request: fc.requestObject(t, jose.ES256, nil)}); err != nil {
		t.Fatalf("a valid FAPI request = %v", err)
	}
	now := s.clock.Now()
	replayed := fc.requestObject(t, jose.ES256, map[string]any{"jti": "once"})
	if err := start(client.AuthRequest{Request: replayed}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  client.AuthRequest
		code string
	}{
		{"unsigned", client.AuthRequest{LoginHint: "u1", BindingMessage: "Transfer 42"}, "invalid_request"},
		{"RS256 is not a FAPI alg", client.AuthRequest{Request: fc.requestObject(t, jose.RS256, nil)}, "invalid_request"},
		{"expired", client.AuthRequest{Request: fc.requestObject(t, jose.ES256, map[string]any{"exp": now.Add(-5 * time.Minute).Unix(), "nbf": now.Add(-10 * time.Minute).Unix()})}, "invalid_request"},
		{"lives longer than 60 minutes", client.AuthRequest{Request: fc.requestObject(t, jose.ES256, map[string]any{"exp": now.Add(61 * time.Minute).Unix()})}, "invalid_request"},
		{"nbf in the future", client.AuthRequest{Request: fc.requestObject(t, jose.ES256, map[string]any{"nbf": now.Add(5 * time.Minute).Unix()})}, "invalid_request"},
		{"nbf over 60 minutes ago", client.AuthRequest{Request: fc.requestObject(t, jose.ES256, map[string]any{"nbf": now.Add(-61 * time.Minute).Unix()})}, "invalid_request"},
		{"no nbf", client.AuthRequest{Request: fc.requestObject(t, jose.ES256, map[string]any{"nbf": nil})}, "invalid_request"},
		{"no iat", client.AuthRequest{Request: fc.requestObject(t, jose.ES256, map[string]any{"iat": nil})}, "invalid_request"},
		{"no exp", client.AuthRequest{Request: fc.requestObject(t, jose.ES256, map[string]any{"exp": nil})}, "invalid_request"},
		{"no jti", client.AuthRequest{Request: fc.requestObject(t, jose.ES256, map[string]any{"jti": nil})}, "invalid_request"},
		{"replayed", client.AuthRequest{Request: replayed}, "invalid_request"},
		{"wrong aud", client.AuthRequest{Request: fc.requestObject(t, jose.ES256, map[string]any{"aud": "https://other.example"})}, "invalid_request"},
		{"no binding_message", client.AuthRequest{Request: fc.requestObject(t, jose.ES256, map[string]any{"binding_message": nil})}, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantClientError(t, start(tt.req), http.StatusBadRequest, tt.code)
		})
	}
}

func TestFAPIClientRules(t *testing.T) {
	s := newTestServer(t)
	s.createUser(map[string]any{"sub": "u1"})
	s.enrolDevice("u1")
	t.Run("push mode", func(t *testing.T) {
		fc := newFAPIClient(t, s, "bank-push", store.Client{DeliveryMode: store.Push, NotificationEndpoint: "https://rp.example/cb"})
		_, err := fc.rp.Initiate(t.Context(), client.AuthRequest{Request: fc.requestObject(t, jose.ES256, map[string]any{"client_notification_token": "abcdef0123456789"})})
		wantClientError(t, err, http.StatusBadRequest, "unauthorized_client")
	})
	t.Run("client_secret_basic", func(t *testing.T) {
		id, secret := storeClient(t, s, store.Client{ID: "bank-secret", GrantTypes: []string{cibaGrant}, DeliveryMode: store.Poll, Profile: "fapi-ciba"})
		r := s.postForm("/bc-authorize", url.Values{"scope": {"openid"}, "login_hint": {"u1"}, "binding_message": {"x"}}, id, secret)
		wantError(t, r, http.StatusUnauthorized, "invalid_client")
	})
}
