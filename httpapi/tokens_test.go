package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/device/agent"
	"github.com/backchannel/backchannel/token"
)

// lifecycle is a flow whose user has an enrolled device, ready to get
// tokens from approved requests.
type lifecycle struct {
	*flow
	dev *agent.Agent
}

func newLifecycle(t *testing.T, opts testOptions) *lifecycle {
	t.Helper()
	if opts.limits == (ciba.Limits{}) {
		opts.limits = ciba.Limits{MaxUserCodeFailures: 3}
	}
	s := startTestServer(t, opts)
	id, secret := s.createClient(nil)
	s.createUser(map[string]any{"sub": "u1", "email": "hana@example.jp", "preferred_username": "hana", "name": "Hana Sato", "phone_number": "+81 3 1234 5678"})
	return &lifecycle{flow: &flow{testServer: s, clientID: id, secret: secret}, dev: s.enrolDevice("u1")}
}

// as returns the lifecycle of another client of the same server and user.
func (l *lifecycle) as(id, secret string) *lifecycle {
	return &lifecycle{flow: &flow{testServer: l.testServer, clientID: id, secret: secret}, dev: l.dev}
}

// grant runs a CIBA request for scope through approval and redemption and
// returns the token response.
func (l *lifecycle) grant(scope string) response {
	l.t.Helper()
	r := l.start(url.Values{"scope": {scope}, "login_hint": {"u1"}})
	if r.status != http.StatusOK {
		l.t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	pending, err := l.dev.Pending(l.t.Context())
	if err != nil || len(pending) != 1 {
		l.t.Fatalf("Pending = %v, %v; want one request", pending, err)
	}
	if err := l.dev.Decide(l.t.Context(), pending[0], true); err != nil {
		l.t.Fatalf("Decide: %v", err)
	}
	l.clock.Advance(5 * time.Second)
	tok := l.poll(r.str("auth_req_id"))
	if tok.status != http.StatusOK || tok.str("access_token") == "" || tok.str("refresh_token") == "" {
		l.t.Fatalf("token = %d %v, want access and refresh tokens", tok.status, tok.body)
	}
	return tok
}

func (l *lifecycle) refresh(refreshToken, scope string) response {
	l.t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return l.postForm("/token", form, l.clientID, l.secret)
}

func (l *lifecycle) introspect(tok string) response {
	l.t.Helper()
	return l.postForm("/introspect", url.Values{"token": {tok}}, l.clientID, l.secret)
}

func (l *lifecycle) revoke(tok, hint string) response {
	l.t.Helper()
	form := url.Values{"token": {tok}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	return l.postForm("/revoke", form, l.clientID, l.secret)
}

// wantActive checks the introspection of tok by l's client.
func (l *lifecycle) wantActive(tok string, want bool) {
	l.t.Helper()
	r := l.introspect(tok)
	if r.status != http.StatusOK || r.body["active"] != want {
		l.t.Errorf("introspect = %d %v, want 200 with active %v", r.status, r.body, want)
	}
	if !want {
		if diff := cmp.Diff(map[string]any{"active": false}, r.body); diff != "" {
			l.t.Errorf("inactive introspection says more than active (-want +got):\n%s", diff)
		}
	}
}

// userinfo calls the userinfo endpoint with an Authorization header
// value (if any) and, for POST, a form body (if any).
func (s *testServer) userinfo(method, authz string, form url.Values) response {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequestWithContext(context.WithoutCancel(s.t.Context()), method, s.URL+"/userinfo", body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(b, &r.body); err != nil {
		s.t.Fatalf("%s /userinfo: body %q is not JSON", method, b)
	}
	return r
}

// wantBearerError checks a userinfo error and its RFC 6750 §3 challenge.
func wantBearerError(t *testing.T, r response, status int, code string) {
	t.Helper()
	wantError(t, r, status, code)
	if c := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(c, `Bearer error="`+code+`"`) {
		t.Errorf("WWW-Authenticate = %q, want a Bearer challenge with error %q", c, code)
	}
}

func TestRefreshRotation(t *testing.T) {
	l := newLifecycle(t, testOptions{})
	first := l.grant("openid email profile")
	firstID := verifyIDToken(t, l.testServer, first.str("id_token"))

	l.clock.Advance(time.Minute)
	second := l.refresh(first.str("refresh_token"), "")
	if second.status != http.StatusOK {
		t.Fatalf("refresh = %d %v", second.status, second.body)
	}
	if second.str("refresh_token") == "" || second.str("refresh_token") == first.str("refresh_token") ||
		second.str("access_token") == "" || second.str("access_token") == first.str("access_token") {
		t.Errorf("refresh = %v, want a new access token and a new refresh token", second.body)
	}
	if second.str("token_type") != "Bearer" || second.body["expires_in"] != float64(600) || second.str("scope") != "openid email profile" {
		t.Errorf("refresh = %v, want Bearer, 600 s and the original scope", second.body)
	}
	// OIDC Core §12.2: same iss, sub and aud, the original auth_time, a
	// new iat, and the user's claims.
	id := verifyIDToken(t, l.testServer, second.str("id_token"))
	for _, name := range []string{"iss", "sub", "aud", "auth_time", "acr", "email", "name"} {
		if !cmp.Equal(id[name], firstID[name]) {
			t.Errorf("refreshed id_token %s = %v, want %v as at first", name, id[name], firstID[name])
		}
	}
	if id["iat"] == firstID["iat"] {
		t.Errorf("refreshed id_token iat = %v, the same as the first", id["iat"])
	}
	// The new tokens work; the old refresh token is used up.
	if r := l.userinfo(http.MethodGet, "Bearer "+second.str("access_token"), nil); r.status != http.StatusOK || r.str("sub") != "u1" {
		t.Errorf("userinfo with the refreshed access token = %d %v", r.status, r.body)
	}
	l.wantActive(first.str("refresh_token"), false)
	l.wantActive(second.str("refresh_token"), true)
	third := l.refresh(second.str("refresh_token"), "")
	if third.status != http.StatusOK {
		t.Fatalf("second refresh = %d %v", third.status, third.body)
	}

	// Another grant of the same client and user: a family of its own.
	other := l.grant("openid")

	// The first refresh token again: a replay, which revokes the family.
	wantError(t, l.refresh(first.str("refresh_token"), ""), http.StatusBadRequest, "invalid_grant")
	wantError(t, l.refresh(third.str("refresh_token"), ""), http.StatusBadRequest, "invalid_grant")
	for name, r := range map[string]response{"first": first, "second": second, "third": third} {
		for _, kind := range []string{"access_token", "refresh_token"} {
			if got := l.introspect(r.str(kind)); got.body["active"] != false {
				t.Errorf("%s %s after the replay: introspection = %v, want inactive", name, kind, got.body)
			}
		}
		wantBearerError(t, l.userinfo(http.MethodGet, "Bearer "+r.str("access_token"), nil), http.StatusUnauthorized, "invalid_token")
	}
	// The other family is untouched.
	l.wantActive(other.str("access_token"), true)
	if r := l.refresh(other.str("refresh_token"), ""); r.status != http.StatusOK {
		t.Errorf("refresh of another family after the replay = %d %v, want 200", r.status, r.body)
	}
}

func TestRefreshScope(t *testing.T) {
	l := newLifecycle(t, testOptions{})
	tok := l.grant("openid email profile")

	// A narrower scope for the access token (RFC 6749 §6).
	r := l.refresh(tok.str("refresh_token"), "openid email openid")
	if r.status != http.StatusOK || r.str("scope") != "openid email" {
		t.Fatalf("refresh with scope openid email = %d %v, want 200 with that scope", r.status, r.body)
	}
	info := l.userinfo(http.MethodGet, "Bearer "+r.str("access_token"), nil)
	if diff := cmp.Diff(map[string]any{"sub": "u1", "email": "hana@example.jp"}, info.body); diff != "" {
		t.Errorf("userinfo of the narrowed token (-want +got):\n%s", diff)
	}
	// The new refresh token keeps the original scope.
	if in := l.introspect(r.str("refresh_token")); in.str("scope") != "openid email profile" {
		t.Errorf("refresh token scope = %q, want the original openid email profile", in.str("scope"))
	}
	// A token without openid gets no ID token and no userinfo.
	r = l.refresh(r.str("refresh_token"), "email")
	if r.status != http.StatusOK || r.str("id_token") != "" {
		t.Fatalf("refresh with scope email = %d %v, want 200 without an id_token", r.status, r.body)
	}
	info = l.userinfo(http.MethodGet, "Bearer "+r.str("access_token"), nil)
	wantBearerError(t, info, http.StatusForbidden, "insufficient_scope")
	if c := info.header.Get("WWW-Authenticate"); !strings.Contains(c, `scope="openid"`) {
		t.Errorf("WWW-Authenticate = %q, want the scope openid named", c)
	}
	// A scope beyond the original is refused, and the token stays usable.
	wantError(t, l.refresh(r.str("refresh_token"), "openid phone"), http.StatusBadRequest, "invalid_scope")
	if again := l.refresh(r.str("refresh_token"), ""); again.status != http.StatusOK {
		t.Errorf("refresh after invalid_scope = %d %v, want 200", again.status, again.body)
	}
}

func TestRefreshErrors(t *testing.T) {
	l := newLifecycle(t, testOptions{})
	tok := l.grant("openid email")
	otherID, otherSecret := l.createClient(nil)
	other := l.as(otherID, otherSecret)
	noRefreshID, noRefreshSecret := l.createClient(map[string]any{"grant_types": []string{cibaGrant}})

	tests := []struct {
		name   string
		l      *lifecycle
		form   url.Values
		status int
		code   string
	}{
		{"unknown refresh token", l, url.Values{"refresh_token": {"no-such-token"}}, 400, "invalid_grant"},
		{"no refresh_token", l, url.Values{}, 400, "invalid_request"},
		{"an access token", l, url.Values{"refresh_token": {tok.str("access_token")}}, 400, "invalid_grant"},
		{"another client's refresh token", other, url.Values{"refresh_token": {tok.str("refresh_token")}}, 400, "invalid_grant"},
		{"scope beyond the grant", l, url.Values{"refresh_token": {tok.str("refresh_token")}, "scope": {"openid profile"}}, 400, "invalid_scope"},
		{"client without the refresh_token grant", l.as(noRefreshID, noRefreshSecret), url.Values{"refresh_token": {tok.str("refresh_token")}}, 400, "unauthorized_client"},
		{"wrong client secret", l.as(l.clientID, "wrong"), url.Values{"refresh_token": {tok.str("refresh_token")}}, 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.form.Set("grant_type", "refresh_token")
			wantError(t, tt.l.postForm("/token", tt.form, tt.l.clientID, tt.l.secret), tt.status, tt.code)
		})
	}
	// None of those used up or revoked the token.
	l.wantActive(tok.str("refresh_token"), true)

	t.Run("revoked", func(t *testing.T) {
		tok := l.grant("openid")
		l.revoke(tok.str("access_token"), "")
		if r := l.refresh(tok.str("refresh_token"), ""); r.status != http.StatusOK {
			t.Fatalf("refresh after revoking only the access token = %d %v, want 200", r.status, r.body)
		}
		tok = l.grant("openid")
		l.revoke(tok.str("refresh_token"), "")
		wantError(t, l.refresh(tok.str("refresh_token"), ""), 400, "invalid_grant")
	})
	t.Run("user deleted", func(t *testing.T) {
		l := newLifecycle(t, testOptions{})
		tok := l.grant("openid")
		l.admin(http.MethodDelete, "/users/u1", nil, http.StatusNoContent)
		wantError(t, l.refresh(tok.str("refresh_token"), ""), 400, "invalid_grant")
		wantBearerError(t, l.userinfo(http.MethodGet, "Bearer "+tok.str("access_token"), nil), 401, "invalid_token")
		l.wantActive(tok.str("access_token"), false)
	})
	t.Run("expired", func(t *testing.T) {
		tok := l.grant("openid")
		l.clock.Advance(token.DefaultRefreshTTL + time.Second)
		wantError(t, l.refresh(tok.str("refresh_token"), ""), 400, "invalid_grant")
	})
}

// TestConcurrentRefresh races refreshes of one refresh token: exactly one
// gets tokens, and the losers count as replays, which revoke the family.
func TestConcurrentRefresh(t *testing.T) {
	l := newLifecycle(t, testOptions{})
	tok := l.grant("openid")
	const n = 8
	results := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = l.refresh(tok.str("refresh_token"), "") })
	}
	wg.Wait()
	var winner response
	wins := 0
	for _, r := range results {
		switch {
		case r.status == http.StatusOK:
			wins++
			winner = r
		case r.status != http.StatusBadRequest || r.str("error") != "invalid_grant":
			t.Errorf("losing refresh = %d %v, want 400 invalid_grant", r.status, r.body)
		}
	}
	if wins != 1 {
		t.Fatalf("%d refreshes got tokens, want exactly 1", wins)
	}
	l.wantActive(winner.str("access_token"), false)
	wantError(t, l.refresh(winner.str("refresh_token"), ""), http.StatusBadRequest, "invalid_grant")
}

