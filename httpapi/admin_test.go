package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/client"
)

func TestDiscovery(t *testing.T) {
	s := newTestServer(t)
	resp, err := s.Client().Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	for name, want := range map[string]any{
		"issuer":                              s.URL,
		"token_endpoint":                      s.URL + "/token",
		"backchannel_authentication_endpoint": s.URL + "/bc-authorize",
		"jwks_uri":                            s.URL + "/jwks",
		"device_api_uri":                      s.URL + "/device/v1",
		"backchannel_user_code_parameter_supported": true,
	} {
		if m[name] != want {
			t.Errorf("%s = %v, want %v", name, m[name], want)
		}
	}
	lists := map[string][]string{
		"backchannel_token_delivery_modes_supported":                      {"poll", "ping", "push"},
		"grant_types_supported":                                           {"urn:openid:params:grant-type:ciba", "refresh_token"},
		"backchannel_authentication_request_signing_alg_values_supported": {"ES256", "PS256", "RS256", "EdDSA"},
		"id_token_signing_alg_values_supported":                           {"ES256"},
		"token_endpoint_auth_methods_supported":                           {"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"},
		"scopes_supported":                                                ciba.Scopes(),
	}
	for name, want := range lists {
		var got []string
		for _, v := range m[name].([]any) {
			got = append(got, v.(string))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if algs, _ := m["backchannel_authentication_request_signing_alg_values_supported"].([]any); slices.Contains(algs, any("none")) {
		t.Error("request signing algs include none")
	}
}

func TestJWKSAndRotation(t *testing.T) {
	s := newTestServer(t)
	jwks := func() []map[string]any {
		resp, err := s.Client().Get(s.URL + "/jwks")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		json.NewDecoder(resp.Body).Decode(&set)
		return set.Keys
	}
	before := jwks()
	if len(before) != 1 || before[0]["alg"] != "ES256" || before[0]["use"] != "sig" || before[0]["kid"] == "" {
		t.Fatalf("jwks = %v, want one ES256 signing key with a kid", before)
	}
	if _, ok := before[0]["d"]; ok {
		t.Fatal("jwks publishes a private key")
	}
	out := s.admin(http.MethodPost, "/keys/rotate", map[string]any{}, http.StatusOK)
	after := jwks()
	if len(after) != 2 {
		t.Fatalf("after rotation jwks has %d keys, want the new and the retired", len(after))
	}
	if out["kid"] == before[0]["kid"] {
		t.Error("rotation kept the old kid active")
	}
	// Retired keys stay published for the longest token lifetime (1 h
	// here), then go.
	s.clock.Advance(61 * time.Minute)
	if n := len(jwks()); n != 1 {
		t.Errorf("an hour after rotation jwks has %d keys, want 1", n)
	}
	s.admin(http.MethodPost, "/keys/rotate", map[string]any{"alg": "RS256"}, http.StatusBadRequest)
}

func TestAdminAPI(t *testing.T) {
	s := newTestServer(t)
	t.Run("requires the token", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/admin/v1/clients", nil)
		req.Header.Set("Authorization", "Bearer wrong")
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("wrong admin token = %d, want 401", resp.StatusCode)
		}
	})
	t.Run("client metadata is validated", func(t *testing.T) {
		tests := []struct {
			name string
			doc  map[string]any
			want string
		}{
			{"unknown delivery mode", map[string]any{"backchannel_token_delivery_mode": "carrier-pigeon"}, "is unknown"},
			{"ping without endpoint", map[string]any{"backchannel_token_delivery_mode": "ping"}, "backchannel_client_notification_endpoint is required for ping"},
			{"push without endpoint", map[string]any{"backchannel_token_delivery_mode": "push"}, "backchannel_client_notification_endpoint is required for push"},
			{"request signing alg none", map[string]any{"backchannel_authentication_request_signing_alg": "none", "jwks_uri": "https://rp.example/jwks"}, `backchannel_authentication_request_signing_alg "none" is not supported`},
			{"request signing alg HS256", map[string]any{"backchannel_authentication_request_signing_alg": "HS256", "jwks_uri": "https://rp.example/jwks"}, `"HS256" is not supported`},
			{"id token alg not configured", map[string]any{"id_token_signed_response_alg": "PS256"}, `id_token_signed_response_alg "PS256" is not supported`},
			{"unknown auth method", map[string]any{"token_endpoint_auth_method": "magic"}, `token_endpoint_auth_method "magic" is not supported`},
			{"private_key_jwt without keys", map[string]any{"token_endpoint_auth_method": "private_key_jwt"}, "jwks or jwks_uri is required"},
			{"no CIBA grant", map[string]any{"grant_types": []string{"refresh_token"}}, "grant_types must include"},
			{"unknown field", map[string]any{"redirect_urls": []string{"x"}}, "unknown field"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				out := s.admin(http.MethodPost, "/clients", tt.doc, http.StatusBadRequest)
				wantCode := "invalid_client_metadata"
				if tt.name == "unknown field" {
					wantCode = "invalid_request"
				}
				desc, _ := out["error_description"].(string)
				if out["error"] != wantCode || !strings.Contains(desc, tt.want) {
					t.Errorf("error = %v %q, want %s containing %q", out["error"], desc, wantCode, tt.want)
				}
			})
		}
	})
	t.Run("documents over 256 KiB", func(t *testing.T) {
		big := strings.Repeat("x", 256<<10)
		for path, doc := range map[string]map[string]any{
			"/clients": {"client_name": big},
			"/users":   {"sub": "u-big", "name": big},
		} {
			out := s.admin(http.MethodPost, path, doc, http.StatusRequestEntityTooLarge)
			if out["error"] != "invalid_request" {
				t.Errorf("POST %s over the limit: error = %v, want invalid_request", path, out["error"])
			}
		}
		s.admin(http.MethodGet, "/users/u-big", nil, http.StatusNotFound)
	})
	t.Run("clients: create, list, get, delete", func(t *testing.T) {
		out := s.admin(http.MethodPost, "/clients", map[string]any{"client_id": "pos-1", "client_name": "Shop"}, http.StatusCreated)
		secret, _ := out["client_secret"].(string)
		if len(secret) < 43 {
			t.Errorf("client_secret %q has fewer than 256 bits", secret)
		}
		if out["token_endpoint_auth_method"] != "client_secret_basic" || out["backchannel_token_delivery_mode"] != "poll" {
			t.Errorf("defaults = %v", out)
		}
		c, err := s.store.Client(t.Context(), "pos-1")
		if err != nil {
			t.Fatal(err)
		}
		if c.Secret != "" || len(c.SecretHash) != 32 || strings.Contains(string(c.SecretHash), secret) {
			t.Error("the secret is not stored as a hash")
		}
		s.admin(http.MethodPost, "/clients", map[string]any{"client_id": "pos-1"}, http.StatusBadRequest)
		got := s.admin(http.MethodGet, "/clients/pos-1", nil, http.StatusOK)
		if _, ok := got["client_secret"]; ok {
			t.Error("get shows the secret")
		}
		list := s.admin(http.MethodGet, "/clients", nil, http.StatusOK)
		if n := len(list["clients"].([]any)); n != 1 {
			t.Errorf("list has %d clients", n)
		}
		s.admin(http.MethodDelete, "/clients/pos-1", nil, http.StatusNoContent)
		s.admin(http.MethodGet, "/clients/pos-1", nil, http.StatusNotFound)
		s.admin(http.MethodDelete, "/clients/pos-1", nil, http.StatusNotFound)
	})
	t.Run("users: create, conflicts, get, delete", func(t *testing.T) {
		out := s.admin(http.MethodPost, "/users", map[string]any{"sub": "u9", "email": "x@example.com", "given_name": "X", "user_code": "1234"}, http.StatusCreated)
		if out["has_user_code"] != true || out["given_name"] != "X" {
			t.Errorf("created user = %v", out)
		}
		if _, ok := out["user_code"]; ok {
			t.Error("the user code is echoed")
		}
		s.admin(http.MethodPost, "/users", map[string]any{"sub": "u10", "email": "x@example.com"}, http.StatusConflict)
		s.admin(http.MethodPost, "/users", map[string]any{"email": "y@example.com"}, http.StatusBadRequest)
		s.admin(http.MethodPost, "/users", map[string]any{"sub": "u11", "iss": "me"}, http.StatusBadRequest)
		s.admin(http.MethodGet, "/users/u9", nil, http.StatusOK)
		s.admin(http.MethodDelete, "/users/u9", nil, http.StatusNoContent)
		s.admin(http.MethodGet, "/users/u9", nil, http.StatusNotFound)
	})
}

