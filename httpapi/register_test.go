package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/httpapi"
	"github.com/backchannel/backchannel/registration"
	"github.com/backchannel/backchannel/store"
)

// newRegistrationServer starts a server with dynamic registration and
// the production URL rules (https notification endpoints and jwks_uri).
func newRegistrationServer(t *testing.T, dr httpapi.DynamicRegistration, policy func(*registration.Policy)) *testServer {
	t.Helper()
	return startTestServer(t, testOptions{
		registration: &dr,
		policy: func(p *registration.Policy) {
			p.AllowInsecureURLs = false
			if policy != nil {
				policy(p)
			}
		},
	})
}

// call sends a JSON request with an optional Bearer token and decodes
// the JSON answer, if any.
func (s *testServer) call(method, path, token string, body any) response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequestWithContext(context.WithoutCancel(s.t.Context()), method, s.URL+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header}
	if len(b) > 0 && json.Unmarshal(b, &r.body) != nil {
		// Not JSON (the mux's 404, say): kept for failure messages.
		r.body = map[string]any{"raw": string(b)}
	}
	return r
}

// register posts metadata to the registration endpoint and requires 201.
func (s *testServer) register(meta map[string]any, iat string) response {
	s.t.Helper()
	r := s.call(http.MethodPost, "/register", iat, meta)
	if r.status != http.StatusCreated {
		s.t.Fatalf("register %v = %d %v, want 201", meta, r.status, r.body)
	}
	return r
}

// wantRegError checks an error response's status, code and description.
func wantRegError(t *testing.T, r response, status int, code, desc string) {
	t.Helper()
	wantError(t, r, status, code)
	if !strings.Contains(r.str("error_description"), desc) {
		t.Errorf("error_description = %q, want it to contain %q", r.str("error_description"), desc)
	}
}

func publicJWKS(t *testing.T, key *ecdsa.PrivateKey, kid string) map[string]any {
	t.Helper()
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	var set map[string]any
	json.Unmarshal(b, &set)
	return set
}

func newP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fapiMeta is the metadata of a FAPI-CIBA client that passes every rule.
func fapiMeta(jwks map[string]any) map[string]any {
	return map[string]any{
		"client_name":                     "Bank Branch",
		"profile":                         "fapi-ciba",
		"token_endpoint_auth_method":      "private_key_jwt",
		"token_endpoint_auth_signing_alg": "ES256",
		"jwks":                            jwks,
		"backchannel_token_delivery_mode": "poll",
		"backchannel_authentication_request_signing_alg": "ES256",
	}
}