func TestIntrospection(t *testing.T) {
	l := newLifecycle(t, testOptions{})
	tok := l.grant("openid email")
	idToken := verifyIDToken(t, l.testServer, tok.str("id_token"))
	now := l.clock.Now()

	r := l.introspect(tok.str("access_token"))
	if r.status != http.StatusOK {
		t.Fatalf("introspect = %d %v", r.status, r.body)
	}
	if iat, _ := r.body["iat"].(float64); iat < float64(now.Add(-time.Minute).Unix()) || iat > float64(now.Unix()) {
		t.Errorf("iat = %v, want about %d", r.body["iat"], now.Unix())
	}
	want := map[string]any{
		"active": true, "scope": "openid email", "client_id": l.clientID, "sub": "u1",
		"token_type": "Bearer", "iss": l.URL, "aud": l.URL,
		"iat": r.body["iat"], "exp": r.body["iat"].(float64) + 600,
		"auth_time": idToken["auth_time"], "acr": ciba.ACRDeviceKey,
	}
	if diff := cmp.Diff(want, r.body); diff != "" {
		t.Errorf("introspection of the access token (-want +got):\n%s", diff)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
	}

	// A refresh token: no token_type (RFC 7662 §2.2 means access token
	// types) and no aud.
	r = l.introspect(tok.str("refresh_token"))
	want = map[string]any{
		"active": true, "scope": "openid email", "client_id": l.clientID, "sub": "u1",
		"iss": l.URL, "iat": r.body["iat"], "exp": r.body["iat"].(float64) + token.DefaultRefreshTTL.Seconds(),
		"auth_time": idToken["auth_time"], "acr": ciba.ACRDeviceKey,
	}
	if diff := cmp.Diff(want, r.body); diff != "" {
		t.Errorf("introspection of the refresh token (-want +got):\n%s", diff)
	}

	otherID, otherSecret := l.createClient(nil)
	t.Run("inactive", func(t *testing.T) {
		l.wantActive("no-such-token", false)
		// Another client's token: only its own client may learn about it.
		l.as(otherID, otherSecret).wantActive(tok.str("access_token"), false)
		l.as(otherID, otherSecret).wantActive(tok.str("refresh_token"), false)
		l.wantActive(tok.str("access_token"), true)

		revoked := l.grant("openid")
		l.revoke(revoked.str("access_token"), "")
		l.wantActive(revoked.str("access_token"), false)
		l.wantActive(revoked.str("refresh_token"), true)
	})
	t.Run("errors", func(t *testing.T) {
		wantError(t, l.postForm("/introspect", url.Values{}, l.clientID, l.secret), 400, "invalid_request")
		wantError(t, l.postForm("/introspect", url.Values{"token": {tok.str("access_token")}}, l.clientID, "wrong"), 401, "invalid_client")
		wantError(t, l.postForm("/introspect", url.Values{"token": {tok.str("access_token")}}, "", ""), 401, "invalid_client")
		wantError(t, l.postBody("/introspect", "application/json", `{"token":"x"}`, l.clientID, l.secret), 400, "invalid_request")
	})
	t.Run("expired", func(t *testing.T) {
		l.clock.Advance(token.DefaultAccessTTL + time.Second)
		l.wantActive(tok.str("access_token"), false)
		l.wantActive(tok.str("refresh_token"), true)
	})
}

