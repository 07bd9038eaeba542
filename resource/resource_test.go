package resource_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/resource"
	"github.com/backchannel/backchannel/store/sqlite"
)

// fakeOP serves discovery and a JWK Set, and signs tokens with its keys.
type fakeOP struct {
	*httptest.Server
	keys   *keys.Set
	issuer string // the issuer discovery names; the server's URL by default
}

func newFakeOP(t *testing.T) *fakeOP {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "op.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ks, err := keys.Load(t.Context(), st, keys.Config{})
	if err != nil {
		t.Fatal(err)
	}
	op := &fakeOP{keys: ks}
	op.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			iss := op.issuer
			if iss == "" {
				iss = op.URL
			}
			json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": op.URL + "/jwks"})
		case "/jwks":
			json.NewEncoder(w).Encode(ks.JWKS())
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(op.Close)
	return op
}

func (op *fakeOP) sign(t *testing.T, typ string, claims map[string]any) string {
	t.Helper()
	tok, err := op.keys.Sign("", typ, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestIssuerJWT(t *testing.T) {
	op := newFakeOP(t)
	now := time.Now()
	good := func() map[string]any {
		return map[string]any{"iss": op.URL, "aud": "https://api.example", "sub": "u1", "client_id": "rp",
			"scope": "openid accounts", "exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": "j"}
	}
	with := func(k string, v any) map[string]any {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	iss := &resource.Issuer{URL: op.URL, Audience: "https://api.example", HTTPClient: op.Client()}
	h := resource.Middleware(iss)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := resource.FromContext(r.Context())
		if !tok.HasScope("accounts") || tok.Subject != "u1" || tok.ClientID != "rp" {
			t.Errorf("token in the context = %+v", tok)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	call := func(tok string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "https://api.example/v1", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := call(op.sign(t, "at+jwt", good())); w.Code != http.StatusNoContent {
		t.Fatalf("valid JWT access token = %d %s", w.Code, w.Body)
	}
	tests := []struct {
		name string
		tok  string
	}{
		{"ID token typ", op.sign(t, "JWT", good())},
		{"other issuer", op.sign(t, "at+jwt", with("iss", "https://evil.example"))},
		{"other audience", op.sign(t, "at+jwt", with("aud", "https://other.example"))},
		{"audience list without us", op.sign(t, "at+jwt", with("aud", []string{"a", "b"}))},
		{"expired", op.sign(t, "at+jwt", with("exp", now.Add(-time.Second).Unix()))},
		{"no exp", op.sign(t, "at+jwt", with("exp", nil))},
		{"tampered", strings.Replace(op.sign(t, "at+jwt", good()), ".", ".e30", 1)},
	}
	for _, tt := range tests {
		w := call(tt.tok)
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `"invalid_token"`) {
			t.Errorf("%s = %d %s, want 401 invalid_token", tt.name, w.Code, w.Body)
		}
		if c := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(c, `Bearer error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate = %q", tt.name, c)
		}
	}
	// An audience list with us is fine.
	if w := call(op.sign(t, "at+jwt", with("aud", []string{"x", "https://api.example"}))); w.Code != http.StatusNoContent {
		t.Errorf("audience list with us = %d %s", w.Code, w.Body)
	}
	// Opaque tokens need introspection credentials this Issuer lacks.
	if w := call("opaque-token"); w.Code != http.StatusUnauthorized {
		t.Errorf("opaque token without introspection credentials = %d %s, want 401", w.Code, w.Body)
	}
}

func TestIssuerDiscoveryMismatch(t *testing.T) {
	op := newFakeOP(t)
	op.issuer = "https://evil.example"
	iss := &resource.Issuer{URL: op.URL, Audience: "https://api.example", HTTPClient: op.Client()}
	h := resource.Middleware(iss)(http.NotFoundHandler())
	r := httptest.NewRequest(http.MethodGet, "https://api.example/v1", nil)
	r.Header.Set("Authorization", "Bearer "+op.sign(t, "at+jwt", map[string]any{"iss": op.URL}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "temporarily_unavailable") {
		t.Errorf("discovery naming another issuer = %d %s, want 503", w.Code, w.Body)
	}
}
