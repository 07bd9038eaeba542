package token_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/token"
)

// keyStore implements the signing-key methods of store.Store in memory.
type keyStore struct {
	store.Store

	mu   sync.Mutex
	keys []store.SigningKey
}

func (s *keyStore) CreateSigningKey(_ context.Context, k store.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append([]store.SigningKey{k}, s.keys...)
	return nil
}

func (s *keyStore) SigningKeys(context.Context) ([]store.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.keys), nil
}

func (s *keyStore) RotateSigningKey(_ context.Context, k store.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if s.keys[i].Alg == k.Alg && s.keys[i].RetiredAt.IsZero() {
			s.keys[i].RetiredAt = k.CreatedAt
		}
	}
	s.keys = append([]store.SigningKey{k}, s.keys...)
	return nil
}

func loadKeys(t *testing.T, algs ...string) *keys.Set {
	t.Helper()
	set, err := keys.Load(t.Context(), &keyStore{}, keys.Config{Algs: algs})
	if err != nil {
		t.Fatalf("keys.Load(%v) = %v", algs, err)
	}
	return set
}

// fixedNow is the clock of the tests.
func fixedNow() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

// halfHash computes at_hash independently of the package.
func halfHash(alg, v string) string {
	var sum []byte
	if alg == "EdDSA" {
		s := sha512.Sum512([]byte(v))
		sum = s[:]
	} else {
		s := sha256.Sum256([]byte(v))
		sum = s[:]
	}
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

func TestHalfHash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		alg, value, want string
	}{
		// OIDC Core §A.3 example: this access token has this at_hash
		// under RS256.
		{"RS256", "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "77QmUPtjPfzWtF2AnpK9RQ"},
		{"ES256", "access", halfHash("ES256", "access")},
		{"PS256", "access", halfHash("PS256", "access")},
		{"RS256", "", halfHash("RS256", "")},
		{"EdDSA", "access", halfHash("EdDSA", "access")},
		{"ES512", "access", halfHash("EdDSA", "access")}, // SHA-512 too
		{"ES384", "access", func() string {
			s := sha512.Sum384([]byte("access"))
			return base64.RawURLEncoding.EncodeToString(s[:24])
		}()},
	}
	for _, tt := range tests {
		got, err := token.HalfHash(tt.alg, tt.value)
		if err != nil {
			t.Errorf("HalfHash(%q, %q) = %v", tt.alg, tt.value, err)
			continue
		}
		if got != tt.want {
			t.Errorf("HalfHash(%q, %q) = %q, want %q", tt.alg, tt.value, got, tt.want)
		}
	}
	for _, alg := range []string{"", "none", "ES257"} {
		if got, err := token.HalfHash(alg, "x"); err == nil {
			t.Errorf("HalfHash(%q) = %q, want error", alg, got)
		}
	}
	// 16 bytes of SHA-256 and 32 of SHA-512, base64url without padding.
	for alg, n := range map[string]int{"ES256": 22, "EdDSA": 43} {
		if got, _ := token.HalfHash(alg, "x"); len(got) != n {
			t.Errorf("len(HalfHash(%q)) = %d, want %d", alg, len(got), n)
		}
	}
}

func TestHash(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("token"))
	if diff := gocmp.Diff(sum[:], token.Hash("token")); diff != "" {
		t.Errorf("Hash diff (-want +got):\n%s", diff)
	}
}