func TestRevocation(t *testing.T) {
	l := newLifecycle(t, testOptions{})
	otherID, otherSecret := l.createClient(nil)
	other := l.as(otherID, otherSecret)
	wantRevoked := func(r response) {
		t.Helper()
		if r.status != http.StatusOK || len(r.body) != 0 {
			t.Errorf("revoke = %d %v, want 200 {}", r.status, r.body)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
		}
	}

	t.Run("access token alone", func(t *testing.T) {
		tok := l.grant("openid")
		wantRevoked(l.revoke(tok.str("access_token"), "access_token"))
		l.wantActive(tok.str("access_token"), false)
		l.wantActive(tok.str("refresh_token"), true)
		wantBearerError(t, l.userinfo(http.MethodGet, "Bearer "+tok.str("access_token"), nil), 401, "invalid_token")
		// Again: still 200.
		wantRevoked(l.revoke(tok.str("access_token"), ""))
	})
	t.Run("refresh token takes the family", func(t *testing.T) {
		tok := l.grant("openid")
		next := l.refresh(tok.str("refresh_token"), "")
		wantRevoked(l.revoke(next.str("refresh_token"), "refresh_token"))
		for _, s := range []string{tok.str("access_token"), next.str("access_token"), next.str("refresh_token")} {
			l.wantActive(s, false)
		}
		wantError(t, l.refresh(next.str("refresh_token"), ""), 400, "invalid_grant")
	})
	t.Run("wrong or unknown hint is ignored", func(t *testing.T) {
		tok := l.grant("openid")
		wantRevoked(l.revoke(tok.str("access_token"), "refresh_token"))
		l.wantActive(tok.str("access_token"), false)
		wantRevoked(l.revoke(tok.str("refresh_token"), "no_such_type"))
		l.wantActive(tok.str("refresh_token"), false)
	})
	t.Run("unknown token", func(t *testing.T) {
		wantRevoked(l.revoke("no-such-token", ""))
	})
	t.Run("another client's token is left alone", func(t *testing.T) {
		tok := l.grant("openid")
		wantRevoked(other.revoke(tok.str("access_token"), ""))
		wantRevoked(other.revoke(tok.str("refresh_token"), ""))
		l.wantActive(tok.str("access_token"), true)
		l.wantActive(tok.str("refresh_token"), true)
	})
	t.Run("errors", func(t *testing.T) {
		wantError(t, l.postForm("/revoke", url.Values{}, l.clientID, l.secret), 400, "invalid_request")
		wantError(t, l.postForm("/revoke", url.Values{"token": {"x"}}, l.clientID, "wrong"), 401, "invalid_client")
		wantError(t, l.postForm("/revoke", url.Values{"token": {"x"}}, "", ""), 401, "invalid_client")
		wantError(t, l.postBody("/revoke", "application/x-www-form-urlencoded", "token=a&token=b", l.clientID, l.secret), 400, "invalid_request")
	})
}