// TestClientLibrary drives the flow with the relying-party library, as an
// application would: discovery, initiation, polling and ID token checks.
func TestClientLibrary(t *testing.T) {
	s := newTestServer(t, ciba.Limits{Interval: time.Second})
	id, secret := s.createClient(nil)
	s.createUser(map[string]any{"sub": "u1", "email": "hana@example.jp"})
	dev := s.enrolDevice("u1")

	rp, err := client.New(t.Context(), client.Config{Issuer: s.URL, ClientID: id, ClientSecret: secret, HTTPClient: s.Client()})
	if err != nil {
		t.Fatal(err)
	}
	started, err := rp.Initiate(t.Context(), client.AuthRequest{Scopes: []string{"openid", "email"}, LoginHint: "hana@example.jp", BindingMessage: "TV 77"})
	if err != nil {
		t.Fatal(err)
	}
	if started.Interval != time.Second {
		t.Errorf("Interval = %v, want 1s", started.Interval)
	}
	go func() {
		for {
			p, err := dev.Pending(t.Context())
			if err != nil {
				return
			}
			if len(p) > 0 {
				dev.Decide(t.Context(), p[0], true)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	tokens, err := rp.Poll(t.Context(), started)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if tokens.Claims == nil || tokens.Claims.Subject != "u1" || tokens.Claims.Claims["email"] != "hana@example.jp" {
		t.Errorf("verified claims = %+v", tokens.Claims)
	}
}
