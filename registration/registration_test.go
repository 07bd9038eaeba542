package registration_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/registration"
	"github.com/backchannel/backchannel/store"
)

func policy() registration.Policy {
	return registration.Policy{
		DeliveryModes:     []store.DeliveryMode{store.Poll, store.Ping, store.Push},
		IDTokenAlgs:       []string{"RS256", "PS256", "ES256"},
		RequestObjectAlgs: []string{"ES256", "PS256", "RS256", "EdDSA"},
		Scopes:            []string{"openid", "email"},
	}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func jwksOf(t *testing.T, k *ecdsa.PrivateKey, kid string) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// wantCode checks that err is an *oauth.Error with code whose
// description contains each of descs.
func wantCode(t *testing.T, err error, code oauth.Code, descs ...string) {
	t.Helper()
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code != code {
		t.Fatalf("error = %v, want %s", err, code)
	}
	for _, d := range descs {
		if !strings.Contains(oe.Description, d) {
			t.Errorf("description %q does not contain %q", oe.Description, d)
		}
	}
}

func TestValidateFAPI(t *testing.T) {
	jwks := jwksOf(t, newKey(t), "k1")
	good := func() registration.Metadata {
		return registration.Metadata{
			Profile:                     "fapi-ciba",
			TokenEndpointAuthMethod:     oauth.AuthPrivateKey,
			TokenEndpointAuthSigningAlg: "PS256",
			JWKS:                        jwks,
			RequestSigningAlg:           "ES256",
		}
	}
	tests := []struct {
		name    string
		change  func(*registration.Metadata)
		require bool     // Policy.RequireFAPI
		idAlgs  []string // Policy.IDTokenAlgs, when set
		want    []string // problems; none means valid
	}{
		{name: "valid", change: func(*registration.Metadata) {}},
		{name: "ping is allowed", change: func(m *registration.Metadata) {
			m.DeliveryMode, m.NotificationEndpoint = "ping", "https://rp.example/cb"
		}},
		{name: "push", change: func(m *registration.Metadata) {
			m.DeliveryMode, m.NotificationEndpoint = "push", "https://rp.example/cb"
		}, want: []string{"not push"}},
		{name: "client_secret_post", change: func(m *registration.Metadata) {
			m.TokenEndpointAuthMethod, m.TokenEndpointAuthSigningAlg = oauth.AuthSecretPost, ""
		}, want: []string{"not client_secret_post"}},
		{name: "EdDSA assertions", change: func(m *registration.Metadata) { m.TokenEndpointAuthSigningAlg = "EdDSA" }, want: []string{"token_endpoint_auth_signing_alg must be PS256 or ES256, not EdDSA"}},
		{name: "no assertion alg", change: func(m *registration.Metadata) { m.TokenEndpointAuthSigningAlg = "" }, want: []string{"token_endpoint_auth_signing_alg is required"}},
		{name: "no request signing alg", change: func(m *registration.Metadata) { m.RequestSigningAlg = "" }, want: []string{"backchannel_authentication_request_signing_alg is required"}},
		{name: "RS256 requests", change: func(m *registration.Metadata) { m.RequestSigningAlg = "RS256" }, want: []string{"not RS256"}},
		{name: "RS256 ID tokens", change: func(m *registration.Metadata) { m.IDTokenSignedResponseAlg = "RS256" }, want: []string{"id_token_signed_response_alg must be PS256 or ES256, not RS256"}},
		{name: "no FAPI ID token key", change: func(*registration.Metadata) {}, idAlgs: []string{"RS256"}, want: []string{"no PS256 or ES256 signing key"}},
		{name: "explicitly unbound tokens", change: func(m *registration.Metadata) { m.CertificateBoundAccessTokens = ptr(false) }, want: []string{"tls_client_certificate_bound_access_tokens must be true"}},
		{name: "required server-wide", change: func(m *registration.Metadata) {
			m.Profile, m.TokenEndpointAuthMethod = "", oauth.AuthSecretBasic
		}, require: true, want: []string{"not client_secret_basic"}},
		{name: "not FAPI", change: func(m *registration.Metadata) {
			m.Profile, m.RequestSigningAlg, m.DeliveryMode, m.NotificationEndpoint = "", "RS256", "push", "https://rp.example/cb"
		}},
		{name: "unknown profile", change: func(m *registration.Metadata) { m.Profile = "fapi2" }, want: []string{`profile "fapi2" is unknown`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good()
			tt.change(&m)
			p := policy()
			p.RequireFAPI = tt.require
			if tt.idAlgs != nil {
				p.IDTokenAlgs = tt.idAlgs
			}
			c, err := registration.Validate(m, p)
			if len(tt.want) > 0 {
				wantCode(t, err, oauth.InvalidClientMetadata, tt.want...)
				return
			}
			if err != nil {
				t.Fatalf("Validate = %v", err)
			}
			if c.Profile != "fapi-ciba" && m.Profile != "" {
				t.Errorf("Profile = %q", c.Profile)
			}
			if m.Profile == "fapi-ciba" {
				// The profile implies bound tokens and a FAPI ID token alg.
				if !c.CertificateBoundAccessTokens || c.IDTokenSignedResponseAlg != "PS256" {
					t.Errorf("bound, id token alg = %v, %q, want true, PS256 (the first configured FAPI alg)", c.CertificateBoundAccessTokens, c.IDTokenSignedResponseAlg)
				}
			}
		})
	}
}

func TestFromClientRoundTrip(t *testing.T) {
	m := registration.Metadata{
		ClientName: "Shop", LogoURI: "https://rp.example/logo.png", SoftwareID: "app-1",
		CertificateBoundAccessTokens: ptr(true),
	}
	c, err := registration.Validate(m, policy())
	if err != nil {
		t.Fatal(err)
	}
	got := registration.FromClient(c)
	want := registration.Metadata{
		ClientName: "Shop", LogoURI: "https://rp.example/logo.png", SoftwareID: "app-1",
		CertificateBoundAccessTokens: ptr(true), ClientIDIssuedAt: got.ClientIDIssuedAt,
		GrantTypes: []string{"urn:openid:params:grant-type:ciba"}, TokenEndpointAuthMethod: "client_secret_basic", DeliveryMode: "poll",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FromClient (-want +got):\n%s", diff)
	}
}

type issuer struct {
	iss string
	key *ecdsa.PrivateKey
}

func (is issuer) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: is.key, KeyID: "d1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]any{"iss": is.iss}
	for k, v := range claims {
		c[k] = v
	}
	b, _ := json.Marshal(c)
	jws, err := signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

func TestParseRequest(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dir := issuer{"https://directory.example", newKey(t)}
	var set jose.JSONWebKeySet
	json.Unmarshal(jwksOf(t, dir.key, "d1"), &set)
	p := policy()
	p.SoftwareStatementIssuers = map[string]*jose.JSONWebKeySet{dir.iss: &set}
	body := func(members map[string]any) []byte {
		b, _ := json.Marshal(members)
		return b
	}

	tests := []struct {
		name    string
		body    []byte
		require bool
		want    registration.Metadata
		code    oauth.Code
		desc    string
	}{
		{name: "unknown members ignored", body: body(map[string]any{"client_name": "A", "redirect_uris": []string{"x"}, "contacts": "y"}),
			want: registration.Metadata{ClientName: "A"}},
		{name: "null is absent", body: []byte(`{"client_name":"A","jwks":null,"grant_types":null}`),
			want: registration.Metadata{ClientName: "A"}},
		{name: "server-assigned members dropped", body: body(map[string]any{"client_id": "mine", "client_secret": "s", "client_id_issued_at": 1, "registration_access_token": "t"}),
			want: registration.Metadata{}},
		{name: "statement takes precedence", body: body(map[string]any{
			"client_name": "Request", "scope": "openid",
			"software_statement": dir.sign(t, map[string]any{"client_name": "Statement", "software_id": "s-1", "exp": now.Add(time.Hour).Unix()}),
		}), want: registration.Metadata{ClientName: "Statement", SoftwareID: "s-1", Scope: "openid"}},
		{name: "statement cannot set client_id", body: body(map[string]any{
			"software_statement": dir.sign(t, map[string]any{"client_id": "chosen", "software_id": "s-1"}),
		}), want: registration.Metadata{SoftwareID: "s-1"}},
		{name: "mistyped member", body: body(map[string]any{"jwks_uri": 7}), code: oauth.InvalidClientMetadata, desc: "jwks_uri must be a string"},
		{name: "mistyped bound flag", body: body(map[string]any{"tls_client_certificate_bound_access_tokens": "true"}), code: oauth.InvalidClientMetadata, desc: "must be a boolean"},
		{name: "array", body: []byte(`[1]`), code: oauth.InvalidRequest},
		{name: "null body", body: []byte(`null`), code: oauth.InvalidRequest},
		{name: "required and missing", body: body(map[string]any{"client_name": "A"}), require: true, code: registration.UnapprovedSoftwareStatement},
		{name: "statement iat in the future", body: body(map[string]any{"software_statement": dir.sign(t, map[string]any{"iat": now.Add(time.Hour).Unix()})}),
			code: registration.InvalidSoftwareStatement, desc: "iat is in the future"},
		{name: "statement exp malformed", body: body(map[string]any{"software_statement": dir.sign(t, map[string]any{"exp": "tomorrow"})}),
			code: registration.InvalidSoftwareStatement, desc: "malformed"},
		{name: "statement HS256", body: body(map[string]any{"software_statement": "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2RpcmVjdG9yeS5leGFtcGxlIn0.c2ln"}),
			code: registration.InvalidSoftwareStatement, desc: "not a JWS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := p
			p.RequireSoftwareStatement = tt.require
			got, err := registration.ParseRequest(tt.body, p, now)
			if tt.code != "" {
				wantCode(t, err, tt.code, tt.desc)
				return
			}
			if err != nil {
				t.Fatalf("ParseRequest = %v", err)
			}
			if diff := cmp.Diff(tt.want, got.Metadata); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDPoPBoundAccessTokensRoundTrip(t *testing.T) {
	var m registration.Metadata
	if err := json.Unmarshal([]byte(`{"client_name":"x","dpop_bound_access_tokens":true}`), &m); err != nil {
		t.Fatal(err)
	}
	c, err := registration.Validate(m, registration.Policy{DeliveryModes: []store.DeliveryMode{store.Poll}, Scopes: []string{"openid"}})
	if err != nil {
		t.Fatal(err)
	}
	if !c.DPoPBoundAccessTokens {
		t.Error("dpop_bound_access_tokens did not reach the client")
	}
	if out := registration.FromClient(c); !out.DPoPBoundAccessTokens {
		t.Error("FromClient dropped dpop_bound_access_tokens")
	}
}