func TestUserInfo(t *testing.T) {
	l := newLifecycle(t, testOptions{})
	tok := l.grant("openid email profile")
	at := tok.str("access_token")
	want := map[string]any{"sub": "u1", "email": "hana@example.jp", "name": "Hana Sato", "preferred_username": "hana"}

	for name, r := range map[string]response{
		"GET with a Bearer header":           l.userinfo(http.MethodGet, "Bearer "+at, nil),
		"GET, scheme in lower case":          l.userinfo(http.MethodGet, "bearer "+at, nil),
		"POST with a Bearer header":          l.userinfo(http.MethodPost, "Bearer "+at, nil),
		"POST with a form body":              l.userinfo(http.MethodPost, "", url.Values{"access_token": {at}}),
		"POST, header and other form fields": l.userinfo(http.MethodPost, "Bearer "+at, url.Values{"x": {"y"}}),
	} {
		if r.status != http.StatusOK {
			t.Errorf("%s = %d %v, want 200", name, r.status, r.body)
			continue
		}
		if diff := cmp.Diff(want, r.body); diff != "" {
			t.Errorf("%s claims (-want +got):\n%s", name, diff)
		}
		if r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin = %q, want *", name, r.header.Get("Access-Control-Allow-Origin"))
		}
	}

	t.Run("claims per scope", func(t *testing.T) {
		tok := l.grant("openid phone")
		r := l.userinfo(http.MethodGet, "Bearer "+tok.str("access_token"), nil)
		if diff := cmp.Diff(map[string]any{"sub": "u1", "phone_number": "+81 3 1234 5678"}, r.body); diff != "" {
			t.Errorf("openid phone claims (-want +got):\n%s", diff)
		}
		tok = l.grant("openid")
		r = l.userinfo(http.MethodGet, "Bearer "+tok.str("access_token"), nil)
		if diff := cmp.Diff(map[string]any{"sub": "u1"}, r.body); diff != "" {
			t.Errorf("openid claims (-want +got):\n%s", diff)
		}
	})
	t.Run("no token", func(t *testing.T) {
		for _, r := range []response{
			l.userinfo(http.MethodGet, "", nil),
			l.userinfo(http.MethodGet, "Basic dTE6cHc=", nil),
			l.userinfo(http.MethodPost, "", url.Values{}),
		} {
			wantError(t, r, 401, "invalid_token")
			// RFC 6750 §3.1: no error information without credentials.
			if c := r.header.Get("WWW-Authenticate"); c != `Bearer realm="backchannel"` {
				t.Errorf("WWW-Authenticate = %q, want a bare Bearer challenge", c)
			}
		}
	})
	t.Run("invalid tokens", func(t *testing.T) {
		revoked := l.grant("openid")
		l.revoke(revoked.str("access_token"), "")
		for name, authz := range map[string]string{
			"unknown":       "Bearer no-such-token",
			"refresh token": "Bearer " + tok.str("refresh_token"),
			"revoked":       "Bearer " + revoked.str("access_token"),
			"ID token":      "Bearer " + tok.str("id_token"),
		} {
			t.Run(name, func(t *testing.T) {
				wantBearerError(t, l.userinfo(http.MethodGet, authz, nil), 401, "invalid_token")
			})
		}
		wantBearerError(t, l.userinfo(http.MethodPost, "", url.Values{"access_token": {"no-such-token"}}), 401, "invalid_token")
	})
	t.Run("malformed requests", func(t *testing.T) {
		wantBearerError(t, l.userinfo(http.MethodPost, "Bearer "+at, url.Values{"access_token": {at}}), 400, "invalid_request")
		wantBearerError(t, l.userinfo(http.MethodGet, "Bearer ", nil), 400, "invalid_request")
		wantBearerError(t, l.userinfo(http.MethodPost, "", url.Values{"access_token": {""}}), 400, "invalid_request")
	})
	t.Run("preflight", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, l.URL+"/userinfo", nil)
		req.Header.Set("Origin", "https://app.example")
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		resp, err := l.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("preflight = %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("expired", func(t *testing.T) {
		l.clock.Advance(token.DefaultAccessTTL + time.Second)
		wantBearerError(t, l.userinfo(http.MethodGet, "Bearer "+at, nil), 401, "invalid_token")
	})
}

