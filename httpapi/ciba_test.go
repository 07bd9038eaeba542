package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/ciba"
)

const cibaGrant = "urn:openid:params:grant-type:ciba"

// flow is a client, a user with an enrolled device, and the server.
type flow struct {
	*testServer
	clientID, secret string
}

func newFlow(t *testing.T, clientMeta map[string]any) *flow {
	s := newTestServer(t)
	id, secret := s.createClient(clientMeta)
	s.createUser(map[string]any{"sub": "u1", "email": "hana@example.jp", "preferred_username": "hana", "name": "Hana Sato", "user_code": "4711"})
	return &flow{testServer: s, clientID: id, secret: secret}
}

func (f *flow) start(form url.Values) response {
	f.t.Helper()
	return f.postForm("/bc-authorize", form, f.clientID, f.secret)
}

func (f *flow) poll(authReqID string) response {
	f.t.Helper()
	return f.postForm("/token", url.Values{"grant_type": {cibaGrant}, "auth_req_id": {authReqID}}, f.clientID, f.secret)
}

func TestPollFlowEndToEnd(t *testing.T) {
	f := newFlow(t, nil)
	dev := f.enrolDevice("u1")

	r := f.start(url.Values{"scope": {"openid email profile"}, "login_hint": {"hana@example.jp"}, "binding_message": {"Order 1234"}})
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	authReqID := r.str("auth_req_id")
	if len(authReqID) < 22 { // 128 bits in base64url
		t.Errorf("auth_req_id %q is shorter than 128 bits", authReqID)
	}
	if r.body["expires_in"] != float64(300) || r.body["interval"] != float64(5) {
		t.Errorf("expires_in, interval = %v, %v, want 300, 5", r.body["expires_in"], r.body["interval"])
	}

	f.clock.Advance(5 * time.Second)
	wantError(t, f.poll(authReqID), http.StatusBadRequest, "authorization_pending")

	pending, err := dev.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 {
		t.Fatalf("device sees %d requests, want 1", len(pending))
	}
	got := pending[0]
	if got.BindingMessage != "Order 1234" || got.ClientName != "Test Client" || strings.Join(got.Scopes, " ") != "openid email profile" {
		t.Errorf("device summary = %+v", got)
	}
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), authReqID) {
		t.Error("the device saw the auth_req_id")
	}
	if err := dev.Decide(t.Context(), got, true); err != nil {
		t.Fatalf("Decide: %v", err)
	}

	f.clock.Advance(5 * time.Second)
	tok := f.poll(authReqID)
	if tok.status != http.StatusOK {
		t.Fatalf("token = %d %v", tok.status, tok.body)
	}
	for _, name := range []string{"access_token", "refresh_token", "id_token"} {
		if tok.str(name) == "" {
			t.Errorf("token response has no %s", name)
		}
	}
	if tok.str("token_type") != "Bearer" {
		t.Errorf("token_type = %q, want Bearer", tok.str("token_type"))
	}
	claims := verifyIDToken(t, f.testServer, tok.str("id_token"))
	for name, want := range map[string]any{"iss": f.URL, "sub": "u1", "aud": f.clientID, "email": "hana@example.jp", "name": "Hana Sato", "acr": ciba.ACRDeviceKey} {
		if claims[name] != want {
			t.Errorf("id_token %s = %v, want %v", name, claims[name], want)
		}
	}
	for _, name := range []string{"exp", "iat", "auth_time", "at_hash", "amr"} {
		if _, ok := claims[name]; !ok {
			t.Errorf("id_token has no %s", name)
		}
	}

	// Redeemed exactly once.
	f.clock.Advance(5 * time.Second)
	wantError(t, f.poll(authReqID), http.StatusBadRequest, "invalid_grant")
}

// verifyIDToken checks the ID token's signature against the published JWKS.
func verifyIDToken(t *testing.T, s *testServer, raw string) map[string]any {
	t.Helper()
	resp, err := s.Client().Get(s.URL + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("jwks has %d keys with the ID token's kid", len(keys))
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("ID token signature: %v", err)
	}
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	return claims
}

