package client_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/backchannel/backchannel/client"
)

func TestVerifyIDToken(t *testing.T) {
	t.Parallel()
	op := newFakeOP(t)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// An RSA key the OP publishes but whose alg, PS384, discovery does
	// not list for ID tokens.
	op.addKey(jose.JSONWebKey{Key: rsaKey.Public(), KeyID: "rsa-1", Use: "sig"})
	c := op.newClient(op.config())
	now := time.Now()
	const at = "access-token-1"

	// with returns valid claims changed by edit.
	with := func(edit func(m map[string]any)) map[string]any {
		m := op.claims(at)
		edit(m)
		return m
	}
	unsigned := func(header string, claims map[string]any) string {
		payload, _ := json.Marshal(claims)
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(header)) + "." + enc(payload) + "."
	}

	tests := []struct {
		name        string
		raw         string
		accessToken string
		wantErr     string // empty: valid
	}{
		{name: "valid", raw: op.sign(op.claims(at)), accessToken: at},
		{name: "valid without access token", raw: op.sign(op.claims(at))},
		{name: "valid without at_hash", raw: op.sign(op.claims("")), accessToken: at},
		{name: "exp within clock skew", raw: op.sign(with(func(m map[string]any) { m["exp"] = now.Add(-30 * time.Second).Unix() })), accessToken: at},
		{name: "several audiences and azp", raw: op.sign(with(func(m map[string]any) { m["aud"] = []string{"api", testClientID}; m["azp"] = testClientID })), accessToken: at},
		{
			name:        "bad signature",
			raw:         signWith(t, jose.ES256, otherKey, op.kid, op.claims(at)),
			accessToken: at,
			wantErr:     "signature does not verify",
		},
		{
			name:        "tampered payload",
			raw:         tamper(op.sign(op.claims(at))),
			accessToken: at,
			wantErr:     "signature does not verify",
		},
		{
			name:    "wrong iss",
			raw:     op.sign(with(func(m map[string]any) { m["iss"] = "https://evil.example" })),
			wantErr: "iss",
		},
		{
			name:    "wrong aud",
			raw:     op.sign(with(func(m map[string]any) { m["aud"] = "another-client" })),
			wantErr: "aud",
		},
		{
			name:    "several audiences without azp",
			raw:     op.sign(with(func(m map[string]any) { m["aud"] = []string{"api", testClientID} })),
			wantErr: "no azp",
		},
		{
			name:    "wrong azp",
			raw:     op.sign(with(func(m map[string]any) { m["aud"] = []string{"api", testClientID}; m["azp"] = "api" })),
			wantErr: "azp",
		},
		{
			name:    "expired",
			raw:     op.sign(with(func(m map[string]any) { m["exp"] = now.Add(-2 * time.Minute).Unix() })),
			wantErr: "expired",
		},
		{
			name:    "no exp",
			raw:     op.sign(with(func(m map[string]any) { delete(m, "exp") })),
			wantErr: "no exp",
		},
		{
			name:    "iat in the future",
			raw:     op.sign(with(func(m map[string]any) { m["iat"] = now.Add(2 * time.Minute).Unix() })),
			wantErr: "future",
		},
		{
			name:    "no sub",
			raw:     op.sign(with(func(m map[string]any) { delete(m, "sub") })),
			wantErr: "no sub",
		},
		{
			name:    "alg none",
			raw:     unsigned(`{"alg":"none","kid":"op-key-1"}`, op.claims(at)),
			wantErr: "unexpected signature algorithm",
		},
		{
			name: "HS256 keyed with the client secret",
			raw:  signWith(t, jose.HS256, []byte(testSecret), op.kid, op.claims(at)),
			// The attack: an OP-side "signature" any holder of the secret could make.
			wantErr: "unexpected signature algorithm",
		},
		{
			name:    "alg not in discovery",
			raw:     signWith(t, jose.PS384, rsaKey, "rsa-1", op.claims(at)),
			wantErr: "unexpected signature algorithm",
		},
		{
			name:        "at_hash mismatch",
			raw:         op.sign(op.claims("another-access-token")),
			accessToken: at,
			wantErr:     "at_hash",
		},
		{
			name:    "not a JWS",
			raw:     "not.a.jwt",
			wantErr: "parse JWS",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := c.VerifyIDToken(t.Context(), tt.raw, tt.accessToken)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("VerifyIDToken() = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyIDToken() = %v", err)
			}
			if got.Subject != "alice" || got.Issuer != op.issuer {
				t.Errorf("VerifyIDToken() = %+v", got)
			}
		})
	}
}