func TestJWTAccessToken(t *testing.T) {
	l := newLifecycle(t, testOptions{accessTokenFormat: token.FormatJWT})
	tok := l.grant("openid email")
	at := tok.str("access_token")
	idToken := verifyIDToken(t, l.testServer, tok.str("id_token"))

	jws, err := jose.ParseSignedCompact(at, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("the access token is not a JWS: %v", err)
	}
	if typ := jws.Signatures[0].Header.ExtraHeaders["typ"]; typ != "at+jwt" {
		t.Errorf("typ = %v, want at+jwt (RFC 9068 §2.1)", typ)
	}
	claims := verifyIDToken(t, l.testServer, at) // verifies against /jwks
	iat, _ := claims["iat"].(float64)
	jti, _ := claims["jti"].(string)
	if jti == "" {
		t.Error("the access token has no jti")
	}
	want := map[string]any{
		"iss": l.URL, "aud": l.URL, "sub": "u1", "client_id": l.clientID,
		"iat": iat, "exp": iat + 600, "jti": jti, "scope": "openid email",
		"auth_time": idToken["auth_time"], "acr": ciba.ACRDeviceKey, "amr": idToken["amr"],
	}
	if diff := cmp.Diff(want, claims); diff != "" {
		t.Errorf("access token claims (-want +got):\n%s", diff)
	}

	if r := l.userinfo(http.MethodGet, "Bearer "+at, nil); r.status != http.StatusOK || r.str("email") != "hana@example.jp" {
		t.Errorf("userinfo with the JWT = %d %v", r.status, r.body)
	}
	if r := l.introspect(at); r.body["active"] != true || r.str("token_type") != "Bearer" || r.str("sub") != "u1" {
		t.Errorf("introspection of the JWT = %d %v", r.status, r.body)
	}
	// Refreshed access tokens are JWTs too, with the same authentication.
	next := l.refresh(tok.str("refresh_token"), "")
	nextClaims := verifyIDToken(t, l.testServer, next.str("access_token"))
	if nextClaims["auth_time"] != claims["auth_time"] || nextClaims["jti"] == jti || nextClaims["client_id"] != l.clientID {
		t.Errorf("refreshed access token claims = %v", nextClaims)
	}
	// Revocation stops a JWT at this server's endpoints (resource servers
	// that only verify the signature learn of it at its exp).
	l.revoke(at, "")
	wantBearerError(t, l.userinfo(http.MethodGet, "Bearer "+at, nil), 401, "invalid_token")
	l.wantActive(at, false)
	// A JWT with a valid signature that this server did not record is
	// not accepted: forged from a copy of the claims it stays unknown.
	l.wantActive(tok.str("id_token"), false)
}

func TestLifecycleDiscovery(t *testing.T) {
	s := newTestServer(t)
	resp, err := s.Client().Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	methods := []any{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"}
	want := map[string]any{
		"userinfo_endpoint":                             s.URL + "/userinfo",
		"introspection_endpoint":                        s.URL + "/introspect",
		"revocation_endpoint":                           s.URL + "/revoke",
		"introspection_endpoint_auth_methods_supported": methods,
		"revocation_endpoint_auth_methods_supported":    methods,
		"grant_types_supported":                         []any{cibaGrant, "refresh_token"},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, m[name]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}