func TestDeniedRequest(t *testing.T) {
	f := newFlow(t, nil)
	dev := f.enrolDevice("u1")
	r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"hana"}})
	pending, _ := dev.Pending(t.Context())
	if len(pending) != 1 {
		t.Fatalf("pending = %d, want 1", len(pending))
	}
	if err := dev.Decide(t.Context(), pending[0], false); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(5 * time.Second)
	wantError(t, f.poll(r.str("auth_req_id")), http.StatusBadRequest, "access_denied")
	// A decided request cannot be decided again.
	if err := dev.Decide(t.Context(), pending[0], true); err == nil {
		t.Error("second decision accepted")
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	f := newFlow(t, nil)
	dev := f.enrolDevice("u1")
	startOne := func() string {
		r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}})
		if r.status != http.StatusOK {
			t.Fatalf("bc-authorize = %d %v", r.status, r.body)
		}
		return r.str("auth_req_id")
	}

	t.Run("slow_down grows the interval", func(t *testing.T) {
		id := startOne()
		f.clock.Advance(2 * time.Second)
		r := f.poll(id)
		wantError(t, r, http.StatusBadRequest, "slow_down")
		// The interval is now 10 s: a poll 6 s later is still too early.
		f.clock.Advance(6 * time.Second)
		wantError(t, f.poll(id), http.StatusBadRequest, "slow_down")
		f.clock.Advance(15 * time.Second)
		wantError(t, f.poll(id), http.StatusBadRequest, "authorization_pending")
	})
	t.Run("expired_token", func(t *testing.T) {
		id := startOne()
		f.clock.Advance(301 * time.Second)
		wantError(t, f.poll(id), http.StatusBadRequest, "expired_token")
	})
	t.Run("invalid_grant for an unknown auth_req_id", func(t *testing.T) {
		wantError(t, f.poll("no-such-id"), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("invalid_grant for another client's auth_req_id", func(t *testing.T) {
		id := startOne()
		otherID, otherSecret := f.createClient(nil)
		f.clock.Advance(5 * time.Second)
		r := f.postForm("/token", url.Values{"grant_type": {cibaGrant}, "auth_req_id": {id}}, otherID, otherSecret)
		wantError(t, r, http.StatusBadRequest, "invalid_grant")
	})
	t.Run("invalid_request without auth_req_id", func(t *testing.T) {
		wantError(t, f.postForm("/token", url.Values{"grant_type": {cibaGrant}}, f.clientID, f.secret), http.StatusBadRequest, "invalid_request")
	})
	t.Run("unsupported_grant_type", func(t *testing.T) {
		wantError(t, f.postForm("/token", url.Values{"grant_type": {"password"}}, f.clientID, f.secret), http.StatusBadRequest, "unsupported_grant_type")
	})
	t.Run("invalid_client", func(t *testing.T) {
		r := f.postForm("/token", url.Values{"grant_type": {cibaGrant}, "auth_req_id": {"x"}}, f.clientID, "wrong")
		wantError(t, r, http.StatusUnauthorized, "invalid_client")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("WWW-Authenticate = %q, want a Basic challenge", r.header.Get("WWW-Authenticate"))
		}
	})
	t.Run("unauthorized_client without the CIBA grant", func(t *testing.T) {
		id, secret := f.createClient(nil)
		c, err := f.store.Client(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		f.store.DeleteClient(t.Context(), id)
		c.GrantTypes = []string{"refresh_token"}
		if err := f.store.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		r := f.postForm("/token", url.Values{"grant_type": {cibaGrant}, "auth_req_id": {"x"}}, id, secret)
		wantError(t, r, http.StatusBadRequest, "unauthorized_client")
		r = f.postForm("/bc-authorize", url.Values{"scope": {"openid"}, "login_hint": {"u1"}}, id, secret)
		wantError(t, r, http.StatusBadRequest, "unauthorized_client")
	})
	_ = dev
}

// TestConcurrentPollsRedeemOnce races many polls against one approved
// request: exactly one gets tokens.
func TestConcurrentPollsRedeemOnce(t *testing.T) {
	f := newFlow(t, nil)
	dev := f.enrolDevice("u1")
	r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}})
	id := r.str("auth_req_id")
	pending, _ := dev.Pending(t.Context())
	if len(pending) != 1 {
		t.Fatalf("pending = %d", len(pending))
	}
	if err := dev.Decide(t.Context(), pending[0], true); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	const n = 24
	var wg sync.WaitGroup
	statuses := make([]response, n)
	for i := range n {
		wg.Go(func() { statuses[i] = f.poll(id) })
	}
	wg.Wait()
	wins := 0
	for _, s := range statuses {
		switch {
		case s.status == http.StatusOK:
			wins++
		case s.str("error") != "invalid_grant" && s.str("error") != "slow_down":
			t.Errorf("losing poll = %d %v, want invalid_grant or slow_down", s.status, s.body)
		}
	}
	if wins != 1 {
		t.Fatalf("%d polls got tokens, want exactly 1", wins)
	}
}

