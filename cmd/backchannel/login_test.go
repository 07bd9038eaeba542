package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

// loginOP is a minimal OP for `backchannel login`: discovery, a JWKS,
// and backchannel and token endpoints that approve, or deny, at once.
type loginOP struct {
	t      *testing.T
	srv    *httptest.Server
	key    *ecdsa.PrivateKey
	deny   bool
	onAuth func() // called after the backchannel request is answered

	mu       sync.Mutex
	authForm url.Values
	auth     string // Authorization header of the backchannel request
}

func newLoginOP(t *testing.T) *loginOP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	op := &loginOP{t: t, key: key}
	op.srv = httptest.NewServer(op)
	t.Cleanup(op.srv.Close)
	return op
}

func (op *loginOP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	iss := op.srv.URL
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		reply(http.StatusOK, map[string]any{
			"issuer":                                iss,
			"backchannel_authentication_endpoint":   iss + "/bc-authorize",
			"token_endpoint":                        iss + "/token",
			"jwks_uri":                              iss + "/jwks",
			"id_token_signing_alg_values_supported": []string{"ES256"},
		})
	case "/jwks":
		reply(http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: op.key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	case "/bc-authorize":
		r.ParseForm()
		op.mu.Lock()
		op.authForm, op.auth = r.PostForm, r.Header.Get("Authorization")
		op.mu.Unlock()
		reply(http.StatusOK, map[string]any{"auth_req_id": "areq-1", "expires_in": 120, "interval": 1})
		if op.onAuth != nil {
			op.onAuth()
		}
	case "/token":
		if op.deny {
			reply(http.StatusBadRequest, map[string]string{"error": "access_denied"})
			return
		}
		now := time.Now()
		claims, _ := json.Marshal(map[string]any{
			"iss": iss, "sub": "alice", "aud": "rp-1",
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "acr": "urn:example:loa:2",
		})
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: op.key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
		if err != nil {
			op.t.Error(err)
			return
		}
		jws, _ := signer.Sign(claims)
		idToken, _ := jws.CompactSerialize()
		reply(http.StatusOK, map[string]any{
			"access_token": "at-1", "token_type": "Bearer", "expires_in": 300,
			"refresh_token": "rt-1", "scope": "openid profile", "id_token": idToken,
		})
	default:
		http.NotFound(w, r)
	}
}

// request returns the form and Authorization header of the last
// backchannel request.
func (op *loginOP) request() (url.Values, string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.authForm, op.auth
}

