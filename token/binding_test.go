package token_test

import (
	"crypto/rand"
	"net/http"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/dpop"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/token"
)

func TestIssueBinding(t *testing.T) {
	t.Parallel()
	set := loadKeys(t)
	tests := []struct {
		name     string
		bind     token.Binding
		wantType string
		wantCnf  any
	}{
		{"bearer", token.Binding{}, "Bearer", nil},
		{"DPoP", token.Binding{JKT: "jkt-1"}, "DPoP", map[string]any{"jkt": "jkt-1"}},
		{"certificate", token.Binding{X5TS256: "x5t-1"}, "Bearer", map[string]any{"x5t#S256": "x5t-1"}},
		{"both", token.Binding{JKT: "jkt-1", X5TS256: "x5t-1"}, "DPoP", map[string]any{"jkt": "jkt-1", "x5t#S256": "x5t-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iss := &token.Issuer{Issuer: "https://op.example", Keys: set, Now: fixedNow, AccessTokenFormat: token.FormatJWT}
			g := baseGrant()
			g.Binding = tt.bind
			resp, eff, err := iss.Issue(g)
			if err != nil {
				t.Fatalf("Issue = %v", err)
			}
			if resp.TokenType != tt.wantType {
				t.Errorf("TokenType = %q, want %q", resp.TokenType, tt.wantType)
			}
			if diff := gocmp.Diff(tt.wantCnf, claimsOf(t, resp.AccessToken)["cnf"]); diff != "" {
				t.Errorf("access token cnf (-want +got):\n%s", diff)
			}
			if c := claimsOf(t, resp.IDToken); c["cnf"] != nil {
				t.Errorf("ID token cnf = %v, want none", c["cnf"])
			}
			for _, rec := range eff.Tokens {
				if rec.JKT != tt.bind.JKT || rec.X5TS256 != tt.bind.X5TS256 {
					t.Errorf("%s record binding = %q, %q; want %+v", rec.Kind, rec.JKT, rec.X5TS256, tt.bind)
				}
			}
		})
	}
}