func TestBackchannelAuthErrors(t *testing.T) {
	f := newFlow(t, nil)
	f.enrolDevice("u1")
	f.createUser(map[string]any{"sub": "u2", "email": "nodevice@example.jp"})
	ok := url.Values{"scope": {"openid"}, "login_hint": {"u1"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for kk, vv := range ok {
			f[kk] = vv
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	tests := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"missing scope", with("scope", ""), 400, "invalid_request"},
		{"scope without openid", with("scope", "email"), 400, "invalid_scope"},
		{"unknown scope", with("scope", "openid payments"), 400, "invalid_scope"},
		{"no hint", with("login_hint", ""), 400, "invalid_request"},
		{"two hints", func() url.Values { v := with("login_hint", "u1"); v.Set("id_token_hint", "x.y.z"); return v }(), 400, "invalid_request"},
		{"unknown user", with("login_hint", "nobody@example.jp"), 400, "unknown_user_id"},
		{"user without device", with("login_hint", "nodevice@example.jp"), 403, "access_denied"},
		{"binding message too long", with("binding_message", strings.Repeat("x", 65)), 400, "invalid_binding_message"},
		{"binding message with control character", with("binding_message", "Order\n1234"), 400, "invalid_binding_message"},
		{"binding message with bidi override", with("binding_message", "Order \u202e4321"), 400, "invalid_binding_message"},
		{"requested_expiry not a number", with("requested_expiry", "soon"), 400, "invalid_request"},
		{"requested_expiry zero", with("requested_expiry", "0"), 400, "invalid_request"},
		{"bad id_token_hint", func() url.Values { v := with("login_hint", ""); v.Set("id_token_hint", "x.y.z"); return v }(), 400, "invalid_request"},
		{"request object beside parameters", with("request", "a.b.c"), 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, f.start(tt.form), tt.status, tt.code)
		})
	}
	t.Run("repeated parameter", func(t *testing.T) {
		r := f.postBody("/bc-authorize", "application/x-www-form-urlencoded", "scope=openid&login_hint=u1&login_hint=u1", f.clientID, f.secret)
		wantError(t, r, 400, "invalid_request")
	})
	t.Run("not a form", func(t *testing.T) {
		r := f.postBody("/bc-authorize", "application/json", `{"scope":"openid"}`, f.clientID, f.secret)
		wantError(t, r, 400, "invalid_request")
	})
	t.Run("invalid_client", func(t *testing.T) {
		r := f.postForm("/bc-authorize", ok, f.clientID, "wrong-secret")
		wantError(t, r, 401, "invalid_client")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
		}
		wantError(t, f.postForm("/bc-authorize", ok, "", ""), 401, "invalid_client")
	})
	t.Run("requested_expiry is honoured and capped", func(t *testing.T) {
		r := f.start(with("requested_expiry", "60"))
		if r.body["expires_in"] != float64(60) {
			t.Errorf("expires_in = %v, want 60", r.body["expires_in"])
		}
		r = f.start(with("requested_expiry", "999999"))
		if r.body["expires_in"] != float64(1800) {
			t.Errorf("expires_in = %v, want the 1800 s cap", r.body["expires_in"])
		}
	})
}

func TestUserCode(t *testing.T) {
	f := newFlow(t, map[string]any{"backchannel_user_code_parameter": true})
	f.enrolDevice("u1")
	form := func(code string) url.Values {
		v := url.Values{"scope": {"openid"}, "login_hint": {"u1"}}
		if code != "" {
			v.Set("user_code", code)
		}
		return v
	}
	wantError(t, f.start(form("")), 400, "missing_user_code")
	wantError(t, f.start(form("0000")), 400, "invalid_user_code")
	if r := f.start(form("4711")); r.status != 200 {
		t.Fatalf("right user_code = %d %v", r.status, r.body)
	}
	// The limit is 3 failures; then even the right code is refused.
	for range 3 {
		wantError(t, f.start(form("0000")), 400, "invalid_user_code")
	}
	wantError(t, f.start(form("4711")), 400, "invalid_user_code")
	f.admin(http.MethodPost, "/users/u1/unlock", nil, 200)
	if r := f.start(form("4711")); r.status != 200 {
		t.Fatalf("after unlock = %d %v", r.status, r.body)
	}
}

// clientKey is a client's ES256 key and its public JWK Set.
type clientKey struct {
	priv *ecdsa.PrivateKey
	jwks map[string]any
}

func newClientKey(t *testing.T) clientKey {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: &priv.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	var set map[string]any
	json.Unmarshal(b, &set)
	return clientKey{priv: priv, jwks: set}
}

func (k clientKey) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

