package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/clientauth"
	"github.com/backchannel/backchannel/store"
)

// storeClient creates a client directly in the store, for modes and
// grants the admin API does not accept yet.
func storeClient(t *testing.T, s *testServer, c store.Client) (id, secret string) {
	t.Helper()
	secret, hash, err := clientauth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	c.SecretHash = hash
	c.TokenEndpointAuthMethod = "client_secret_basic"
	c.CreatedAt = s.clock.Now()
	if err := s.store.CreateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return c.ID, secret
}

func TestNotificationTokenRules(t *testing.T) {
	s := newTestServer(t)
	s.createUser(map[string]any{"sub": "u1"})
	s.enrolDevice("u1")
	pingID, pingSecret := storeClient(t, s, store.Client{ID: "ping-client", GrantTypes: []string{cibaGrant}, DeliveryMode: store.Ping, NotificationEndpoint: "https://rp.example/cb"})
	pushID, pushSecret := storeClient(t, s, store.Client{ID: "push-client", GrantTypes: []string{cibaGrant}, DeliveryMode: store.Push, NotificationEndpoint: "https://rp.example/cb"})
	form := func(tok string) url.Values {
		v := url.Values{"scope": {"openid"}, "login_hint": {"u1"}}
		if tok != "" {
			v.Set("client_notification_token", tok)
		}
		return v
	}
	for _, c := range []struct{ id, secret string }{{pingID, pingSecret}, {pushID, pushSecret}} {
		wantError(t, s.postForm("/bc-authorize", form(""), c.id, c.secret), 400, "invalid_request")
		wantError(t, s.postForm("/bc-authorize", form(string(make([]byte, 1025))), c.id, c.secret), 400, "invalid_request")
		wantError(t, s.postForm("/bc-authorize", form("has space"), c.id, c.secret), 400, "invalid_request")
	}
	r := s.postForm("/bc-authorize", form("8d67dc78-7faa-4d41-aabd-67707b374255"), pingID, pingSecret)
	if r.status != 200 || r.body["interval"] == nil {
		t.Errorf("ping start = %d %v, want 200 with an interval", r.status, r.body)
	}
	r = s.postForm("/bc-authorize", form("8d67dc78-7faa-4d41-aabd-67707b374255"), pushID, pushSecret)
	if r.status != 200 || r.body["interval"] != nil {
		t.Errorf("push start = %d %v, want 200 without an interval (CIBA Core §7.3)", r.status, r.body)
	}
	// Push-mode clients never poll (CIBA Core §10.3).
	wantError(t, s.postForm("/token", url.Values{"grant_type": {cibaGrant}, "auth_req_id": {r.str("auth_req_id")}}, pushID, pushSecret), 400, "unauthorized_client")
}

func TestTrustedLoginHintTokenIssuer(t *testing.T) {
	s := newTestServer(t)
	id, secret := s.createClient(nil)
	s.createUser(map[string]any{"sub": "u1", "phone_number": "+81312345678"})
	s.enrolDevice("u1")
	idp := newClientKey(t)
	set := &jose.JSONWebKeySet{}
	set.Keys = append(set.Keys, jose.JSONWebKey{Key: &idp.priv.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"})
	s.svc.LoginHintTokenIssuers = []ciba.TrustedIssuer{{Issuer: "https://idp.example", Keys: set}}
	now := s.clock.Now()
	tok := idp.sign(t, map[string]any{"iss": "https://idp.example", "exp": now.Add(time.Minute).Unix(), "sub_id": map[string]any{"format": "phone_number", "phone_number": "+81312345678"}})
	r := s.postForm("/bc-authorize", url.Values{"scope": {"openid"}, "login_hint_token": {tok}}, id, secret)
	if r.status != 200 {
		t.Fatalf("trusted login_hint_token = %d %v", r.status, r.body)
	}
	untrusted := idp.sign(t, map[string]any{"iss": "https://other.example", "exp": now.Add(time.Minute).Unix(), "sub": "u1"})
	wantError(t, s.postForm("/bc-authorize", url.Values{"scope": {"openid"}, "login_hint_token": {untrusted}}, id, secret), 400, "invalid_request")
}

// TestPrivateKeyJWTClient runs the flow with a private_key_jwt client and
// a signed request object, through the client library.
func TestPrivateKeyJWTClient(t *testing.T) {
	s := newTestServer(t, ciba.Limits{Interval: time.Second})
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: &priv.PublicKey, KeyID: "rp-1", Algorithm: "ES256", Use: "sig"}
	out := s.admin(http.MethodPost, "/clients", map[string]any{
		"client_name":                "Bank Branch",
		"token_endpoint_auth_method": "private_key_jwt",
		"jwks":                       jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}},
		"backchannel_authentication_request_signing_alg": "ES256",
	}, http.StatusCreated)
	if _, ok := out["client_secret"]; ok {
		t.Error("a private_key_jwt client was given a secret")
	}
	s.createUser(map[string]any{"sub": "u1"})
	dev := s.enrolDevice("u1")

	rp, err := client.New(t.Context(), client.Config{Issuer: s.URL, ClientID: out["client_id"].(string), AuthMethod: client.AuthPrivateKey, PrivateKey: priv, KeyID: "rp-1", HTTPClient: s.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ro, err := rp.RequestObject(client.AuthRequest{LoginHint: "u1", BindingMessage: "Branch 7"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	started, err := rp.Initiate(t.Context(), client.AuthRequest{Request: ro})
	if err != nil {
		t.Fatalf("Initiate: %v", err)
	}
	p, _ := dev.Pending(t.Context())
	if len(p) != 1 || p[0].BindingMessage != "Branch 7" {
		t.Fatalf("device sees %+v", p)
	}
	dev.Decide(t.Context(), p[0], true)
	tokens, err := rp.Poll(t.Context(), started)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if tokens.Claims.Subject != "u1" {
		t.Errorf("sub = %q", tokens.Claims.Subject)
	}
	// Unsigned parameters are refused for a client that registered a
	// request signing alg.
	_, err = rp.Initiate(t.Context(), client.AuthRequest{LoginHint: "u1"})
	if client.ErrorCode(err) != "invalid_request" {
		t.Errorf("unsigned request error = %v, want invalid_request", err)
	}
}