// runLogin runs `backchannel login args…` with env as the environment.
func runLogin(ctx context.Context, env map[string]string, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return env[k] }
	err = run(ctx, append([]string{"login"}, args...), getenv, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestLoginJSON(t *testing.T) {
	t.Parallel()
	op := newLoginOP(t)
	env := map[string]string{"BACKCHANNEL_ISSUER": op.srv.URL, "BACKCHANNEL_CLIENT_ID": "rp-1", "BACKCHANNEL_CLIENT_SECRET": "s3cret"}
	stdout, stderr, err := runLogin(t.Context(), env,
		"--login-hint", "alice", "--binding-message", "W4SX", "--scope", "openid profile",
		"--acr-values", "urn:a urn:b", "--requested-expiry", "2m", "--json")
	if err != nil {
		t.Fatalf("login = %v (stderr %q)", err, stderr)
	}
	if !strings.Contains(stderr, `"W4SX"`) || !strings.Contains(stderr, "2m0s") {
		t.Errorf("stderr = %q, want the binding message and the expiry", stderr)
	}
	wantForm := url.Values{
		"scope":            {"openid profile"},
		"login_hint":       {"alice"},
		"binding_message":  {"W4SX"},
		"acr_values":       {"urn:a urn:b"},
		"requested_expiry": {"120"},
	}
	form, auth := op.request()
	if diff := cmp.Diff(wantForm, form); diff != "" {
		t.Errorf("backchannel request form (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(auth, "Basic ") {
		t.Errorf("Authorization = %q, want client_secret_basic", auth)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout %q is not JSON: %v", stdout, err)
	}
	claims, _ := got["id_token_claims"].(map[string]any)
	delete(got, "id_token_claims")
	delete(got, "id_token")
	want := map[string]any{"access_token": "at-1", "token_type": "Bearer", "expires_in": float64(300), "refresh_token": "rt-1", "scope": "openid profile"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("login --json (-want +got):\n%s", diff)
	}
	if claims["sub"] != "alice" || claims["acr"] != "urn:example:loa:2" {
		t.Errorf("id_token_claims = %v", claims)
	}
}

func TestLoginSummary(t *testing.T) {
	t.Parallel()
	op := newLoginOP(t)
	stdout, _, err := runLogin(t.Context(), nil, "--issuer", op.srv.URL, "--client-id", "rp-1", "--client-secret", "s3cret", "--login-hint", "alice")
	if err != nil {
		t.Fatalf("login = %v", err)
	}
	for _, want := range []string{"Signed in as alice", "urn:example:loa:2", "at-1", "rt-1", `"sub": "alice"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout = %q, want it to contain %q", stdout, want)
		}
	}
}

func TestLoginPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	op := newLoginOP(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: key, KeyID: "rp-key", Algorithm: "ES256"})
	file := filepath.Join(t.TempDir(), "key.jwk")
	if err := os.WriteFile(file, jwk, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := runLogin(t.Context(), nil, "--issuer", op.srv.URL, "--client-id", "rp-1", "--key-file", file, "--login-hint", "alice")
	if err != nil {
		t.Fatalf("login = %v", err)
	}
	form, _ := op.request()
	assertion := form.Get("client_assertion")
	jws, err := jose.ParseSignedCompact(assertion, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("client_assertion %q: %v", assertion, err)
	}
	if _, err := jws.Verify(key.Public()); err != nil || jws.Signatures[0].Protected.KeyID != "rp-key" {
		t.Errorf("client_assertion does not verify with kid rp-key: %v", err)
	}
}

func TestLoginFailures(t *testing.T) {
	t.Parallel()
	t.Run("denied", func(t *testing.T) {
		t.Parallel()
		op := newLoginOP(t)
		op.deny = true
		_, _, err := runLogin(t.Context(), nil, "--issuer", op.srv.URL, "--client-id", "rp-1", "--client-secret", "s", "--login-hint", "alice")
		if err == nil || err.Error() != "the user denied the request" {
			t.Errorf("login = %v, want the denial", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		op := newLoginOP(t)
		ctx, cancel := context.WithCancel(t.Context())
		op.onAuth = cancel
		_, _, err := runLogin(ctx, nil, "--issuer", op.srv.URL, "--client-id", "rp-1", "--client-secret", "s", "--login-hint", "alice")
		if err == nil || err.Error() != "login cancelled" {
			t.Errorf("login = %v, want login cancelled", err)
		}
	})
	t.Run("missing flags", func(t *testing.T) {
		t.Parallel()
		_, _, err := runLogin(t.Context(), nil)
		for _, want := range []string{"BACKCHANNEL_ISSUER", "BACKCHANNEL_CLIENT_ID", "--login-hint", "--client-secret"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("login = %v, want an error mentioning %s", err, want)
			}
		}
	})
}

func TestLoadLoginKey(t *testing.T) {
	t.Parallel()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	sec1, _ := x509.MarshalECPrivateKey(key)
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: key, KeyID: "k", Algorithm: "ES256"})
	public, _ := json.Marshal(jose.JSONWebKey{Key: key.Public(), KeyID: "k"})
	tests := []struct {
		name     string
		content  []byte
		wantKid  string
		wantFail bool
	}{
		{name: "PKCS #8 PEM", content: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})},
		{name: "SEC 1 PEM", content: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})},
		{name: "private JWK", content: jwk, wantKid: "k"},
		{name: "public JWK", content: public, wantFail: true},
		{name: "certificate PEM", content: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), wantFail: true},
		{name: "junk", content: []byte("junk"), wantFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(file, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			signer, kid, _, err := loadLoginKey(file)
			if tt.wantFail {
				if err == nil {
					t.Errorf("loadLoginKey() = nil error, want failure")
				}
				return
			}
			if err != nil {
				t.Fatalf("loadLoginKey() = %v", err)
			}
			if !key.PublicKey.Equal(signer.Public()) || kid != tt.wantKid {
				t.Errorf("loadLoginKey() = key %v, kid %q; want the test key, kid %q", signer.Public(), kid, tt.wantKid)
			}
		})
	}
}