func with(base map[string]any, change map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range change {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func TestRegistrationDiscovery(t *testing.T) {
	discover := func(s *testServer) map[string]any {
		r := s.call(http.MethodGet, "/.well-known/openid-configuration", "", nil)
		return r.body
	}
	off := newTestServer(t)
	if v, ok := discover(off)["registration_endpoint"]; ok {
		t.Errorf("registration disabled, but discovery has registration_endpoint %v", v)
	}
	if r := off.call(http.MethodPost, "/register", "", map[string]any{}); r.status != http.StatusNotFound {
		t.Errorf("POST /register with registration disabled = %d, want 404", r.status)
	}
	on := newRegistrationServer(t, httpapi.DynamicRegistration{Open: true}, nil)
	if got, want := discover(on)["registration_endpoint"], on.URL+"/register"; got != want {
		t.Errorf("registration_endpoint = %v, want %v", got, want)
	}
}

func TestRegisterAccepted(t *testing.T) {
	s := newRegistrationServer(t, httpapi.DynamicRegistration{Open: true}, nil)
	key := publicJWKS(t, newP256(t), "rp-1")
	tests := []struct {
		name       string
		meta       map[string]any
		wantSecret bool
		want       map[string]any // members of the response
	}{
		{
			name:       "poll with defaults",
			meta:       map[string]any{"client_name": "Shop"},
			wantSecret: true,
			want: map[string]any{
				"client_name": "Shop", "backchannel_token_delivery_mode": "poll",
				"token_endpoint_auth_method": "client_secret_basic", "client_secret_expires_at": float64(0),
			},
		},
		{
			name: "ping with an https endpoint",
			meta: map[string]any{
				"backchannel_token_delivery_mode":          "ping",
				"backchannel_client_notification_endpoint": "https://rp.example/cb",
				"token_endpoint_auth_method":               "client_secret_post",
			},
			wantSecret: true,
			want: map[string]any{
				"backchannel_token_delivery_mode":          "ping",
				"backchannel_client_notification_endpoint": "https://rp.example/cb",
			},
		},
		{
			name: "private_key_jwt with jwks, logo and unknown members ignored",
			meta: map[string]any{
				"token_endpoint_auth_method": "private_key_jwt",
				"jwks":                       key,
				"logo_uri":                   "https://rp.example/logo.png",
				"redirect_uris":              []string{"https://rp.example/cb"},
				"x_vendor_extension":         map[string]any{"a": 1},
			},
			want: map[string]any{"token_endpoint_auth_method": "private_key_jwt", "logo_uri": "https://rp.example/logo.png"},
		},
		{
			name: "FAPI-CIBA client",
			meta: fapiMeta(key),
			want: map[string]any{
				"profile": "fapi-ciba",
				"tls_client_certificate_bound_access_tokens": true,
				"id_token_signed_response_alg":               "ES256",
				"token_endpoint_auth_signing_alg":            "ES256",
			},
		},
		{
			name: "FAPI-CIBA client in ping mode with PS256 requests",
			meta: with(fapiMeta(key), map[string]any{
				"backchannel_token_delivery_mode":                "ping",
				"backchannel_client_notification_endpoint":       "https://rp.example/cb",
				"backchannel_authentication_request_signing_alg": "PS256",
				"token_endpoint_auth_signing_alg":                "PS256",
			}),
			want: map[string]any{"backchannel_token_delivery_mode": "ping", "backchannel_authentication_request_signing_alg": "PS256"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.register(tt.meta, "")
			id := r.str("client_id")
			if id == "" {
				t.Fatalf("no client_id in %v", r.body)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
			}
			for name, want := range tt.want {
				if diff := cmp.Diff(want, r.body[name]); diff != "" {
					t.Errorf("%s (-want +got):\n%s", name, diff)
				}
			}
			if got := r.str("client_secret") != ""; got != tt.wantSecret {
				t.Errorf("client_secret present = %v, want %v", got, tt.wantSecret)
			}
			if _, ok := r.body["client_id_issued_at"]; !ok {
				t.Error("no client_id_issued_at")
			}
			for _, ignored := range []string{"redirect_uris", "x_vendor_extension"} {
				if _, ok := r.body[ignored]; ok {
					t.Errorf("the unknown member %s is echoed", ignored)
				}
			}
			if got, want := r.str("registration_client_uri"), s.URL+"/register/"+id; got != want {
				t.Errorf("registration_client_uri = %q, want %q", got, want)
			}
			tok := r.str("registration_access_token")
			if len(tok) < 43 {
				t.Fatalf("registration_access_token %q has fewer than 256 bits", tok)
			}
			c, err := s.store.Client(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if h := sha256.Sum256([]byte(tok)); !bytes.Equal(c.RegistrationAccessTokenHash, h[:]) {
				t.Error("the registration access token is not stored as its SHA-256 digest")
			}
		})
	}
}

func TestRegisterRefused(t *testing.T) {
	s := newRegistrationServer(t, httpapi.DynamicRegistration{Open: true}, nil)
	key := publicJWKS(t, newP256(t), "rp-1")
	fapi := fapiMeta(key)
	tests := []struct {
		name   string
		body   any
		status int
		code   string
		desc   string
	}{
		{"unknown delivery mode", map[string]any{"backchannel_token_delivery_mode": "carrier-pigeon"}, 400, "invalid_client_metadata", `"carrier-pigeon" is unknown`},
		{"ping without endpoint", map[string]any{"backchannel_token_delivery_mode": "ping"}, 400, "invalid_client_metadata", "backchannel_client_notification_endpoint is required for ping"},
		{"http endpoint outside dev", map[string]any{"backchannel_token_delivery_mode": "ping", "backchannel_client_notification_endpoint": "http://rp.example/cb"}, 400, "invalid_client_metadata", "must use https"},
		{"http jwks_uri outside dev", map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://rp.example/jwks"}, 400, "invalid_client_metadata", "jwks_uri: must use https"},
		{"request signing alg HS256", map[string]any{"backchannel_authentication_request_signing_alg": "HS256", "jwks": key}, 400, "invalid_client_metadata", `"HS256" is not supported`},
		{"request signing alg none", map[string]any{"backchannel_authentication_request_signing_alg": "none", "jwks": key}, 400, "invalid_client_metadata", `"none" is not supported`},
		{"id token alg not configured", map[string]any{"id_token_signed_response_alg": "PS256"}, 400, "invalid_client_metadata", `id_token_signed_response_alg "PS256" is not supported`},
		{"assertion alg HS512", map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": key, "token_endpoint_auth_signing_alg": "HS512"}, 400, "invalid_client_metadata", `"HS512" is not supported with private_key_jwt`},
		{"http logo_uri", map[string]any{"logo_uri": "http://rp.example/logo.png"}, 400, "invalid_client_metadata", "logo_uri: must use https"},
		{"unknown profile", map[string]any{"profile": "fapi-2"}, 400, "invalid_client_metadata", `profile "fapi-2" is unknown`},
		{"mistyped member", map[string]any{"grant_types": "urn:openid:params:grant-type:ciba"}, 400, "invalid_client_metadata", "grant_types must be an array"},
		{"mistyped boolean", map[string]any{"backchannel_user_code_parameter": "yes"}, 400, "invalid_client_metadata", "backchannel_user_code_parameter must be a boolean"},
		{"not JSON", "{", 400, "invalid_request", "JSON object"},
		{"not an object", "[]", 400, "invalid_request", "JSON object"},
		{"too large", `{"client_name":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "invalid_request", "larger than"},

		{"FAPI: push", with(fapi, map[string]any{"backchannel_token_delivery_mode": "push", "backchannel_client_notification_endpoint": "https://rp.example/cb"}), 400, "invalid_client_metadata", "FAPI-CIBA: backchannel_token_delivery_mode must be poll or ping, not push"},
		{"FAPI: client_secret_basic", with(fapi, map[string]any{"token_endpoint_auth_method": "client_secret_basic", "token_endpoint_auth_signing_alg": nil}), 400, "invalid_client_metadata", "FAPI-CIBA: token_endpoint_auth_method must be private_key_jwt, tls_client_auth, self_signed_tls_client_auth, not client_secret_basic"},
		{"FAPI: client_secret_jwt", with(fapi, map[string]any{"token_endpoint_auth_method": "client_secret_jwt", "token_endpoint_auth_signing_alg": "HS256"}), 400, "invalid_client_metadata", "not client_secret_jwt"},
		{"FAPI: no request signing alg", with(fapi, map[string]any{"backchannel_authentication_request_signing_alg": nil}), 400, "invalid_client_metadata", "FAPI-CIBA: backchannel_authentication_request_signing_alg is required"},
		{"FAPI: HS256 request signing alg", with(fapi, map[string]any{"backchannel_authentication_request_signing_alg": "HS256"}), 400, "invalid_client_metadata", "FAPI-CIBA: backchannel_authentication_request_signing_alg must be PS256 or ES256, not HS256"},
		{"FAPI: RS256 request signing alg", with(fapi, map[string]any{"backchannel_authentication_request_signing_alg": "RS256"}), 400, "invalid_client_metadata", "FAPI-CIBA: backchannel_authentication_request_signing_alg must be PS256 or ES256, not RS256"},
		{"FAPI: RS256 ID token alg", with(fapi, map[string]any{"id_token_signed_response_alg": "RS256"}), 400, "invalid_client_metadata", "FAPI-CIBA: id_token_signed_response_alg must be PS256 or ES256, not RS256"},
		{"FAPI: RS256 assertions", with(fapi, map[string]any{"token_endpoint_auth_signing_alg": "RS256"}), 400, "invalid_client_metadata", "FAPI-CIBA: token_endpoint_auth_signing_alg must be PS256 or ES256, not RS256"},
		{"FAPI: no assertion alg", with(fapi, map[string]any{"token_endpoint_auth_signing_alg": nil}), 400, "invalid_client_metadata", "FAPI-CIBA: token_endpoint_auth_signing_alg is required with private_key_jwt"},
		{"FAPI: unbound access tokens", with(fapi, map[string]any{"tls_client_certificate_bound_access_tokens": false}), 400, "invalid_client_metadata", "FAPI-CIBA: tls_client_certificate_bound_access_tokens must be true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRegError(t, s.call(http.MethodPost, "/register", "", tt.body), tt.status, tt.code, tt.desc)
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		r := s.call(http.MethodPost, "/register", "", with(fapi, map[string]any{
			"backchannel_token_delivery_mode": "push", "backchannel_client_notification_endpoint": "https://rp.example/cb",
			"backchannel_authentication_request_signing_alg": "RS256",
		}))
		wantRegError(t, r, 400, "invalid_client_metadata", "not push")
		wantRegError(t, r, 400, "invalid_client_metadata", "not RS256")
	})
	t.Run("wrong content type", func(t *testing.T) {
		r := s.postBody("/register", "application/x-www-form-urlencoded", "client_name=x", "", "")
		wantRegError(t, r, 400, "invalid_request", "application/json")
	})
	clients, err := s.store.Clients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(clients) != 0 {
		t.Errorf("refused registrations left %d clients", len(clients))
	}
}

// TestRequireFAPI: with the server-wide switch every client is held to
// the FAPI-CIBA rules, without asking for the profile.
func TestRequireFAPI(t *testing.T) {
	s := newRegistrationServer(t, httpapi.DynamicRegistration{Open: true}, func(p *registration.Policy) { p.RequireFAPI = true })
	key := publicJWKS(t, newP256(t), "rp-1")
	wantRegError(t, s.call(http.MethodPost, "/register", "", map[string]any{"client_name": "Plain"}), 400, "invalid_client_metadata", "FAPI-CIBA: token_endpoint_auth_method must be")
	r := s.register(with(fapiMeta(key), map[string]any{"profile": nil}), "")
	if r.str("profile") != "fapi-ciba" {
		t.Errorf("profile = %q, want fapi-ciba", r.str("profile"))
	}
	// The admin API shares the rules.
	out := s.admin(http.MethodPost, "/clients", map[string]any{"client_name": "Plain"}, http.StatusBadRequest)
	if out["error"] != "invalid_client_metadata" {
		t.Errorf("admin API error = %v, want invalid_client_metadata", out["error"])
	}
}

func TestInitialAccessToken(t *testing.T) {
	const iat1, iat2 = "initial-access-token-one-0123456789", "initial-access-token-two-9876543210"
	s := newRegistrationServer(t, httpapi.DynamicRegistration{InitialAccessTokens: []string{iat1, iat2}}, nil)
	meta := map[string]any{"client_name": "Gated"}

	r := s.call(http.MethodPost, "/register", "", meta)
	wantError(t, r, 401, "invalid_token")
	if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") || strings.Contains(got, "error=") {
		t.Errorf("WWW-Authenticate without a token = %q, want a Bearer challenge without an error", got)
	}
	for _, bad := range []string{"wrong", iat1 + "x", iat1[:len(iat1)-1], testAdminToken} {
		r := s.call(http.MethodPost, "/register", bad, meta)
		wantError(t, r, 401, "invalid_token")
		if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate for token %q = %q, want error=\"invalid_token\"", bad, got)
		}
	}
	// A bad token is refused before the body is looked at.
	wantError(t, s.call(http.MethodPost, "/register", "wrong", "{"), 401, "invalid_token")
	s.register(meta, iat1)
	s.register(meta, iat2)
}

// statementIssuer is a software statement issuer with an ES256 key.
type statementIssuer struct {
	iss string
	key *ecdsa.PrivateKey
}

func (si statementIssuer) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: si.key, KeyID: "dir-1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]any{"iss": si.iss}
	for k, v := range claims {
		c[k] = v
	}
	b, _ := json.Marshal(c)
	jws, err := signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

func TestSoftwareStatement(t *testing.T) {
	dir := statementIssuer{iss: "https://directory.example", key: newP256(t)}
	trust := func(p *registration.Policy) {
		set := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &dir.key.PublicKey, KeyID: "dir-1", Algorithm: "ES256", Use: "sig"}}}
		p.SoftwareStatementIssuers = map[string]*jose.JSONWebKeySet{dir.iss: set}
	}
	s := newRegistrationServer(t, httpapi.DynamicRegistration{Open: true}, trust)

	t.Run("claims take precedence", func(t *testing.T) {
		ss := dir.sign(t, map[string]any{"software_id": "4NRB1-0XZABZI9E6", "client_name": "Directory Name", "logo_uri": "https://rp.example/logo.png", "iat": s.clock.Now().Unix()})
		r := s.register(map[string]any{"client_name": "Self-chosen Name", "software_id": "forged", "software_statement": ss}, "")
		for name, want := range map[string]string{"client_name": "Directory Name", "software_id": "4NRB1-0XZABZI9E6", "logo_uri": "https://rp.example/logo.png", "software_statement": ss} {
			if got := r.str(name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		if _, ok := r.body["iss"]; ok {
			t.Error("the statement's iss became client metadata")
		}
		c, err := s.store.Client(t.Context(), r.str("client_id"))
		if err != nil {
			t.Fatal(err)
		}
		if c.SoftwareID != "4NRB1-0XZABZI9E6" || c.Name != "Directory Name" {
			t.Errorf("stored software_id, name = %q, %q", c.SoftwareID, c.Name)
		}
	})
	t.Run("a statement can make a client FAPI", func(t *testing.T) {
		ss := dir.sign(t, map[string]any{"software_id": "fapi-app", "profile": "fapi-ciba"})
		r := s.call(http.MethodPost, "/register", "", map[string]any{"profile": "", "software_statement": ss})
		wantRegError(t, r, 400, "invalid_client_metadata", "FAPI-CIBA:")
	})

	impostor := statementIssuer{iss: dir.iss, key: newP256(t)}
	stranger := statementIssuer{iss: "https://stranger.example", key: newP256(t)}
	now := s.clock.Now()
	tests := []struct {
		name      string
		statement any
		desc      string
	}{
		{"signed by another key", impostor.sign(t, map[string]any{"software_id": "x"}), "signature does not verify"},
		{"unsigned", unsignedJWT(map[string]any{"iss": dir.iss, "software_id": "x"}), "not a JWS"},
		{"unknown issuer", stranger.sign(t, map[string]any{"software_id": "x"}), "issuer is not trusted"},
		{"no iss", unsignedJWT(map[string]any{"software_id": "x"}), "not a JWS"},
		{"expired", dir.sign(t, map[string]any{"exp": now.Add(-time.Hour).Unix()}), "expired"},
		{"not yet valid", dir.sign(t, map[string]any{"nbf": now.Add(time.Hour).Unix()}), "nbf"},
		{"not a string", map[string]any{"iss": dir.iss}, "must be a JWT"},
		{"garbage", "not.a.jwt", "not a JWS"},
		{"mistyped claim", dir.sign(t, map[string]any{"grant_types": "ciba"}), "grant_types must be an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.call(http.MethodPost, "/register", "", map[string]any{"client_name": "x", "software_statement": tt.statement})
			wantRegError(t, r, 400, "invalid_software_statement", tt.desc)
		})
	}

	t.Run("required", func(t *testing.T) {
		req := newRegistrationServer(t, httpapi.DynamicRegistration{Open: true}, func(p *registration.Policy) {
			trust(p)
			p.RequireSoftwareStatement = true
		})
		wantRegError(t, req.call(http.MethodPost, "/register", "", map[string]any{"client_name": "x"}), 400, "unapproved_software_statement", "software statement")
		req.register(map[string]any{"software_statement": dir.sign(t, map[string]any{"software_id": "ok"})}, "")
		// The admin API is trusted and needs none.
		req.createClient(nil)
	})
}

func TestClientConfigurationEndpoint(t *testing.T) {
	s := newRegistrationServer(t, httpapi.DynamicRegistration{Open: true}, nil)
	a := s.register(map[string]any{"client_name": "A"}, "")
	b := s.register(map[string]any{"client_name": "B"}, "")
	aID, aTok, aSecret := a.str("client_id"), a.str("registration_access_token"), a.str("client_secret")
	bID, bTok := b.str("client_id"), b.str("registration_access_token")
	adminID, _ := s.createClient(nil)
	path := func(id string) string { return "/register/" + url.PathEscape(id) }

	t.Run("read", func(t *testing.T) {
		r := s.call(http.MethodGet, path(aID), aTok, nil)
		if r.status != 200 || r.str("client_id") != aID || r.str("client_name") != "A" {
			t.Fatalf("read = %d %v", r.status, r.body)
		}
		if r.str("registration_client_uri") != s.URL+path(aID) {
			t.Errorf("registration_client_uri = %q", r.str("registration_client_uri"))
		}
		for _, hidden := range []string{"client_secret", "registration_access_token"} {
			if _, ok := r.body[hidden]; ok {
				t.Errorf("read shows %s", hidden)
			}
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			for _, tt := range []struct{ name, id, token string }{
				{"no token", aID, ""},
				{"wrong token", aID, "wrong"},
				{"another client's token", aID, bTok},
				{"unknown client", "nobody", aTok},
				{"admin-registered client", adminID, aTok},
			} {
				t.Run(method+" "+tt.name, func(t *testing.T) {
					var body any
					if method == http.MethodPut {
						body = map[string]any{"client_id": tt.id}
					}
					r := s.call(method, path(tt.id), tt.token, body)
					wantError(t, r, 401, "invalid_token")
					if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
						t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
					}
				})
			}
		}
		if _, err := s.store.Client(t.Context(), aID); err != nil {
			t.Fatalf("client A after refused calls: %v", err)
		}
	})

	t.Run("update", func(t *testing.T) {
		bad := []struct {
			name string
			body map[string]any
			desc string
		}{
			{"no client_id", map[string]any{"client_name": "A2"}, "client_id is required"},
			{"another client_id", map[string]any{"client_id": bID, "client_name": "A2"}, "cannot be changed"},
			{"wrong client_secret", map[string]any{"client_id": aID, "client_secret": "guess"}, "current secret"},
			{"invalid metadata", map[string]any{"client_id": aID, "backchannel_token_delivery_mode": "ping"}, "is required for ping"},
		}
		for _, tt := range bad {
			t.Run(tt.name, func(t *testing.T) {
				wantRegError(t, s.call(http.MethodPut, path(aID), aTok, tt.body), 400, "invalid_client_metadata", tt.desc)
			})
		}
		// A refused update changes nothing, and the token still works.
		if r := s.call(http.MethodGet, path(aID), aTok, nil); r.status != 200 || r.str("client_name") != "A" {
			t.Fatalf("after refused updates read = %d %v", r.status, r.body)
		}

		r := s.call(http.MethodPut, path(aID), aTok, map[string]any{
			"client_id": aID, "client_secret": aSecret, "client_name": "A renamed",
			"backchannel_token_delivery_mode":          "ping",
			"backchannel_client_notification_endpoint": "https://a.example/cb",
			"registration_client_uri":                  "https://ignored.example", "client_id_issued_at": 1,
		})
		if r.status != 200 {
			t.Fatalf("update = %d %v", r.status, r.body)
		}
		if r.str("client_name") != "A renamed" || r.str("backchannel_token_delivery_mode") != "ping" {
			t.Errorf("updated = %v", r.body)
		}
		if r.str("client_secret") != "" {
			t.Error("update issued a new secret though the method still uses the old one")
		}
		if r.str("registration_client_uri") != s.URL+path(aID) {
			t.Errorf("registration_client_uri = %q", r.str("registration_client_uri"))
		}
		newTok := r.str("registration_access_token")
		if newTok == "" || newTok == aTok {
			t.Fatalf("registration access token not rotated: %q", newTok)
		}
		wantError(t, s.call(http.MethodGet, path(aID), aTok, nil), 401, "invalid_token")
		aTok = newTok

		// PUT replaces: what is left out returns to its default.
		r = s.call(http.MethodPut, path(aID), aTok, map[string]any{"client_id": aID})
		if r.status != 200 || r.str("backchannel_token_delivery_mode") != "poll" || r.str("client_name") != "" {
			t.Fatalf("replacing update = %d %v", r.status, r.body)
		}
		aTok = r.str("registration_access_token")

		// Moving to private_key_jwt drops the secret; moving back issues
		// a new one.
		key := publicJWKS(t, newP256(t), "rp-1")
		r = s.call(http.MethodPut, path(aID), aTok, map[string]any{"client_id": aID, "token_endpoint_auth_method": "private_key_jwt", "jwks": key})
		if r.status != 200 || r.str("client_secret") != "" {
			t.Fatalf("to private_key_jwt = %d %v", r.status, r.body)
		}
		aTok = r.str("registration_access_token")
		if c, _ := s.store.Client(t.Context(), aID); len(c.SecretHash) != 0 {
			t.Error("a private_key_jwt client kept its secret")
		}
		r = s.call(http.MethodPut, path(aID), aTok, map[string]any{"client_id": aID, "token_endpoint_auth_method": "client_secret_post"})
		if r.status != 200 || len(r.str("client_secret")) < 43 || r.body["client_secret_expires_at"] != float64(0) {
			t.Fatalf("back to a secret = %d %v", r.status, r.body)
		}
		aTok = r.str("registration_access_token")
	})

	t.Run("delete", func(t *testing.T) {
		wantError(t, s.call(http.MethodDelete, path(aID), bTok, nil), 401, "invalid_token")
		if r := s.call(http.MethodDelete, path(aID), aTok, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete = %d %v", r.status, r.body)
		}
		if _, err := s.store.Client(t.Context(), aID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("client after delete: %v, want ErrNotFound", err)
		}
		wantError(t, s.call(http.MethodGet, path(aID), aTok, nil), 401, "invalid_token")
		wantError(t, s.call(http.MethodDelete, path(aID), aTok, nil), 401, "invalid_token")
		if r := s.call(http.MethodGet, path(bID), bTok, nil); r.status != 200 {
			t.Errorf("client B after A's deletion = %d", r.status)
		}
	})
}

// TestRegisteredClientRunsCIBA: a dynamically registered client really
// authenticates and gets tokens, before and after an update.
func TestRegisteredClientRunsCIBA(t *testing.T) {
	s := newRegistrationServer(t, httpapi.DynamicRegistration{Open: true}, nil)
	s.createUser(map[string]any{"sub": "u1", "email": "hana@example.jp"})
	dev := s.enrolDevice("u1")
	reg := s.register(map[string]any{"client_name": "Kiosk", "grant_types": []string{cibaGrant, "refresh_token"}}, "")
	f := &flow{testServer: s, clientID: reg.str("client_id"), secret: reg.str("client_secret")}

	run := func(binding string) {
		t.Helper()
		r := f.start(url.Values{"scope": {"openid email"}, "login_hint": {"hana@example.jp"}, "binding_message": {binding}})
		if r.status != http.StatusOK {
			t.Fatalf("bc-authorize = %d %v", r.status, r.body)
		}
		p, err := dev.Pending(t.Context())
		if err != nil || len(p) != 1 {
			t.Fatalf("pending = %v, %v", p, err)
		}
		if p[0].ClientName != "Kiosk" || p[0].BindingMessage != binding {
			t.Errorf("device sees %+v", p[0])
		}
		if err := dev.Decide(t.Context(), p[0], true); err != nil {
			t.Fatal(err)
		}
		s.clock.Advance(5 * time.Second)
		tok := f.poll(r.str("auth_req_id"))
		if tok.status != http.StatusOK {
			t.Fatalf("token = %d %v", tok.status, tok.body)
		}
		if claims := verifyIDToken(t, s, tok.str("id_token")); claims["aud"] != f.clientID {
			t.Errorf("id_token aud = %v, want %s", claims["aud"], f.clientID)
		}
	}
	run("Kiosk 1")

	// The secret survives an update.
	up := s.call(http.MethodPut, "/register/"+f.clientID, reg.str("registration_access_token"), map[string]any{
		"client_id": f.clientID, "client_name": "Kiosk", "grant_types": []string{cibaGrant, "refresh_token"},
	})
	if up.status != http.StatusOK {
		t.Fatalf("update = %d %v", up.status, up.body)
	}
	run("Kiosk 2")

	// Once deleted, the client no longer authenticates.
	if r := s.call(http.MethodDelete, "/register/"+f.clientID, up.str("registration_access_token"), nil); r.status != http.StatusNoContent {
		t.Fatalf("delete = %d", r.status)
	}
	wantError(t, f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}}), 401, "invalid_client")
}

// TestRegisteredFAPIClient: a FAPI-CIBA client registered dynamically
// authenticates with private_key_jwt and must sign its requests.
func TestRegisteredFAPIClient(t *testing.T) {
	s := newRegistrationServer(t, httpapi.DynamicRegistration{Open: true}, nil)
	s.createUser(map[string]any{"sub": "u1"})
	dev := s.enrolDevice("u1")
	priv := newP256(t)
	reg := s.register(fapiMeta(publicJWKS(t, priv, "rp-1")), "")
	if reg.str("client_secret") != "" {
		t.Error("a private_key_jwt client was given a secret")
	}
	rp, err := client.New(t.Context(), client.Config{Issuer: s.URL, ClientID: reg.str("client_id"), AuthMethod: client.AuthPrivateKey, PrivateKey: priv, KeyID: "rp-1", HTTPClient: s.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ro, err := rp.RequestObject(client.AuthRequest{LoginHint: "u1", BindingMessage: "Branch 7"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.Initiate(t.Context(), client.AuthRequest{Request: ro}); err != nil {
		t.Fatalf("signed request: %v", err)
	}
	if p, _ := dev.Pending(t.Context()); len(p) != 1 || p[0].BindingMessage != "Branch 7" {
		t.Errorf("device sees %+v", p)
	}
	if _, err := rp.Initiate(t.Context(), client.AuthRequest{LoginHint: "u1", BindingMessage: "Unsigned"}); client.ErrorCode(err) != "invalid_request" {
		t.Errorf("unsigned request error = %v, want invalid_request", err)
	}
}
