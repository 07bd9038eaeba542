package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net"
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

	// notify, if set, is "ping", "push" or "push-denied": after answering
	// the backchannel request the OP POSTs that notification to
	// notifyURL, and sends the response status to notified.
	notify    string
	notifyURL string
	notified  chan int

	mu         sync.Mutex
	authForm   url.Values
	auth       string // Authorization header of the backchannel request
	tokenCalls int
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
		if op.notify != "" {
			go op.sendNotification(r.PostForm.Get("client_notification_token"))
		}
	case "/token":
		op.mu.Lock()
		op.tokenCalls++
		op.mu.Unlock()
		if op.deny {
			reply(http.StatusBadRequest, map[string]string{"error": "access_denied"})
			return
		}
		reply(http.StatusOK, op.tokenResponse(nil))
	default:
		http.NotFound(w, r)
	}
}

// tokenResponse returns a token response whose ID token has the claims
// extra besides the usual ones.
func (op *loginOP) tokenResponse(extra map[string]any) map[string]any {
	now := time.Now()
	claims := map[string]any{
		"iss": op.srv.URL, "sub": "alice", "aud": "rp-1",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "acr": "urn:example:loa:2",
	}
	maps.Copy(claims, extra)
	payload, _ := json.Marshal(claims)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: op.key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		op.t.Error(err)
		return nil
	}
	jws, _ := signer.Sign(payload)
	idToken, _ := jws.CompactSerialize()
	return map[string]any{
		"access_token": "at-1", "token_type": "Bearer", "expires_in": 300,
		"refresh_token": "rt-1", "scope": "openid profile", "id_token": idToken,
	}
}

// sendNotification POSTs the notification op.notify to op.notifyURL
// with the client's notification token (CIBA Core §10.2, §10.3, §12).
func (op *loginOP) sendNotification(tok string) {
	var body map[string]any
	switch op.notify {
	case "ping":
		body = map[string]any{"auth_req_id": "areq-1"}
	case "push":
		// CIBA Core §10.3.1: the ID token binds the access token, the
		// refresh token and the auth_req_id.
		body = op.tokenResponse(map[string]any{
			"at_hash":                                 leftHalfSHA256("at-1"),
			"urn:openid:params:jwt:claim:rt_hash":     leftHalfSHA256("rt-1"),
			"urn:openid:params:jwt:claim:auth_req_id": "areq-1",
		})
		body["auth_req_id"] = "areq-1"
	case "push-denied":
		body = map[string]any{"auth_req_id": "areq-1", "error": "access_denied", "error_description": "the user said no"}
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, op.notifyURL, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		op.t.Errorf("notification: %v", err)
		op.notified <- 0
		return
	}
	resp.Body.Close()
	op.notified <- resp.StatusCode
}

func leftHalfSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// tokenRequests returns how many token requests the OP has answered.
func (op *loginOP) tokenRequests() int {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.tokenCalls
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, for login's notification listener.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
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

func TestLoginNotified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode, notify   string
		wantTokenCalls int
		wantStderr     string
		wantErr        string // empty: login succeeds
	}{
		{mode: "ping", notify: "ping", wantTokenCalls: 1, wantStderr: "after a ping"},
		{mode: "push", notify: "push", wantTokenCalls: 0, wantStderr: "delivered by push"},
		{mode: "push", notify: "push-denied", wantErr: "the user denied the request"},
	}
	for _, tt := range tests {
		t.Run(tt.notify, func(t *testing.T) {
			t.Parallel()
			op := newLoginOP(t)
			addr := freeAddr(t)
			op.notify, op.notifyURL, op.notified = tt.notify, "http://"+addr+"/hook", make(chan int, 1)
			stdout, stderr, err := runLogin(t.Context(), nil,
				"--issuer", op.srv.URL, "--client-id", "rp-1", "--client-secret", "s3cret", "--login-hint", "alice",
				"--mode", tt.mode, "--listen", addr, "--notify-path", "/hook", "--json")
			if status := <-op.notified; status != http.StatusNoContent {
				t.Errorf("notification status = %d, want 204", status)
			}
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("login = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("login = %v (stderr %q)", err, stderr)
			}
			form, _ := op.request()
			if tok := form.Get("client_notification_token"); len(tok) < 22 {
				t.Errorf("client_notification_token = %q, want a fresh random token", tok)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to say %q", stderr, tt.wantStderr)
			}
			if n := op.tokenRequests(); n != tt.wantTokenCalls {
				t.Errorf("token requests = %d, want %d", n, tt.wantTokenCalls)
			}
			var got loginOutput
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("stdout %q is not JSON: %v", stdout, err)
			}
			if got.AccessToken != "at-1" || got.RefreshToken != "rt-1" || got.IDTokenClaims["sub"] != "alice" {
				t.Errorf("login --json = %+v", got)
			}
			// The listener is closed once login returns.
			if conn, err := net.Dial("tcp", addr); err == nil {
				conn.Close()
				t.Errorf("notification listener %s still accepts connections after login", addr)
			}
		})
	}
}

func TestLoginModeFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"ping without --listen", []string{"--mode", "ping"}, "--mode ping needs --listen"},
		{"push without --listen", []string{"--mode", "push"}, "--mode push needs --listen"},
		{"unknown mode", []string{"--mode", "carrier-pigeon"}, `--mode "carrier-pigeon" is not poll, ping or push`},
		{"poll with --listen", []string{"--listen", "127.0.0.1:0"}, "--listen is for --mode ping or push"},
		{"relative notify path", []string{"--mode", "ping", "--listen", "127.0.0.1:0", "--notify-path", "cb"}, "--notify-path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--issuer", "http://127.0.0.1:1", "--client-id", "rp-1", "--client-secret", "s", "--login-hint", "alice"}, tt.args...)
			_, _, err := runLogin(t.Context(), nil, args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("login %v = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
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