// claimsOf decodes an ID token's payload without verifying it.
func claimsOf(t *testing.T, idToken string) map[string]any {
	t.Helper()
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		t.Fatalf("ID token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func baseGrant() token.Grant {
	now := fixedNow()
	return token.Grant{
		Client: store.Client{
			ID:         "client-1",
			GrantTypes: []string{"urn:openid:params:grant-type:ciba", "refresh_token"},
		},
		Subject:   "user-1",
		Scopes:    []string{"openid", "profile"},
		RequestID: "req-1",
		AuthTime:  now.Add(-30 * time.Second),
		ACR:       "urn:example:acr:device",
		AMR:       []string{"hwk", "user"},
		Claims:    map[string]any{"name": "Alice", "email_verified": true},
	}
}

func TestIssueEachAlg(t *testing.T) {
	t.Parallel()
	now := fixedNow()
	set := loadKeys(t, "ES256", "PS256", "RS256", "EdDSA")
	jwks := set.JWKS()
	iss := &token.Issuer{Issuer: "https://op.example", Keys: set, Now: fixedNow}

	for _, alg := range []string{"", "ES256", "PS256", "RS256", "EdDSA"} {
		t.Run("alg="+alg, func(t *testing.T) {
			t.Parallel()
			g := baseGrant()
			g.Client.IDTokenSignedResponseAlg = alg
			resp, eff, err := iss.Issue(g)
			if err != nil {
				t.Fatalf("Issue = %v", err)
			}
			wantAlg := alg
			if wantAlg == "" {
				wantAlg = "ES256"
			}

			// The response.
			for name, tok := range map[string]string{"access": resp.AccessToken, "refresh": resp.RefreshToken} {
				b, err := base64.RawURLEncoding.DecodeString(tok)
				if err != nil || len(b) < 32 {
					t.Errorf("%s token %q is not 256 bits of base64url (err %v)", name, tok, err)
				}
			}
			if resp.AccessToken == resp.RefreshToken {
				t.Error("access and refresh tokens are equal")
			}
			wantResp := token.Response{
				AccessToken:  resp.AccessToken,
				TokenType:    "Bearer",
				ExpiresIn:    600,
				RefreshToken: resp.RefreshToken,
				IDToken:      resp.IDToken,
				Scope:        "openid profile",
			}
			if diff := gocmp.Diff(wantResp, resp); diff != "" {
				t.Errorf("Response diff (-want +got):\n%s", diff)
			}

			// The effects: both tokens, hashed, in one new family.
			if len(eff.Tokens) == 0 || eff.Tokens[0].FamilyID == "" {
				t.Fatalf("Effects = %+v, want tokens with a family", eff)
			}
			family := eff.Tokens[0].FamilyID
			wantEff := store.Effects{Tokens: []store.Token{
				{
					Hash: sha(resp.AccessToken), Kind: store.AccessToken, ClientID: "client-1", Subject: "user-1",
					Scopes: []string{"openid", "profile"}, RequestID: "req-1", FamilyID: family,
					AuthTime: now.Add(-30 * time.Second), ACR: "urn:example:acr:device", AMR: []string{"hwk", "user"},
					IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute),
				},
				{
					Hash: sha(resp.RefreshToken), Kind: store.RefreshToken, ClientID: "client-1", Subject: "user-1",
					Scopes: []string{"openid", "profile"}, RequestID: "req-1", FamilyID: family,
					AuthTime: now.Add(-30 * time.Second), ACR: "urn:example:acr:device", AMR: []string{"hwk", "user"},
					IssuedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour),
				},
			}}
			if diff := gocmp.Diff(wantEff, eff); diff != "" {
				t.Errorf("Effects diff (-want +got):\n%s", diff)
			}

			// The ID token: signature, header and every claim.
			h, payload, err := keys.VerifyJWS(resp.IDToken, &jwks, []string{wantAlg})
			if err != nil {
				t.Fatalf("VerifyJWS(ID token) with the JWKS = %v", err)
			}
			if h.Algorithm != wantAlg || h.ExtraHeaders["typ"] != "JWT" || h.KeyID == "" {
				t.Errorf("ID token header alg %q typ %v kid %q, want %s, JWT and a kid", h.Algorithm, h.ExtraHeaders["typ"], h.KeyID, wantAlg)
			}
			var got map[string]any
			if err := json.Unmarshal(payload, &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"iss":            "https://op.example",
				"sub":            "user-1",
				"aud":            "client-1",
				"iat":            float64(now.Unix()),
				"exp":            float64(now.Add(10 * time.Minute).Unix()),
				"auth_time":      float64(now.Add(-30 * time.Second).Unix()),
				"acr":            "urn:example:acr:device",
				"amr":            []any{"hwk", "user"},
				"at_hash":        halfHash(wantAlg, resp.AccessToken),
				"name":           "Alice",
				"email_verified": true,
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("ID token claims diff (-want +got):\n%s", diff)
			}
		})
	}
}