// issueTo issues tokens for scopes to client c with binding b, as a CIBA
// redemption would, and saves them.
func (f *fixture) issueTo(t *testing.T, c store.Client, b token.Binding, scopes ...string) token.Response {
	t.Helper()
	ctx := t.Context()
	id := "req-" + rand.Text()
	r := store.Request{ID: id, AuthReqHash: token.Hash(id), ClientID: c.ID, Subject: "user-1", State: store.Approved,
		Scopes: scopes, DeliveryMode: store.Poll, CreatedAt: f.now, ExpiresAt: f.now.Add(time.Minute), NextPollAt: f.now}
	if err := f.st.CreateRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	var resp token.Response
	_, err := f.st.UpdateRequest(ctx, id, func(r *store.Request) (store.Effects, error) {
		var eff store.Effects
		var err error
		resp, eff, err = f.svc.Issuer.Issue(token.Grant{Client: c, Subject: r.Subject, Scopes: r.Scopes, RequestID: r.ID, Binding: b})
		r.State = store.Redeemed
		return eff, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestRefreshBinding(t *testing.T) {
	t.Parallel()
	dpopA, dpopB := token.Binding{JKT: "key-a"}, token.Binding{JKT: "key-b"}
	certA, certB := token.Binding{X5TS256: "cert-a"}, token.Binding{X5TS256: "cert-b"}
	tests := []struct {
		name         string
		public       bool
		issued, used token.Binding
		code         oauth.Code // "" for success
		status       int
	}{
		{"confidential: DPoP family without a proof", false, dpopA, token.Binding{}, dpop.InvalidProof, http.StatusBadRequest},
		{"confidential: DPoP family, new key", false, dpopA, dpopB, "", 0},
		{"confidential: certificate family, new certificate", false, certA, certB, "", 0},
		{"confidential: certificate family, no certificate", false, certA, token.Binding{}, "", 0},
		{"confidential: Bearer family with a proof", false, token.Binding{}, dpopB, "", 0},
		{"public: same key", true, dpopA, dpopA, "", 0},
		{"public: another key", true, dpopA, dpopB, oauth.InvalidGrant, http.StatusBadRequest},
		{"public: no proof", true, dpopA, token.Binding{}, dpop.InvalidProof, http.StatusBadRequest},
		{"public: same certificate", true, certA, certA, "", 0},
		{"public: another certificate", true, certA, certB, oauth.InvalidGrant, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			c := f.client
			if tt.public {
				c = store.Client{ID: "public-1", GrantTypes: f.client.GrantTypes, TokenEndpointAuthMethod: oauth.AuthNone, CreatedAt: f.now}
				if err := f.st.CreateClient(t.Context(), c); err != nil {
					t.Fatal(err)
				}
			}
			first := f.issueTo(t, c, tt.issued, "openid")
			resp, err := f.svc.Refresh(t.Context(), c, first.RefreshToken, "", tt.used)
			if tt.code != "" {
				wantCode(t, "Refresh", err, tt.code, tt.status)
				return
			}
			if err != nil {
				t.Fatalf("Refresh = %v", err)
			}
			rec, err := f.st.Token(t.Context(), token.Hash(resp.AccessToken))
			if err != nil {
				t.Fatal(err)
			}
			if got := (token.Binding{JKT: rec.JKT, X5TS256: rec.X5TS256}); got != tt.used {
				t.Errorf("refreshed access token binding = %+v, want the refresh request's %+v", got, tt.used)
			}
		})
	}
}

func TestUserInfoBinding(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bearer := f.issueTo(t, f.client, token.Binding{}, "openid").AccessToken
	dpopBound := f.issueTo(t, f.client, token.Binding{JKT: "key-a"}, "openid").AccessToken
	certBound := f.issueTo(t, f.client, token.Binding{X5TS256: "cert-a"}, "openid").AccessToken
	tests := []struct {
		name string
		tok  string
		p    token.Presented
		ok   bool
	}{
		{"Bearer token as Bearer", bearer, token.Presented{}, true},
		{"Bearer token over mTLS", bearer, token.Presented{X5TS256: "cert-z"}, true},
		{"Bearer token as DPoP", bearer, token.Presented{DPoP: true, JKT: "key-a"}, false},
		{"DPoP token with its key", dpopBound, token.Presented{DPoP: true, JKT: "key-a"}, true},
		{"DPoP token as Bearer", dpopBound, token.Presented{}, false},
		{"DPoP token as Bearer with a proof", dpopBound, token.Presented{JKT: "key-a"}, false},
		{"DPoP token with another key", dpopBound, token.Presented{DPoP: true, JKT: "key-b"}, false},
		{"certificate token with its certificate", certBound, token.Presented{X5TS256: "cert-a"}, true},
		{"certificate token without a certificate", certBound, token.Presented{}, false},
		{"certificate token with another certificate", certBound, token.Presented{X5TS256: "cert-b"}, false},
	}
	for _, tt := range tests {
		_, err := f.svc.UserInfo(t.Context(), tt.tok, tt.p)
		if tt.ok {
			if err != nil {
				t.Errorf("UserInfo(%s) = %v, want claims", tt.name, err)
			}
			continue
		}
		wantCode(t, "UserInfo("+tt.name+")", err, oauth.InvalidToken, http.StatusUnauthorized)
	}
}

func TestIntrospectBindingAndResourceServers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.svc.ResourceServers = []string{f.other.ID}
	resp := f.issueTo(t, f.client, token.Binding{JKT: "key-a", X5TS256: "cert-a"}, "openid")
	for _, c := range []store.Client{f.client, f.other} {
		in, err := f.svc.Introspect(t.Context(), c, resp.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		want := &token.Confirmation{JKT: "key-a", X5TS256: "cert-a"}
		if !in.Active || in.TokenType != "DPoP" || gocmp.Diff(want, in.Confirmation) != "" {
			t.Errorf("Introspect by %s = %+v, want active, DPoP, cnf %+v", c.ID, in, want)
		}
	}
	// A resource server learns about access tokens only.
	if in, err := f.svc.Introspect(t.Context(), f.other, resp.RefreshToken); err != nil || in.Active {
		t.Errorf("Introspect(refresh token) by a resource server = %+v, %v; want inactive", in, err)
	}
	f.svc.ResourceServers = nil
	if in, err := f.svc.Introspect(t.Context(), f.other, resp.AccessToken); err != nil || in.Active {
		t.Errorf("Introspect(another client's token) = %+v, %v; want inactive", in, err)
	}
}