func TestSignedRequestObject(t *testing.T) {
	key := newClientKey(t)
	f := newFlow(t, map[string]any{"jwks": key.jwks, "backchannel_authentication_request_signing_alg": "ES256"})
	f.enrolDevice("u1")
	now := f.clock.Now()
	claims := func(change map[string]any) map[string]any {
		c := map[string]any{
			"iss": f.clientID, "aud": f.URL, "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
			"jti": rand.Text(), "scope": "openid email", "login_hint": "hana", "binding_message": "Signed 42", "requested_expiry": 120,
		}
		for k, v := range change {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	req := func(jws string) response {
		return f.start(url.Values{"request": {jws}})
	}
	good := key.sign(t, claims(nil))
	r := req(good)
	if r.status != 200 || r.body["expires_in"] != float64(120) {
		t.Fatalf("signed request = %d %v, want 200 with expires_in 120", r.status, r.body)
	}
	wantError(t, req(good), 400, "invalid_request") // jti replay

	other := newClientKey(t)
	tests := []struct {
		name string
		jws  string
		code string
	}{
		{"unsigned parameters", "", "invalid_request"},
		{"wrong key", other.sign(t, claims(nil)), "invalid_request"},
		{"wrong aud", key.sign(t, claims(map[string]any{"aud": "https://elsewhere.example"})), "invalid_request"},
		{"wrong iss", key.sign(t, claims(map[string]any{"iss": "someone-else"})), "invalid_request"},
		{"no exp", key.sign(t, claims(map[string]any{"exp": nil})), "invalid_request"},
		{"expired", key.sign(t, claims(map[string]any{"exp": now.Add(-5 * time.Minute).Unix()})), "invalid_request"},
		{"nbf in the future", key.sign(t, claims(map[string]any{"nbf": now.Add(10 * time.Minute).Unix()})), "invalid_request"},
		{"no jti", key.sign(t, claims(map[string]any{"jti": nil})), "invalid_request"},
		{"alg none", unsignedJWT(claims(nil)), "invalid_request"},
		{"claims are the parameters: bad binding message", key.sign(t, claims(map[string]any{"binding_message": strings.Repeat("y", 100)})), "invalid_binding_message"},
		{"claims are the parameters: no openid", key.sign(t, claims(map[string]any{"scope": "email"})), "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.jws == "" {
				wantError(t, f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}}), 400, tt.code)
				return
			}
			wantError(t, req(tt.jws), 400, tt.code)
		})
	}
}

func unsignedJWT(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(b) + "."
}

func TestLoginHintToken(t *testing.T) {
	key := newClientKey(t)
	f := newFlow(t, map[string]any{"jwks": key.jwks})
	f.enrolDevice("u1")
	now := f.clock.Now()
	start := func(tok string) response {
		return f.start(url.Values{"scope": {"openid"}, "login_hint_token": {tok}})
	}
	good := key.sign(t, map[string]any{"iss": f.clientID, "aud": f.URL, "exp": now.Add(time.Minute).Unix(), "sub_id": map[string]any{"format": "email", "email": "hana@example.jp"}})
	if r := start(good); r.status != 200 {
		t.Fatalf("login_hint_token = %d %v", r.status, r.body)
	}
	expired := key.sign(t, map[string]any{"iss": f.clientID, "exp": now.Add(-time.Hour).Unix(), "sub": "u1"})
	wantError(t, start(expired), 400, "expired_login_hint_token")
	unknown := key.sign(t, map[string]any{"iss": f.clientID, "exp": now.Add(time.Minute).Unix(), "sub": "nobody"})
	wantError(t, start(unknown), 400, "unknown_user_id")
	forged := newClientKey(t).sign(t, map[string]any{"iss": f.clientID, "exp": now.Add(time.Minute).Unix(), "sub": "u1"})
	wantError(t, start(forged), 400, "invalid_request")
}

func TestIDTokenHint(t *testing.T) {
	f := newFlow(t, nil)
	dev := f.enrolDevice("u1")
	r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}})
	p, _ := dev.Pending(t.Context())
	dev.Decide(t.Context(), p[0], true)
	f.clock.Advance(5 * time.Second)
	idToken := f.poll(r.str("auth_req_id")).str("id_token")

	r = f.start(url.Values{"scope": {"openid"}, "id_token_hint": {idToken}})
	if r.status != 200 {
		t.Fatalf("id_token_hint = %d %v", r.status, r.body)
	}
	// Another client may not use it.
	otherID, otherSecret := f.createClient(nil)
	wantError(t, f.postForm("/bc-authorize", url.Values{"scope": {"openid"}, "id_token_hint": {idToken}}, otherID, otherSecret), 400, "invalid_request")
}

// TestDeviceSeesClientLogo: the device gets the client's logo_uri with
// the summary, and a decision over that summary is accepted (the logo is
// not part of the signed canonical form).
func TestDeviceSeesClientLogo(t *testing.T) {
	f := newFlow(t, map[string]any{"logo_uri": "https://rp.example/logo.png"})
	dev := f.enrolDevice("u1")
	if r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"hana"}}); r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	pending, err := dev.Pending(t.Context())
	if err != nil || len(pending) != 1 {
		t.Fatalf("Pending = %v, %v", pending, err)
	}
	if pending[0].LogoURI != "https://rp.example/logo.png" {
		t.Errorf("summary logo_uri = %q, want the client's", pending[0].LogoURI)
	}
	if err := dev.Decide(t.Context(), pending[0], true); err != nil {
		t.Errorf("Decide over a summary with a logo: %v", err)
	}
}
