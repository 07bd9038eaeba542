package token_test

import (
	"crypto/rand"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/store/sqlite"
	"github.com/backchannel/backchannel/token"
)

const issuer = "https://op.example"

// fixture is a Service on a real SQLite store with a settable clock, a
// user, and two clients that may refresh.
type fixture struct {
	st            store.Store
	svc           *token.Service
	client, other store.Client

	mu  sync.Mutex
	now time.Time
}

func (f *fixture) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "backchannel.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, now: fixedNow()}
	ks, err := keys.Load(t.Context(), st, keys.Config{Now: f.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = &token.Service{Store: st, Issuer: &token.Issuer{Issuer: issuer, Keys: ks, Now: f.Now}, Now: f.Now}
	grants := []string{oauth.GrantCIBA, oauth.GrantRefresh}
	f.client = store.Client{ID: "client-1", GrantTypes: grants, CreatedAt: f.now}
	f.other = store.Client{ID: "client-2", GrantTypes: grants, CreatedAt: f.now}
	for _, c := range []store.Client{f.client, f.other} {
		if err := st.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	err = st.CreateUser(t.Context(), store.User{
		Subject: "user-1", Email: "alice@example.com", PreferredUsername: "alice",
		Claims: []byte(`{"name":"Alice","email_verified":true}`), CreatedAt: f.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// grant issues tokens for scopes to the fixture's client, as a CIBA
// redemption would, and saves them.
func (f *fixture) grant(t *testing.T, scopes ...string) token.Response {
	t.Helper()
	ctx := t.Context()
	id := "req-" + rand.Text()
	r := store.Request{ID: id, AuthReqHash: token.Hash(id), ClientID: f.client.ID, Subject: "user-1", State: store.Approved,
		Scopes: scopes, DeliveryMode: store.Poll, CreatedAt: f.now, ExpiresAt: f.now.Add(time.Minute), NextPollAt: f.now}
	if err := f.st.CreateRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	var resp token.Response
	_, err := f.st.UpdateRequest(ctx, id, func(r *store.Request) (store.Effects, error) {
		var eff store.Effects
		var err error
		resp, eff, err = f.svc.Issuer.Issue(token.Grant{
			Client: f.client, Subject: r.Subject, Scopes: r.Scopes, RequestID: r.ID,
			AuthTime: f.now.Add(-time.Minute), ACR: "urn:example:acr", AMR: []string{"hwk"},
		})
		r.State = store.Redeemed
		return eff, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// wantCode checks that err is an *oauth.Error with code and status.
func wantCode(t *testing.T, what string, err error, code oauth.Code, status int) {
	t.Helper()
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code != code || oe.HTTPStatus() != status {
		t.Errorf("%s = %v, want %s (%d)", what, err, code, status)
	}
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	type input struct {
		client        store.Client
		refresh, scop string
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T, f *fixture, tok token.Response) input
		code    oauth.Code // "" for success
		// wantScope is the access token's scope on success.
		wantScope string
	}{
		{
			name:      "rotation",
			prepare:   func(_ *testing.T, f *fixture, tok token.Response) input { return input{f.client, tok.RefreshToken, ""} },
			wantScope: "openid email profile",
		},
		{
			name: "narrowed scope",
			prepare: func(_ *testing.T, f *fixture, tok token.Response) input {
				return input{f.client, tok.RefreshToken, "email  openid email"}
			},
			wantScope: "email openid",
		},
		{
			name:    "empty refresh token",
			prepare: func(_ *testing.T, f *fixture, _ token.Response) input { return input{f.client, "", ""} },
			code:    oauth.InvalidRequest,
		},
		{
			name:    "unknown",
			prepare: func(_ *testing.T, f *fixture, _ token.Response) input { return input{f.client, "nope", ""} },
			code:    oauth.InvalidGrant,
		},
		{
			name:    "an access token",
			prepare: func(_ *testing.T, f *fixture, tok token.Response) input { return input{f.client, tok.AccessToken, ""} },
			code:    oauth.InvalidGrant,
		},
		{
			name:    "another client's",
			prepare: func(_ *testing.T, f *fixture, tok token.Response) input { return input{f.other, tok.RefreshToken, ""} },
			code:    oauth.InvalidGrant,
		},
		{
			name: "client not registered for refresh_token",
			prepare: func(_ *testing.T, f *fixture, tok token.Response) input {
				c := f.client
				c.GrantTypes = []string{oauth.GrantCIBA}
				return input{c, tok.RefreshToken, ""}
			},
			code: oauth.UnauthorizedClient,
		},
		{
			name: "scope beyond the grant",
			prepare: func(_ *testing.T, f *fixture, tok token.Response) input {
				return input{f.client, tok.RefreshToken, "openid phone"}
			},
			code: oauth.InvalidScope,
		},
		{
			name: "expired",
			prepare: func(_ *testing.T, f *fixture, tok token.Response) input {
				f.advance(token.DefaultRefreshTTL)
				return input{f.client, tok.RefreshToken, ""}
			},
			code: oauth.InvalidGrant,
		},
		{
			name: "revoked",
			prepare: func(t *testing.T, f *fixture, tok token.Response) input {
				if err := f.svc.Revoke(t.Context(), f.client, tok.RefreshToken, ""); err != nil {
					t.Fatal(err)
				}
				return input{f.client, tok.RefreshToken, ""}
			},
			code: oauth.InvalidGrant,
		},
		{
			name: "user deleted",
			prepare: func(t *testing.T, f *fixture, tok token.Response) input {
				if err := f.st.DeleteUser(t.Context(), "user-1"); err != nil {
					t.Fatal(err)
				}
				return input{f.client, tok.RefreshToken, ""}
			},
			code: oauth.InvalidGrant,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tok := f.grant(t, "openid", "email", "profile")
			in := tt.prepare(t, f, tok)
			resp, err := f.svc.Refresh(t.Context(), in.client, in.refresh, in.scop, token.Binding{})
			if tt.code != "" {
				wantCode(t, "Refresh", err, tt.code, http.StatusBadRequest)
				if resp.AccessToken != "" {
					t.Errorf("Refresh returned tokens with an error: %+v", resp)
				}
				return
			}
			if err != nil {
				t.Fatalf("Refresh = %v", err)
			}
			if resp.Scope != tt.wantScope || resp.RefreshToken == "" || resp.RefreshToken == tok.RefreshToken || resp.IDToken == "" {
				t.Errorf("Refresh = %+v, want new tokens with scope %q and an ID token", resp, tt.wantScope)
			}
			old, _ := f.st.Token(t.Context(), token.Hash(tok.RefreshToken))
			if !old.UsedAt.Equal(f.Now()) {
				t.Errorf("old refresh token UsedAt = %v, want %v", old.UsedAt, f.Now())
			}
			newAccess, _ := f.st.Token(t.Context(), token.Hash(resp.AccessToken))
			newRefresh, _ := f.st.Token(t.Context(), token.Hash(resp.RefreshToken))
			if newAccess.FamilyID != old.FamilyID || newRefresh.FamilyID != old.FamilyID || old.FamilyID == "" {
				t.Errorf("families old %q, access %q, refresh %q, want one", old.FamilyID, newAccess.FamilyID, newRefresh.FamilyID)
			}
			// RFC 6749 §6: the new refresh token keeps the original scope.
			if diff := gocmp.Diff(old.Scopes, newRefresh.Scopes); diff != "" {
				t.Errorf("new refresh token scopes (-old +new):\n%s", diff)
			}
			if !newAccess.AuthTime.Equal(old.AuthTime) || newAccess.ACR != old.ACR || !gocmp.Equal(newAccess.AMR, old.AMR) {
				t.Errorf("new access token authentication %v %q %v, want the original's %v %q %v",
					newAccess.AuthTime, newAccess.ACR, newAccess.AMR, old.AuthTime, old.ACR, old.AMR)
			}
			claims := claimsOf(t, resp.IDToken)
			if claims["sub"] != "user-1" || claims["auth_time"] != float64(old.AuthTime.Unix()) || claims["email"] != "alice@example.com" {
				t.Errorf("ID token claims = %v", claims)
			}
			_, hasName := claims["name"]
			if hasName != strings.Contains(tt.wantScope, "profile") {
				t.Errorf("ID token has name = %v with scope %q", hasName, tt.wantScope)
			}
		})
	}
}

func TestRefreshReplayRevokesFamily(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	first := f.grant(t, "openid")
	unrelated := f.grant(t, "openid")
	second, err := f.svc.Refresh(ctx, f.client, first.RefreshToken, "", token.Binding{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Refresh(ctx, f.client, first.RefreshToken, "", token.Binding{})
	wantCode(t, "Refresh(replay)", err, oauth.InvalidGrant, http.StatusBadRequest)
	for _, tok := range []string{first.AccessToken, first.RefreshToken, second.AccessToken, second.RefreshToken} {
		rec, err := f.st.Token(ctx, token.Hash(tok))
		if err != nil || rec.RevokedAt.IsZero() {
			t.Errorf("token of the family after the replay: RevokedAt %v, err %v; want revoked", rec.RevokedAt, err)
		}
	}
	for _, tok := range []string{unrelated.AccessToken, unrelated.RefreshToken} {
		if in, _ := f.svc.Introspect(ctx, f.client, tok); !in.Active {
			t.Errorf("a token of another family was revoked by the replay")
		}
	}
}

func TestIntrospect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prepare func(t *testing.T, f *fixture, tok token.Response) (store.Client, string)
		want    func(f *fixture, tok token.Response) token.Introspection
	}{
		{
			name: "access token",
			prepare: func(_ *testing.T, f *fixture, tok token.Response) (store.Client, string) {
				return f.client, tok.AccessToken
			},
			want: func(f *fixture, _ token.Response) token.Introspection {
				return token.Introspection{
					Active: true, Scope: "openid email", ClientID: "client-1", Subject: "user-1", TokenType: "Bearer",
					ExpiresAt: f.now.Add(token.DefaultAccessTTL).Unix(), IssuedAt: f.now.Unix(),
					Issuer: issuer, Audience: issuer, AuthTime: f.now.Add(-time.Minute).Unix(), ACR: "urn:example:acr",
				}
			},
		},
		{
			name: "refresh token",
			prepare: func(_ *testing.T, f *fixture, tok token.Response) (store.Client, string) {
				return f.client, tok.RefreshToken
			},
			want: func(f *fixture, _ token.Response) token.Introspection {
				return token.Introspection{
					Active: true, Scope: "openid email", ClientID: "client-1", Subject: "user-1",
					ExpiresAt: f.now.Add(token.DefaultRefreshTTL).Unix(), IssuedAt: f.now.Unix(),
					Issuer: issuer, AuthTime: f.now.Add(-time.Minute).Unix(), ACR: "urn:example:acr",
				}
			},
		},
		{
			name:    "unknown",
			prepare: func(_ *testing.T, f *fixture, _ token.Response) (store.Client, string) { return f.client, "nope" },
		},
		{
			name: "another client's",
			prepare: func(_ *testing.T, f *fixture, tok token.Response) (store.Client, string) {
				return f.other, tok.AccessToken
			},
		},
		{
			name: "expired",
			prepare: func(_ *testing.T, f *fixture, tok token.Response) (store.Client, string) {
				f.advance(token.DefaultAccessTTL)
				return f.client, tok.AccessToken
			},
		},
		{
			name: "revoked",
			prepare: func(t *testing.T, f *fixture, tok token.Response) (store.Client, string) {
				if err := f.svc.Revoke(t.Context(), f.client, tok.AccessToken, ""); err != nil {
					t.Fatal(err)
				}
				return f.client, tok.AccessToken
			},
		},
		{
			name: "used refresh token",
			prepare: func(t *testing.T, f *fixture, tok token.Response) (store.Client, string) {
				if _, err := f.svc.Refresh(t.Context(), f.client, tok.RefreshToken, "", token.Binding{}); err != nil {
					t.Fatal(err)
				}
				return f.client, tok.RefreshToken
			},
		},
		{
			name: "user deleted",
			prepare: func(t *testing.T, f *fixture, tok token.Response) (store.Client, string) {
				if err := f.st.DeleteUser(t.Context(), "user-1"); err != nil {
					t.Fatal(err)
				}
				return f.client, tok.AccessToken
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tok := f.grant(t, "openid", "email")
			c, s := tt.prepare(t, f, tok)
			got, err := f.svc.Introspect(t.Context(), c, s)
			if err != nil {
				t.Fatalf("Introspect = %v", err)
			}
			var want token.Introspection
			if tt.want != nil {
				want = tt.want(f, tok)
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("Introspect diff (-want +got):\n%s", diff)
			}
		})
	}
	f := newFixture(t)
	_, err := f.svc.Introspect(t.Context(), f.client, "")
	wantCode(t, `Introspect("")`, err, oauth.InvalidRequest, http.StatusBadRequest)
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prepare func(f *fixture, tok token.Response) (c store.Client, s, hint string)
		// wantActive says which of the grant's tokens stay active.
		access, refresh bool
	}{
		{"access token", func(f *fixture, tok token.Response) (store.Client, string, string) {
			return f.client, tok.AccessToken, ""
		}, false, true},
		{"refresh token revokes the family", func(f *fixture, tok token.Response) (store.Client, string, string) {
			return f.client, tok.RefreshToken, "refresh_token"
		}, false, false},
		{"wrong hint", func(f *fixture, tok token.Response) (store.Client, string, string) {
			return f.client, tok.AccessToken, "refresh_token"
		}, false, true},
		{"unsupported hint", func(f *fixture, tok token.Response) (store.Client, string, string) {
			return f.client, tok.RefreshToken, "urn:example:whatever"
		}, false, false},
		{"unknown", func(f *fixture, _ token.Response) (store.Client, string, string) {
			return f.client, "nope", ""
		}, true, true},
		{"another client's access token", func(f *fixture, tok token.Response) (store.Client, string, string) {
			return f.other, tok.AccessToken, ""
		}, true, true},
		{"another client's refresh token", func(f *fixture, tok token.Response) (store.Client, string, string) {
			return f.other, tok.RefreshToken, ""
		}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tok := f.grant(t, "openid")
			c, s, hint := tt.prepare(f, tok)
			if err := f.svc.Revoke(t.Context(), c, s, hint); err != nil {
				t.Fatalf("Revoke = %v, want nil", err)
			}
			// Twice is as good as once.
			if err := f.svc.Revoke(t.Context(), c, s, hint); err != nil {
				t.Fatalf("second Revoke = %v, want nil", err)
			}
			for name, want := range map[string]bool{tok.AccessToken: tt.access, tok.RefreshToken: tt.refresh} {
				if in, _ := f.svc.Introspect(t.Context(), f.client, name); in.Active != want {
					t.Errorf("after Revoke, a token is active = %v, want %v", in.Active, want)
				}
			}
		})
	}
	f := newFixture(t)
	wantCode(t, `Revoke("")`, f.svc.Revoke(t.Context(), f.client, "", ""), oauth.InvalidRequest, http.StatusBadRequest)
}

func TestUserInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		scopes  []string
		prepare func(t *testing.T, f *fixture, tok token.Response) string
		want    map[string]any
		code    oauth.Code
		status  int
	}{
		{
			name: "profile and email", scopes: []string{"openid", "profile", "email"},
			want: map[string]any{"sub": "user-1", "name": "Alice", "preferred_username": "alice", "email": "alice@example.com", "email_verified": true},
		},
		{name: "openid only", scopes: []string{"openid"}, want: map[string]any{"sub": "user-1"}},
		{
			name: "user changed since", scopes: []string{"openid", "email"},
			prepare: func(t *testing.T, f *fixture, tok token.Response) string {
				_, err := f.st.UpdateUser(t.Context(), "user-1", func(u *store.User) error {
					u.Email = "alice@example.org"
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				return tok.AccessToken
			},
			want: map[string]any{"sub": "user-1", "email": "alice@example.org", "email_verified": true},
		},
		{name: "no openid scope", scopes: []string{"email"}, code: oauth.InsufficientScope, status: http.StatusForbidden},
		{
			name: "empty", scopes: []string{"openid"}, code: oauth.InvalidToken, status: http.StatusUnauthorized,
			prepare: func(*testing.T, *fixture, token.Response) string { return "" },
		},
		{
			name: "unknown", scopes: []string{"openid"}, code: oauth.InvalidToken, status: http.StatusUnauthorized,
			prepare: func(*testing.T, *fixture, token.Response) string { return "nope" },
		},
		{
			name: "refresh token", scopes: []string{"openid"}, code: oauth.InvalidToken, status: http.StatusUnauthorized,
			prepare: func(_ *testing.T, _ *fixture, tok token.Response) string { return tok.RefreshToken },
		},
		{
			name: "expired", scopes: []string{"openid"}, code: oauth.InvalidToken, status: http.StatusUnauthorized,
			prepare: func(_ *testing.T, f *fixture, tok token.Response) string {
				f.advance(token.DefaultAccessTTL)
				return tok.AccessToken
			},
		},
		{
			name: "revoked with its family", scopes: []string{"openid"}, code: oauth.InvalidToken, status: http.StatusUnauthorized,
			prepare: func(t *testing.T, f *fixture, tok token.Response) string {
				if err := f.svc.Revoke(t.Context(), f.client, tok.RefreshToken, ""); err != nil {
					t.Fatal(err)
				}
				return tok.AccessToken
			},
		},
		{
			name: "user deleted", scopes: []string{"openid"}, code: oauth.InvalidToken, status: http.StatusUnauthorized,
			prepare: func(t *testing.T, f *fixture, tok token.Response) string {
				if err := f.st.DeleteUser(t.Context(), "user-1"); err != nil {
					t.Fatal(err)
				}
				return tok.AccessToken
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tok := f.grant(t, tt.scopes...)
			s := tok.AccessToken
			if tt.prepare != nil {
				s = tt.prepare(t, f, tok)
			}
			got, err := f.svc.UserInfo(t.Context(), s, token.Presented{})
			if tt.code != "" {
				wantCode(t, "UserInfo", err, tt.code, tt.status)
				return
			}
			if err != nil {
				t.Fatalf("UserInfo = %v", err)
			}
			if diff := gocmp.Diff(tt.want, got); diff != "" {
				t.Errorf("UserInfo diff (-want +got):\n%s", diff)
			}
		})
	}
}
