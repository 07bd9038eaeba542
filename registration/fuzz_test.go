package registration_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/registration"
)

func FuzzClientMetadata(f *testing.F) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	const dir = "https://directory.example"
	p := policy()
	p.SoftwareStatementIssuers = map[string]*jose.JSONWebKeySet{dir: {Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "d1", Algorithm: "ES256", Use: "sig"}}}}
	p.MTLS = true
	statement := func(claims map[string]any) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "d1"}}, nil)
		if err != nil {
			f.Fatal(err)
		}
		c := map[string]any{"iss": dir, "iat": now.Unix()}
		for k, v := range claims {
			c[k] = v
		}
		b, _ := json.Marshal(c)
		jws, err := signer.Sign(b)
		if err != nil {
			f.Fatal(err)
		}
		s, _ := jws.CompactSerialize()
		return s
	}
	jwks, _ := json.Marshal(p.SoftwareStatementIssuers[dir])
	body := func(m map[string]any) []byte {
		b, _ := json.Marshal(m)
		return b
	}
	f.Add(body(map[string]any{"client_name": "Shop", "grant_types": []string{oauth.GrantCIBA}}))
	f.Add(body(map[string]any{
		"client_name": "Bank", "grant_types": []string{oauth.GrantCIBA, oauth.GrantRefresh},
		"token_endpoint_auth_method": "private_key_jwt", "jwks": json.RawMessage(jwks),
		"backchannel_token_delivery_mode": "ping", "backchannel_client_notification_endpoint": "https://rp.example/cb",
		"backchannel_authentication_request_signing_alg": "ES256", "backchannel_user_code_parameter": true,
	}))
	f.Add(body(map[string]any{"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "rp.example", "tls_client_certificate_bound_access_tokens": true}))
	f.Add(body(map[string]any{"jwks_uri": "http://127.0.0.1/jwks", "token_endpoint_auth_method": "self_signed_tls_client_auth"}))
	f.Add(body(map[string]any{"software_statement": statement(map[string]any{"software_id": "app-1", "client_name": "Signed"})}))
	f.Add(body(map[string]any{"software_statement": statement(map[string]any{"exp": 1, "grant_types": "x"})}))
	f.Add(body(map[string]any{"software_statement": "a.b.c", "client_id": "mine"}))
	f.Add(body(map[string]any{"grant_types": []any{nil, 1}, "scope": 7, "client_name": nil}))
	f.Add([]byte(`{"jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"","y":""}]}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := registration.ParseRequest(body, p, now)
		if err != nil {
			wantOAuthError(t, "ParseRequest", body, err)
			return
		}
		c, err := registration.Validate(req.Metadata, p)
		if err != nil {
			wantOAuthError(t, "Validate", body, err)
			return
		}
		if len(c.GrantTypes) == 0 || !slices.Contains(p.DeliveryModes, c.DeliveryMode) {
			t.Fatalf("Validate(%q) = %+v: no grant type, or a delivery mode the policy lacks", body, c)
		}
		for _, g := range c.GrantTypes {
			if !slices.Contains(registration.GrantTypes(), g) {
				t.Fatalf("Validate(%q) accepted grant type %q", body, g)
			}
		}
	})
}

func wantOAuthError(t *testing.T, fn string, body []byte, err error) {
	t.Helper()
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code == oauth.ServerError {
		t.Fatalf("%s(%q) = %v, want a client *oauth.Error", fn, body, err)
	}
}
