package client_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/client"
)

const (
	testClientID = "rp-1"
	testSecret   = "a-client-secret-of-at-least-32-bytes!"
)

// fakeOP is an OpenID Provider in miniature: discovery, a JWKS with an
// ES256 key, and backchannel authentication and token endpoints whose
// answers each test scripts through the function fields.
type fakeOP struct {
	t        *testing.T
	issuer   string
	http     *http.Client
	clientID string // the audience of ID tokens

	key *ecdsa.PrivateKey // signs ID tokens
	kid string

	// meta, if set, edits the discovery document before it is served.
	meta func(m map[string]any)
	// authorize and token answer the two endpoints; a nil field answers
	// with the default (a started request, then tokens).
	authorize func(w http.ResponseWriter, r *http.Request)
	token     func(w http.ResponseWriter, r *http.Request)

	mu          sync.Mutex
	jwks        []jose.JSONWebKey // public keys served at /jwks
	jwksFetches int
}

// newFakeOP returns a fake OP served by an httptest server.
func newFakeOP(t *testing.T) *fakeOP {
	t.Helper()
	op := newOP(t)
	srv := httptest.NewServer(op)
	t.Cleanup(srv.Close)
	op.issuer = srv.URL
	op.http = srv.Client()
	return op
}

// newMemoryOP returns a fake OP reached through an in-memory transport,
// for synctest bubbles, where a real socket would stop the fake clock.
func newMemoryOP(t *testing.T) *fakeOP {
	t.Helper()
	op := newOP(t)
	op.issuer = "https://op.example"
	op.http = &http.Client{Transport: handlerTransport{op}}
	return op
}

func newOP(t *testing.T) *fakeOP {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	op := &fakeOP{t: t, key: key, kid: "op-key-1", clientID: testClientID}
	op.jwks = []jose.JSONWebKey{{Key: key.Public(), KeyID: op.kid, Algorithm: "ES256", Use: "sig"}}
	return op
}

// handlerTransport serves requests with a handler, in memory.
type handlerTransport struct{ h http.Handler }

func (tr handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	tr.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// config returns a client configuration for op with client_secret_basic.
func (op *fakeOP) config() client.Config {
	return client.Config{
		Issuer:       op.issuer,
		ClientID:     testClientID,
		ClientSecret: testSecret,
		HTTPClient:   op.http,
	}
}

// newClient returns a client of op with cfg.
func (op *fakeOP) newClient(cfg client.Config) *client.Client {
	op.t.Helper()
	c, err := client.New(op.t.Context(), cfg)
	if err != nil {
		op.t.Fatalf("New() = %v", err)
	}
	return c
}

func (op *fakeOP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method + " " + r.URL.Path {
	case "GET /.well-known/openid-configuration":
		m := map[string]any{
			"issuer":                                     op.issuer,
			"backchannel_authentication_endpoint":        op.issuer + "/bc-authorize",
			"token_endpoint":                             op.issuer + "/token",
			"jwks_uri":                                   op.issuer + "/jwks",
			"id_token_signing_alg_values_supported":      []string{"ES256", "PS256"},
			"token_endpoint_auth_methods_supported":      []string{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"},
			"backchannel_token_delivery_modes_supported": []string{"poll"},
			"grant_types_supported":                      []string{client.GrantCIBA},
		}
		if op.meta != nil {
			op.meta(m)
		}
		writeJSON(w, http.StatusOK, m)
	case "GET /jwks":
		op.mu.Lock()
		op.jwksFetches++
		set := jose.JSONWebKeySet{Keys: op.jwks}
		op.mu.Unlock()
		writeJSON(w, http.StatusOK, set)
	case "POST /bc-authorize":
		if op.authorize == nil {
			writeJSON(w, http.StatusOK, map[string]any{"auth_req_id": "areq-1", "expires_in": 120, "interval": 2})
			return
		}
		op.authorize(w, r)
	case "POST /token":
		if op.token == nil {
			op.writeTokens(w)
			return
		}
		op.token(w, r)
	default:
		http.NotFound(w, r)
	}
}

// fetches returns how many times the JWKS was fetched.
func (op *fakeOP) fetches() int {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.jwksFetches
}

// addKey adds a public key to the served JWKS.
func (op *fakeOP) addKey(k jose.JSONWebKey) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.jwks = append(op.jwks, k)
}

// claims returns the claims of a valid ID token for the test client,
// issued now, with the at_hash of accessToken if it is not empty.
func (op *fakeOP) claims(accessToken string) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":       op.issuer,
		"sub":       "alice",
		"aud":       op.clientID,
		"exp":       now.Add(5 * time.Minute).Unix(),
		"iat":       now.Unix(),
		"auth_time": now.Unix(),
		"acr":       "urn:example:loa:2",
		"amr":       []string{"hwk", "user"},
	}
	if accessToken != "" {
		c["at_hash"] = atHash(accessToken)
	}
	return c
}

// sign signs claims with op's ID token key.
func (op *fakeOP) sign(claims map[string]any) string {
	return signWith(op.t, jose.ES256, op.key, op.kid, claims)
}

// writeTokens writes a successful token response.
func (op *fakeOP) writeTokens(w http.ResponseWriter) {
	const at = "access-token-1"
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  at,
		"token_type":    "Bearer",
		"expires_in":    600,
		"refresh_token": "refresh-token-1",
		"scope":         "openid profile",
		"id_token":      op.sign(op.claims(at)),
	})
}

// signWith signs claims as a compact JWS with key, under kid.
func signWith(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// atHash is the at_hash of token for ES256 (OIDC Core §3.1.3.6).
func atHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// readForm parses the form of r.
func readForm(t *testing.T, r *http.Request) url.Values {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q, want application/x-www-form-urlencoded", ct)
	}
	if err := r.ParseForm(); err != nil {
		t.Errorf("ParseForm() = %v", err)
	}
	return r.PostForm
}

// verifyJWS verifies a compact JWS with key and returns its header and
// claims.
func verifyJWS(t *testing.T, raw string, alg jose.SignatureAlgorithm, key any) (jose.Header, map[string]any) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("ParseSignedCompact(%q) = %v", raw, err)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		t.Fatalf("Verify() = %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Protected, claims
}
