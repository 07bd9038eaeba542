package token_test

import (
	"encoding/json"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/token"
)

func TestIssueJWTAccessToken(t *testing.T) {
	t.Parallel()
	now := fixedNow()
	set := loadKeys(t, "PS256", "ES256") // PS256 is the default alg
	jwks := set.JWKS()
	tests := []struct {
		name     string
		audience string
		change   func(*token.Grant)
		want     map[string]any // beside iss, exp, sub, client_id, iat and jti
	}{
		{
			name: "every claim", change: func(*token.Grant) {},
			want: map[string]any{
				"aud": "https://op.example", "scope": "openid profile",
				"auth_time": float64(now.Add(-30 * time.Second).Unix()),
				"acr":       "urn:example:acr:device", "amr": []any{"hwk", "user"},
			},
		},
		{
			name: "configured audience, no optional claims", audience: "https://api.example",
			change: func(g *token.Grant) { g.Scopes, g.AuthTime, g.ACR, g.AMR = nil, time.Time{}, "", nil },
			want:   map[string]any{"aud": "https://api.example"},
		},
		{
			name: "the client's ID token alg does not sign access tokens", change: func(g *token.Grant) {
				g.Client.IDTokenSignedResponseAlg = "ES256"
				g.Claims = map[string]any{"email": "alice@example.com"} // ID token only
			},
			want: map[string]any{
				"aud": "https://op.example", "scope": "openid profile",
				"auth_time": float64(now.Add(-30 * time.Second).Unix()),
				"acr":       "urn:example:acr:device", "amr": []any{"hwk", "user"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iss := &token.Issuer{Issuer: "https://op.example", Keys: set, Now: fixedNow,
				AccessTokenFormat: token.FormatJWT, AccessTokenAudience: tt.audience}
			g := baseGrant()
			tt.change(&g)
			resp, eff, err := iss.Issue(g)
			if err != nil {
				t.Fatalf("Issue = %v", err)
			}
			h, payload, err := keys.VerifyJWS(resp.AccessToken, &jwks, []string{"PS256"})
			if err != nil {
				t.Fatalf("VerifyJWS(access token) = %v", err)
			}
			if h.ExtraHeaders["typ"] != token.TypeAccessTokenJWT || h.Algorithm != "PS256" {
				t.Errorf("header typ %v alg %s, want at+jwt PS256", h.ExtraHeaders["typ"], h.Algorithm)
			}
			var got map[string]any
			if err := json.Unmarshal(payload, &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"iss": "https://op.example", "sub": "user-1", "client_id": "client-1",
				"iat": float64(now.Unix()), "exp": float64(now.Add(token.DefaultAccessTTL).Unix()),
				"jti": got["jti"],
			}
			for k, v := range tt.want {
				want[k] = v
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("access token claims (-want +got):\n%s", diff)
			}
			if jti, _ := got["jti"].(string); len(jti) < 43 {
				t.Errorf("jti = %q, want 256 random bits", jti)
			}
			// The store knows the JWT by the hash of its exact text.
			if diff := gocmp.Diff(sha(resp.AccessToken), eff.Tokens[0].Hash); diff != "" || eff.Tokens[0].Kind != store.AccessToken {
				t.Errorf("access token record = %+v, want the SHA-256 of the JWT", eff.Tokens[0])
			}
			// at_hash covers the JWT as sent.
			if resp.IDToken != "" {
				idAlg := g.Client.IDTokenSignedResponseAlg
				if idAlg == "" {
					idAlg = "PS256"
				}
				if c := claimsOf(t, resp.IDToken); c["at_hash"] != halfHash(idAlg, resp.AccessToken) {
					t.Errorf("at_hash = %v, want the half hash of the JWT", c["at_hash"])
				}
			}
		})
	}
}

func TestIssueUnknownFormat(t *testing.T) {
	t.Parallel()
	iss := &token.Issuer{Issuer: "https://op.example", Keys: loadKeys(t), AccessTokenFormat: "macaroon"}
	if resp, _, err := iss.Issue(baseGrant()); err == nil {
		t.Errorf("Issue with format macaroon = %+v, want error", resp)
	}
}

func TestIssueFamily(t *testing.T) {
	t.Parallel()
	iss := &token.Issuer{Issuer: "https://op.example", Keys: loadKeys(t), Now: fixedNow}
	families := map[string]bool{}
	for range 3 {
		_, eff, err := iss.Issue(baseGrant())
		if err != nil {
			t.Fatal(err)
		}
		f := eff.Tokens[0].FamilyID
		if f == "" || eff.Tokens[1].FamilyID != f || families[f] {
			t.Fatalf("families %q, %q; want one new family per grant", f, eff.Tokens[1].FamilyID)
		}
		families[f] = true
	}

	// A refresh passes its family and the refresh token's scopes on.
	g := baseGrant()
	g.FamilyID = "fam-1"
	g.Scopes = []string{"openid"}
	g.RefreshScopes = []string{"openid", "profile"}
	_, eff, err := iss.Issue(g)
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Family string
		Scopes []string
	}
	var got []summary
	for _, tok := range eff.Tokens {
		got = append(got, summary{tok.FamilyID, tok.Scopes})
	}
	want := []summary{{"fam-1", []string{"openid"}}, {"fam-1", []string{"openid", "profile"}}}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("Effects (-want +got):\n%s", diff)
	}
}