func sha(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func TestIssueVariants(t *testing.T) {
	t.Parallel()
	now := fixedNow()
	set := loadKeys(t)
	iss := &token.Issuer{
		Issuer: "https://op.example", Keys: set, Now: fixedNow,
		AccessTTL: time.Minute, RefreshTTL: time.Hour, IDTokenTTL: 2 * time.Minute,
	}
	tests := []struct {
		name        string
		change      func(*token.Grant)
		wantRefresh bool
		wantIDToken bool
		check       func(t *testing.T, resp token.Response, claims map[string]any)
	}{
		{
			name:        "configured lifetimes",
			change:      func(*token.Grant) {},
			wantRefresh: true, wantIDToken: true,
			check: func(t *testing.T, resp token.Response, c map[string]any) {
				if resp.ExpiresIn != 60 {
					t.Errorf("ExpiresIn = %d, want 60", resp.ExpiresIn)
				}
				if c["exp"] != float64(now.Add(2*time.Minute).Unix()) {
					t.Errorf("exp = %v, want now+2m", c["exp"])
				}
			},
		},
		{
			name:        "no refresh_token grant type",
			change:      func(g *token.Grant) { g.Client.GrantTypes = []string{"urn:openid:params:grant-type:ciba"} },
			wantRefresh: false, wantIDToken: true,
		},
		{
			name:        "no openid scope",
			change:      func(g *token.Grant) { g.Scopes = []string{"payments"} },
			wantRefresh: true, wantIDToken: false,
			check: func(t *testing.T, resp token.Response, _ map[string]any) {
				if resp.Scope != "payments" {
					t.Errorf("Scope = %q, want payments", resp.Scope)
				}
			},
		},
		{
			name: "optional claims omitted",
			change: func(g *token.Grant) {
				g.AuthTime, g.ACR, g.AMR, g.Claims = time.Time{}, "", nil, nil
			},
			wantRefresh: true, wantIDToken: true,
			check: func(t *testing.T, _ token.Response, c map[string]any) {
				for _, k := range []string{"auth_time", "acr", "amr", "name", token.ClaimAuthReqID, token.ClaimRTHash} {
					if v, ok := c[k]; ok {
						t.Errorf("claim %s = %v, want absent", k, v)
					}
				}
			},
		},
		{
			name: "user claims never override registered ones",
			change: func(g *token.Grant) {
				g.Claims = map[string]any{
					"iss": "https://evil.example", "sub": "admin", "aud": "other", "exp": 9999999999,
					"iat": 1, "auth_time": 1, "acr": "x", "amr": []string{"x"}, "at_hash": "x",
					"nonce": "n", "azp": "other", "jti": "j", "nbf": 1, "cnf": map[string]any{},
					token.ClaimAuthReqID: "forged", token.ClaimRTHash: "forged",
					"name": "Alice",
				}
			},
			wantRefresh: true, wantIDToken: true,
			check: func(t *testing.T, resp token.Response, c map[string]any) {
				want := map[string]any{
					"iss": "https://op.example", "sub": "user-1", "aud": "client-1",
					"exp": float64(now.Add(2 * time.Minute).Unix()), "iat": float64(now.Unix()),
					"auth_time": float64(now.Add(-30 * time.Second).Unix()),
					"acr":       "urn:example:acr:device", "amr": []any{"hwk", "user"},
					"at_hash": halfHash("ES256", resp.AccessToken),
					"name":    "Alice",
				}
				if diff := gocmp.Diff(want, c); diff != "" {
					t.Errorf("claims diff (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:        "push mode with refresh token",
			change:      func(g *token.Grant) { g.AuthReqID = "auth-req-1" },
			wantRefresh: true, wantIDToken: true,
			check: func(t *testing.T, resp token.Response, c map[string]any) {
				if c[token.ClaimAuthReqID] != "auth-req-1" {
					t.Errorf("auth_req_id claim = %v, want auth-req-1", c[token.ClaimAuthReqID])
				}
				if want := halfHash("ES256", resp.RefreshToken); c[token.ClaimRTHash] != want {
					t.Errorf("rt_hash = %v, want %s", c[token.ClaimRTHash], want)
				}
			},
		},
		{
			name: "push mode without refresh token",
			change: func(g *token.Grant) {
				g.AuthReqID = "auth-req-1"
				g.Client.GrantTypes = nil
			},
			wantRefresh: false, wantIDToken: true,
			check: func(t *testing.T, _ token.Response, c map[string]any) {
				if c[token.ClaimAuthReqID] != "auth-req-1" {
					t.Errorf("auth_req_id claim = %v, want auth-req-1", c[token.ClaimAuthReqID])
				}
				if v, ok := c[token.ClaimRTHash]; ok {
					t.Errorf("rt_hash = %v without a refresh token, want absent", v)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := baseGrant()
			tt.change(&g)
			resp, eff, err := iss.Issue(g)
			if err != nil {
				t.Fatalf("Issue = %v", err)
			}
			if got := resp.RefreshToken != ""; got != tt.wantRefresh {
				t.Errorf("refresh token issued = %v, want %v", got, tt.wantRefresh)
			}
			wantKinds := []store.TokenKind{store.AccessToken}
			if tt.wantRefresh {
				wantKinds = append(wantKinds, store.RefreshToken)
			}
			var kinds []store.TokenKind
			for _, tok := range eff.Tokens {
				kinds = append(kinds, tok.Kind)
			}
			if diff := gocmp.Diff(wantKinds, kinds); diff != "" {
				t.Errorf("Effects kinds diff (-want +got):\n%s", diff)
			}
			if got := resp.IDToken != ""; got != tt.wantIDToken {
				t.Fatalf("ID token issued = %v, want %v", got, tt.wantIDToken)
			}
			var claims map[string]any
			if tt.wantIDToken {
				if _, err := set.Verify(resp.IDToken); err != nil {
					t.Errorf("Keys.Verify(ID token) = %v", err)
				}
				claims = claimsOf(t, resp.IDToken)
			}
			if tt.check != nil {
				tt.check(t, resp, claims)
			}
		})
	}
}

func TestIssueRefuses(t *testing.T) {
	t.Parallel()
	set := loadKeys(t) // ES256 only
	good := &token.Issuer{Issuer: "https://op.example", Keys: set}
	tests := []struct {
		name   string
		iss    *token.Issuer
		change func(*token.Grant)
	}{
		{"no issuer", &token.Issuer{Keys: set}, func(*token.Grant) {}},
		{"no keys", &token.Issuer{Issuer: "https://op.example"}, func(*token.Grant) {}},
		{"no client", good, func(g *token.Grant) { g.Client.ID = "" }},
		{"no subject", good, func(g *token.Grant) { g.Subject = "" }},
		{"alg without a key", good, func(g *token.Grant) { g.Client.IDTokenSignedResponseAlg = "PS256" }},
		{"alg none", good, func(g *token.Grant) { g.Client.IDTokenSignedResponseAlg = "none" }},
		{"hmac alg", good, func(g *token.Grant) { g.Client.IDTokenSignedResponseAlg = "HS256" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := baseGrant()
			tt.change(&g)
			resp, eff, err := tt.iss.Issue(g)
			if err == nil {
				t.Fatalf("Issue = %+v, nil error; want error", resp)
			}
			if len(eff.Tokens) != 0 || resp.AccessToken != "" {
				t.Errorf("Issue returned tokens with an error: %+v, %d effects", resp, len(eff.Tokens))
			}
		})
	}
}

func TestIssueTokensAreUnique(t *testing.T) {
	t.Parallel()
	iss := &token.Issuer{Issuer: "https://op.example", Keys: loadKeys(t)}
	seen := map[string]bool{}
	for range 50 {
		resp, _, err := iss.Issue(baseGrant())
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{resp.AccessToken, resp.RefreshToken} {
			if seen[tok] {
				t.Fatalf("token %q issued twice", tok)
			}
			seen[tok] = true
		}
	}
}

func TestResponseJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(token.Response{AccessToken: "a", TokenType: "Bearer", ExpiresIn: 600})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"access_token":"a","token_type":"Bearer","expires_in":600}`; string(b) != want {
		t.Errorf("json.Marshal(Response) = %s, want %s", b, want)
	}
}