// tamper changes the subject in a signed token's payload.
func tamper(raw string) string {
	parts := strings.Split(raw, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), `"alice"`, `"mallory"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func TestVerifyIDTokenClaims(t *testing.T) {
	t.Parallel()
	op := newFakeOP(t)
	c := op.newClient(op.config())
	iat := time.Now().Truncate(time.Second)
	claims := map[string]any{
		"iss":       op.issuer,
		"sub":       "alice",
		"aud":       testClientID,
		"exp":       iat.Add(5 * time.Minute).Unix(),
		"iat":       iat.Unix(),
		"auth_time": iat.Add(-time.Second).Unix(),
		"acr":       "urn:example:loa:2",
		"amr":       []string{"hwk"},
		"at_hash":   atHash("at"),
		"name":      "Alice",
	}
	got, err := c.VerifyIDToken(t.Context(), op.sign(claims), "at")
	if err != nil {
		t.Fatalf("VerifyIDToken() = %v", err)
	}
	want := &client.IDToken{
		Issuer:   op.issuer,
		Subject:  "alice",
		Audience: []string{testClientID},
		Expiry:   iat.Add(5 * time.Minute),
		IssuedAt: iat,
		AuthTime: iat.Add(-time.Second),
		ACR:      "urn:example:loa:2",
		AMR:      []string{"hwk"},
		AtHash:   atHash("at"),
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(client.IDToken{}, "Claims"), cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("VerifyIDToken() (-want +got):\n%s", diff)
	}
	if got.Claims["name"] != "Alice" || got.Claims["sub"] != "alice" {
		t.Errorf("VerifyIDToken().Claims = %v", got.Claims)
	}
}

func TestVerifyIDTokenJWKSRefetch(t *testing.T) {
	t.Parallel()
	op := newFakeOP(t)
	c := op.newClient(op.config())
	verify := func(raw string, wantFetches int, wantErr bool) {
		t.Helper()
		_, err := c.VerifyIDToken(t.Context(), raw, "")
		if (err != nil) != wantErr {
			t.Errorf("VerifyIDToken() = %v, want error %v", err, wantErr)
		}
		if got := op.fetches(); got != wantFetches {
			t.Errorf("JWKS fetches = %d, want %d", got, wantFetches)
		}
	}
	if got := op.fetches(); got != 0 {
		t.Errorf("JWKS fetches after New = %d, want 0 (fetched lazily)", got)
	}
	verify(op.sign(op.claims("")), 1, false)
	verify(op.sign(op.claims("")), 1, false) // cached

	// The OP rotates in a new key: the unknown kid triggers one refetch.
	rotated, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	op.addKey(jose.JSONWebKey{Key: rotated.Public(), KeyID: "op-key-2", Algorithm: "ES256", Use: "sig"})
	verify(signWith(t, jose.ES256, rotated, "op-key-2", op.claims("")), 2, false)
	verify(signWith(t, jose.ES256, rotated, "op-key-2", op.claims("")), 2, false)

	// A kid the OP never had: exactly one refetch, then failure.
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	verify(signWith(t, jose.ES256, stranger, "unknown", op.claims("")), 3, true)

	// A token without kid is tried against every fitting key.
	verify(signWith(t, jose.ES256, rotated, "", op.claims("")), 3, false)
}
