package ciba_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/store/sqlite"
	"github.com/backchannel/backchannel/token"
)

const fuzzIssuer = "https://op.example"

// fuzzEnv is a Service on a real SQLite store with one client that signs
// with key, one user ("alice", alice@example.com) and her device.
type fuzzEnv struct {
	svc    *ciba.Service
	client store.Client
	key    *ecdsa.PrivateKey
	keys   *keys.Set
	now    time.Time
}

func newFuzzEnv(tb testing.TB) *fuzzEnv {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "backchannel.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { return now }
	ks, err := keys.Load(ctx, st, keys.Config{Now: clock})
	if err != nil {
		tb.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		tb.Fatal(err)
	}
	c := store.Client{
		ID:                      "fuzz-client",
		Name:                    "Fuzz",
		GrantTypes:              []string{oauth.GrantCIBA},
		TokenEndpointAuthMethod: "private_key_jwt",
		JWKS:                    jwks,
		DeliveryMode:            store.Poll,
	}
	if err := st.CreateClient(ctx, c); err != nil {
		tb.Fatal(err)
	}
	if err := st.CreateUser(ctx, store.User{Subject: "alice", Email: "alice@example.com", PreferredUsername: "alice", CreatedAt: now}); err != nil {
		tb.Fatal(err)
	}
	code := []byte("enrolment-code-hash-0123456789ab")
	if err := st.CreateEnrolment(ctx, store.Enrolment{CodeHash: code, Subject: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		tb.Fatal(err)
	}
	devKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := json.Marshal(jose.JSONWebKey{Key: devKey.Public(), Algorithm: "ES256"})
	if err := st.RedeemEnrolment(ctx, code, now, store.Device{ID: "dev1", Subject: "alice", Name: "phone", PublicKey: pub, CreatedAt: now}); err != nil {
		tb.Fatal(err)
	}
	svc := &ciba.Service{
		Store:                    st,
		Tokens:                   &token.Issuer{Issuer: fuzzIssuer, Keys: ks, Now: clock},
		Keys:                     ks,
		ClientKeys:               &keys.ClientKeys{Now: clock},
		Issuer:                   fuzzIssuer,
		Now:                      clock,
		AuthorizationDetailTypes: []string{"payment_initiation"},
	}
	return &fuzzEnv{svc: svc, client: c, key: key, keys: ks, now: now}
}

// sign signs claims with the client's key.
func (e *fuzzEnv) sign(tb testing.TB, claims map[string]any) string {
	tb.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: e.key, KeyID: "k1"}}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	obj, err := sig.Sign(b)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func (e *fuzzEnv) requestObject(tb testing.TB, jti string, extra map[string]any) string {
	c := map[string]any{
		"iss": e.client.ID, "aud": fuzzIssuer, "jti": jti,
		"iat": e.now.Unix(), "nbf": e.now.Unix(), "exp": e.now.Add(5 * time.Minute).Unix(),
		"scope": "openid", "login_hint": "alice",
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return e.sign(tb, c)
}

func (e *fuzzEnv) hintToken(tb testing.TB, claims map[string]any) string {
	c := map[string]any{"iss": e.client.ID, "aud": fuzzIssuer, "exp": e.now.Add(time.Minute).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	return e.sign(tb, c)
}

// start runs Start and fails the test unless the outcome is a success or
// an *oauth.Error: hostile input must never be a server fault.
func (e *fuzzEnv) start(t *testing.T, form oauth.Form) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	started, err := e.svc.Start(ctx, e.client, form)
	if err != nil {
		var oe *oauth.Error
		if !errors.As(err, &oe) {
			t.Fatalf("Start(%q) = %v, want an *oauth.Error", form, err)
		}
		if oe.Code == "" || oe.Code == oauth.ServerError {
			t.Fatalf("Start(%q) = %v, want a client error", form, err)
		}
		return
	}
	if started.AuthReqID == "" || started.ExpiresIn <= 0 {
		t.Fatalf("Start(%q) = %+v, want an auth_req_id and expires_in", form, started)
	}
}

func FuzzBackchannelRequest(f *testing.F) {
	e := newFuzzEnv(f)
	idToken, err := e.keys.Sign("ES256", "JWT", map[string]any{"iss": fuzzIssuer, "sub": "alice", "aud": e.client.ID, "exp": e.now.Add(time.Hour).Unix()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("openid", "alice", "", "", "Order 42", "", "", "", "", "", false)
	f.Add("openid email", "alice@example.com", "", "", "", "120", "", "", "acr_values", "urn:a urn:b", false)
	f.Add("openid", "", e.hintToken(f, map[string]any{"sub_id": map[string]string{"format": "email", "email": "alice@example.com"}}), "", "", "", "", "", "", "", false)
	f.Add("openid", "", "", idToken, "", "", "", "", "", "", false)
	f.Add("openid", "", "", "", "", "", e.requestObject(f, "seed-1", nil), "", "", "", false)
	f.Add("openid", "alice", "", "", "", "", "", `[{"type":"payment_initiation","actions":["initiate"]}]`, "", "", false)
	f.Add("openid", "alice", "", "", "rtl \u202e", "-1", "", "", "user_code", strings.Repeat("9", 300), false)
	f.Add("profile", "nobody", "x.y.z", "a.b.c", "", "99999999999999999999", "..", "[]", "client_notification_token", "", false)
	f.Add("openid", "nobody@example.com", "", "", "Order 7", "60", "", "", "", "", true)
	f.Fuzz(func(t *testing.T, scope, loginHint, hintToken, idTokenHint, binding, expiry, request, details, extraKey, extraVal string, hide bool) {
		e.svc.HideUnknownUsers = hide // ciba.hide_unknown_users
		form := oauth.Form{}
		set := func(k, v string) {
			if v != "" {
				form[k] = v
			}
		}
		set("scope", scope)
		set("login_hint", loginHint)
		set("login_hint_token", hintToken)
		set("id_token_hint", idTokenHint)
		set("binding_message", binding)
		set("requested_expiry", expiry)
		set("request", request)
		set("authorization_details", details)
		if extraKey != "" {
			form[extraKey] = extraVal
		}
		e.start(t, form)
	})
}

func FuzzRequestObject(f *testing.F) {
	e := newFuzzEnv(f)
	good := e.requestObject(f, "seed-1", nil)
	f.Add(good)
	f.Add(e.requestObject(f, "seed-2", map[string]any{"requested_expiry": 60, "binding_message": "Order 7", "authorization_details": []any{map[string]any{"type": "payment_initiation"}}}))
	f.Add(e.requestObject(f, "seed-3", map[string]any{"exp": 1e300, "nbf": -1, "iat": "now"}))
	f.Add(e.requestObject(f, "seed-4", map[string]any{"aud": []any{"x", fuzzIssuer}, "scope": []any{"openid"}}))
	f.Add(e.requestObject(f, "", map[string]any{"iss": nil, "login_hint_token": e.hintToken(f, map[string]any{"login_hint": "alice"})}))
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add(good[:len(good)-8])
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJmdXp6LWNsaWVudCJ9.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, jws string) {
		e.start(t, oauth.Form{"request": jws, "client_id": e.client.ID})
	})
}

func FuzzLoginHintToken(f *testing.F) {
	e := newFuzzEnv(f)
	f.Add(e.hintToken(f, map[string]any{"sub_id": map[string]string{"format": "email", "email": "alice@example.com"}}))
	f.Add(e.hintToken(f, map[string]any{"sub_id": map[string]string{"format": "iss_sub", "iss": fuzzIssuer, "sub": "alice"}}))
	f.Add(e.hintToken(f, map[string]any{"sub_id": map[string]any{"format": 7}}))
	f.Add(e.hintToken(f, map[string]any{"login_hint": "alice", "exp": "soon"}))
	f.Add(e.hintToken(f, map[string]any{"sub": "alice", "exp": 1e308, "aud": []any{1, 2}}))
	f.Add(e.hintToken(f, map[string]any{"iss": "someone-else", "sub": "alice"}))
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJmdXp6LWNsaWVudCIsInN1YiI6ImFsaWNlIn0.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, jws string) {
		e.start(t, oauth.Form{"scope": "openid", "login_hint_token": jws})
	})
}

func FuzzIDTokenHint(f *testing.F) {
	e := newFuzzEnv(f)
	good, err := e.keys.Sign("ES256", "JWT", map[string]any{"iss": fuzzIssuer, "sub": "alice", "aud": e.client.ID})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(e.hintToken(f, map[string]any{"iss": fuzzIssuer, "sub": "alice", "aud": e.client.ID}))
	f.Add(good[:len(good)-4])
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, jws string) {
		e.start(t, oauth.Form{"scope": "openid", "id_token_hint": jws})
	})
}
