package client_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/client"
)

func TestNewDiscovery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		meta    func(m map[string]any)
		wantErr string // empty: New succeeds
	}{
		{name: "ok"},
		{
			name:    "issuer mismatch",
			meta:    func(m map[string]any) { m["issuer"] = "https://evil.example" },
			wantErr: "does not match the configured issuer",
		},
		{
			name:    "issuer differs by a trailing slash",
			meta:    func(m map[string]any) { m["issuer"] = m["issuer"].(string) + "/" },
			wantErr: "does not match the configured issuer",
		},
		{
			name:    "no backchannel endpoint",
			meta:    func(m map[string]any) { delete(m, "backchannel_authentication_endpoint") },
			wantErr: "backchannel_authentication_endpoint",
		},
		{
			name:    "no token endpoint",
			meta:    func(m map[string]any) { delete(m, "token_endpoint") },
			wantErr: "token_endpoint",
		},
		{
			name:    "no jwks_uri",
			meta:    func(m map[string]any) { m["jwks_uri"] = "/jwks" },
			wantErr: "jwks_uri",
		},
		{
			name:    "only HMAC ID tokens",
			meta:    func(m map[string]any) { m["id_token_signing_alg_values_supported"] = []string{"HS256", "none"} },
			wantErr: "no asymmetric algorithm",
		},
		{
			name:    "auth method not supported",
			meta:    func(m map[string]any) { m["token_endpoint_auth_methods_supported"] = []string{"private_key_jwt"} },
			wantErr: "does not support client authentication method client_secret_basic",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op := newFakeOP(t)
			op.meta = tt.meta
			c, err := client.New(t.Context(), op.config())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New() = %v", err)
				}
				m := c.Metadata()
				if m.TokenEndpoint != op.issuer+"/token" || m.Issuer != op.issuer {
					t.Errorf("Metadata() = %+v", m)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewConfig(t *testing.T) {
	t.Parallel()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name    string
		cfg     client.Config
		wantErr []string
	}{
		{
			name:    "empty",
			cfg:     client.Config{},
			wantErr: []string{"issuer", "no client ID", "client_secret_basic needs a client secret"},
		},
		{
			name:    "issuer with query",
			cfg:     client.Config{Issuer: "https://op.example?x=1", ClientID: "c", ClientSecret: "s"},
			wantErr: []string{"issuer"},
		},
		{
			name:    "unknown method",
			cfg:     client.Config{Issuer: "https://op.example", ClientID: "c", AuthMethod: "magic"},
			wantErr: []string{`unknown client authentication method "magic"`},
		},
		{
			name:    "tls_client_auth without an HTTP client",
			cfg:     client.Config{Issuer: "https://op.example", ClientID: "c", AuthMethod: "tls_client_auth"},
			wantErr: []string{"tls_client_auth needs an HTTPClient"},
		},
		{
			name:    "short secret for client_secret_jwt",
			cfg:     client.Config{Issuer: "https://op.example", ClientID: "c", ClientSecret: "short", AuthMethod: client.AuthSecretJWT},
			wantErr: []string{"at least 32 bytes"},
		},
		{
			name:    "private_key_jwt without key",
			cfg:     client.Config{Issuer: "https://op.example", ClientID: "c", AuthMethod: client.AuthPrivateKey},
			wantErr: []string{"needs a private key"},
		},
		{
			name:    "alg does not suit key",
			cfg:     client.Config{Issuer: "https://op.example", ClientID: "c", AuthMethod: client.AuthPrivateKey, PrivateKey: key, SigningAlg: "PS256"},
			wantErr: []string{"does not suit"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := client.New(t.Context(), tt.cfg)
			if err == nil {
				t.Fatalf("New() = nil error, want %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("New() = %v, want an error containing %q", err, want)
				}
			}
		})
	}
}

// authCase is one client authentication method: how to configure the
// client, and how the fake OP checks and strips the credentials.
type authCase struct {
	name  string
	cfg   func(op *fakeOP, c *client.Config)
	check func(t *testing.T, op *fakeOP, now time.Time, r *http.Request, form url.Values)
}

func authCases(t *testing.T) []authCase {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privateKeyJWT := func(key crypto.Signer, alg jose.SignatureAlgorithm) authCase {
		return authCase{
			name: "private_key_jwt " + string(alg),
			cfg: func(_ *fakeOP, c *client.Config) {
				c.AuthMethod, c.ClientSecret, c.PrivateKey, c.KeyID = client.AuthPrivateKey, "", key, "rp-key-1"
			},
			check: func(t *testing.T, op *fakeOP, now time.Time, r *http.Request, form url.Values) {
				checkAssertion(t, op, now, r, form, alg, key.Public(), "rp-key-1")
			},
		}
	}
	return []authCase{
		{
			name: "client_secret_basic",
			cfg: func(op *fakeOP, c *client.Config) {
				// Characters that RFC 6749 §2.3.1 form-encoding changes.
				c.ClientID, c.ClientSecret = "rp:1 é", "s&cret:+/"
				op.clientID = c.ClientID
			},
			check: func(t *testing.T, _ *fakeOP, _ time.Time, r *http.Request, form url.Values) {
				want := "Basic " + base64.StdEncoding.EncodeToString([]byte("rp%3A1+%C3%A9:s%26cret%3A%2B%2F"))
				if got := r.Header.Get("Authorization"); got != want {
					t.Errorf("Authorization = %q, want %q", got, want)
				}
				id, secret, _ := r.BasicAuth()
				id, _ = url.QueryUnescape(id)
				secret, _ = url.QueryUnescape(secret)
				if id != "rp:1 é" || secret != "s&cret:+/" {
					t.Errorf("decoded basic credentials = %q, %q", id, secret)
				}
			},
		},
		{
			name: "client_secret_post",
			cfg:  func(_ *fakeOP, c *client.Config) { c.AuthMethod = client.AuthSecretPost },
			check: func(t *testing.T, _ *fakeOP, _ time.Time, r *http.Request, form url.Values) {
				if r.Header.Get("Authorization") != "" {
					t.Errorf("Authorization header sent with client_secret_post")
				}
				if form.Get("client_id") != testClientID || form.Get("client_secret") != testSecret {
					t.Errorf("form credentials = %q, %q", form.Get("client_id"), form.Get("client_secret"))
				}
				form.Del("client_id")
				form.Del("client_secret")
			},
		},
		{
			name: "client_secret_jwt",
			cfg:  func(_ *fakeOP, c *client.Config) { c.AuthMethod = client.AuthSecretJWT },
			check: func(t *testing.T, op *fakeOP, now time.Time, r *http.Request, form url.Values) {
				checkAssertion(t, op, now, r, form, jose.HS256, []byte(testSecret), "")
			},
		},
		privateKeyJWT(ecKey, jose.ES256),
		privateKeyJWT(rsaKey, jose.PS256),
		privateKeyJWT(edKey, jose.EdDSA),
	}
}

// checkAssertion checks an RFC 7523 client assertion and strips it and
// its companions from form.
func checkAssertion(t *testing.T, op *fakeOP, now time.Time, r *http.Request, form url.Values, alg jose.SignatureAlgorithm, key any, kid string) {
	t.Helper()
	if r.Header.Get("Authorization") != "" {
		t.Errorf("Authorization header sent with a client assertion")
	}
	if got := form.Get("client_assertion_type"); got != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		t.Errorf("client_assertion_type = %q", got)
	}
	if got := form.Get("client_id"); got != testClientID {
		t.Errorf("client_id = %q, want %q", got, testClientID)
	}
	header, claims := verifyJWS(t, form.Get("client_assertion"), alg, key)
	if header.KeyID != kid {
		t.Errorf("assertion kid = %q, want %q", header.KeyID, kid)
	}
	jti, _ := claims["jti"].(string)
	if b, err := base64.RawURLEncoding.DecodeString(jti); err != nil || len(b) != 16 {
		t.Errorf("jti = %q, want 128 random bits", jti)
	}
	delete(claims, "jti")
	want := map[string]any{
		"iss": testClientID,
		"sub": testClientID,
		"aud": op.issuer,
		"iat": float64(now.Unix()),
		"exp": float64(now.Unix() + 60),
	}
	if diff := cmp.Diff(want, claims); diff != "" {
		t.Errorf("assertion claims (-want +got):\n%s", diff)
	}
	form.Del("client_assertion")
	form.Del("client_assertion_type")
	form.Del("client_id")
}

func TestInitiateAndTokenAuthentication(t *testing.T) {
	t.Parallel()
	for _, ac := range authCases(t) {
		t.Run(ac.name, func(t *testing.T) {
			t.Parallel()
			op := newFakeOP(t)
			now := time.Now().Truncate(time.Second)
			var bcForm, tokenForm url.Values
			op.authorize = func(w http.ResponseWriter, r *http.Request) {
				bcForm = readForm(t, r)
				ac.check(t, op, now, r, bcForm)
				writeJSON(w, http.StatusOK, map[string]any{"auth_req_id": "areq-1", "expires_in": 120, "interval": 3})
			}
			op.token = func(w http.ResponseWriter, r *http.Request) {
				tokenForm = readForm(t, r)
				ac.check(t, op, now, r, tokenForm)
				op.writeTokens(w)
			}
			cfg := op.config()
			cfg.Now = func() time.Time { return now }
			ac.cfg(op, &cfg)
			c := op.newClient(cfg)

			started, err := c.Initiate(t.Context(), client.AuthRequest{
				Scopes:                  []string{"profile", "email openid"},
				LoginHint:               "alice@example.com",
				BindingMessage:          "W4SX",
				UserCode:                "1234",
				ACRValues:               []string{"urn:a", "urn:b"},
				RequestedExpiry:         119500 * time.Millisecond,
				ClientNotificationToken: "cnt-1",
				Extra:                   url.Values{"authorization_details": {`[{"type":"x"}]`}, "scope": {"ignored"}},
			})
			if err != nil {
				t.Fatalf("Initiate() = %v", err)
			}
			wantForm := url.Values{
				"scope":                     {"openid profile email"},
				"login_hint":                {"alice@example.com"},
				"binding_message":           {"W4SX"},
				"user_code":                 {"1234"},
				"acr_values":                {"urn:a urn:b"},
				"requested_expiry":          {"120"},
				"client_notification_token": {"cnt-1"},
				"authorization_details":     {`[{"type":"x"}]`},
			}
			if diff := cmp.Diff(wantForm, bcForm); diff != "" {
				t.Errorf("backchannel request form (-want +got):\n%s", diff)
			}
			wantStarted := client.Started{AuthReqID: "areq-1", ExpiresIn: 120 * time.Second, Interval: 3 * time.Second, ExpiresAt: now.Add(120 * time.Second)}
			if diff := cmp.Diff(wantStarted, started); diff != "" {
				t.Errorf("Initiate() (-want +got):\n%s", diff)
			}

			tokens, err := c.Token(t.Context(), started.AuthReqID)
			if err != nil {
				t.Fatalf("Token() = %v", err)
			}
			wantToken := url.Values{"grant_type": {client.GrantCIBA}, "auth_req_id": {"areq-1"}}
			if diff := cmp.Diff(wantToken, tokenForm); diff != "" {
				t.Errorf("token request form (-want +got):\n%s", diff)
			}
			if tokens.Claims == nil || tokens.Claims.Subject != "alice" {
				t.Errorf("Token().Claims = %+v, want subject alice", tokens.Claims)
			}
		})
	}
}

func TestInitiateRequestObject(t *testing.T) {
	t.Parallel()
	op := newFakeOP(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now().Truncate(time.Second)
	var form url.Values
	op.authorize = func(w http.ResponseWriter, r *http.Request) {
		form = readForm(t, r)
		writeJSON(w, http.StatusOK, map[string]any{"auth_req_id": "areq-2", "expires_in": 60})
	}
	cfg := op.config()
	cfg.PrivateKey, cfg.KeyID, cfg.Now = key, "rp-key-1", func() time.Time { return now }
	c := op.newClient(cfg)

	req := client.AuthRequest{
		Scopes:          []string{"profile"},
		LoginHint:       "alice",
		BindingMessage:  "W4SX",
		RequestedExpiry: 2 * time.Minute,
	}
	ro, err := c.RequestObject(req, 5*time.Minute)
	if err != nil {
		t.Fatalf("RequestObject() = %v", err)
	}
	started, err := c.Initiate(t.Context(), client.AuthRequest{Request: ro, LoginHint: "ignored"})
	if err != nil {
		t.Fatalf("Initiate() = %v", err)
	}
	if started.Interval != 0 || started.AuthReqID != "areq-2" {
		t.Errorf("Initiate() = %+v", started)
	}
	// client_secret_basic: the request object is the only form member.
	if diff := cmp.Diff(url.Values{"request": {ro}}, form); diff != "" {
		t.Errorf("form (-want +got):\n%s", diff)
	}
	header, claims := verifyJWS(t, ro, jose.ES256, key.Public())
	if header.KeyID != "rp-key-1" {
		t.Errorf("request object kid = %q", header.KeyID)
	}
	if _, ok := claims["jti"].(string); !ok {
		t.Errorf("request object has no jti")
	}
	delete(claims, "jti")
	want := map[string]any{
		"iss":              testClientID,
		"aud":              op.issuer,
		"iat":              float64(now.Unix()),
		"nbf":              float64(now.Unix()),
		"exp":              float64(now.Add(5 * time.Minute).Unix()),
		"scope":            "openid profile",
		"login_hint":       "alice",
		"binding_message":  "W4SX",
		"requested_expiry": float64(120),
	}
	if diff := cmp.Diff(want, claims); diff != "" {
		t.Errorf("request object claims (-want +got):\n%s", diff)
	}
}

func TestInitiateChecksHints(t *testing.T) {
	t.Parallel()
	op := newFakeOP(t)
	op.authorize = func(w http.ResponseWriter, r *http.Request) {
		t.Error("request sent despite a bad hint")
	}
	c := op.newClient(op.config())
	for _, req := range []client.AuthRequest{
		{},
		{LoginHint: "a", IDTokenHint: "b"},
		{LoginHint: "a", LoginHintToken: "b", IDTokenHint: "c"},
	} {
		if _, err := c.Initiate(t.Context(), req); err == nil || !strings.Contains(err.Error(), "exactly one") {
			t.Errorf("Initiate(%+v) = %v, want the exactly-one-hint error", req, err)
		}
	}
}

func TestInitiateErrors(t *testing.T) {
	t.Parallel()
	const htmlPrefix = "<html> <body>upstream down</body> </html>"
	tests := []struct {
		name      string
		respond   func(w http.ResponseWriter)
		wantOAuth *client.Error // nil: a non-OAuth error containing wantErr
		wantErr   string
	}{
		{
			name: "oauth error",
			respond: func(w http.ResponseWriter) {
				writeOAuthError(w, http.StatusBadRequest, "unknown_user_id", "no such user")
			},
			wantOAuth: &client.Error{Code: client.UnknownUserID, Description: "no such user", StatusCode: 400},
		},
		{
			name:      "access_denied is 403",
			respond:   func(w http.ResponseWriter) { writeOAuthError(w, http.StatusForbidden, "access_denied", "") },
			wantOAuth: &client.Error{Code: client.AccessDenied, StatusCode: 403},
		},
		{
			name: "HTML error page",
			respond: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadGateway)
				w.Write([]byte("<html>\n<body>upstream\x00 down</body>\n</html>" + strings.Repeat("x", 5000)))
			},
			wantOAuth: &client.Error{Description: "Bad Gateway: " + htmlPrefix + strings.Repeat("x", 200-len(htmlPrefix)) + "…", StatusCode: 502},
		},
		{
			name: "huge body",
			respond: func(w http.ResponseWriter) {
				w.WriteHeader(http.StatusOK)
				w.Write([]byte(`{"auth_req_id":"` + strings.Repeat("a", 2<<20) + `"}`))
			},
			wantErr: "larger than",
		},
		{
			name:    "no expires_in",
			respond: func(w http.ResponseWriter) { writeJSON(w, http.StatusOK, map[string]any{"auth_req_id": "x"}) },
			wantErr: "expires_in",
		},
		{
			name:    "no auth_req_id",
			respond: func(w http.ResponseWriter) { writeJSON(w, http.StatusOK, map[string]any{"expires_in": 60}) },
			wantErr: "no auth_req_id",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op := newFakeOP(t)
			op.authorize = func(w http.ResponseWriter, r *http.Request) { tt.respond(w) }
			c := op.newClient(op.config())
			_, err := c.Initiate(t.Context(), client.AuthRequest{LoginHint: "alice"})
			if tt.wantOAuth != nil {
				var got *client.Error
				if !errors.As(err, &got) {
					t.Fatalf("Initiate() = %v, want *client.Error", err)
				}
				if diff := cmp.Diff(tt.wantOAuth, got); diff != "" {
					t.Errorf("Initiate() error (-want +got):\n%s", diff)
				}
				if client.ErrorCode(err) != tt.wantOAuth.Code {
					t.Errorf("ErrorCode() = %q, want %q", client.ErrorCode(err), tt.wantOAuth.Code)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Initiate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestTokenResponseChecks(t *testing.T) {
	t.Parallel()
	op := newFakeOP(t)
	op.token = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"access_token": "at", "token_type": "Bearer"})
	}
	c := op.newClient(op.config())
	if _, err := c.Token(t.Context(), "areq-1"); err == nil || !strings.Contains(err.Error(), "no id_token") {
		t.Errorf("Token() = %v, want a missing id_token error", err)
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *client.Error
		want string
	}{
		{&client.Error{Code: "access_denied", Description: "the user said no", StatusCode: 400}, "access_denied: the user said no (HTTP 400)"},
		{&client.Error{Code: "expired_token"}, "expired_token"},
		{&client.Error{Description: "Bad Gateway", StatusCode: 502}, "unexpected response: Bad Gateway (HTTP 502)"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestNoRedirects(t *testing.T) {
	t.Parallel()
	elsewhere := newFakeOP(t)
	elsewhere.token = func(w http.ResponseWriter, r *http.Request) {
		t.Error("the token request followed a redirect")
	}
	op := newFakeOP(t)
	op.token = func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.issuer+"/token", http.StatusTemporaryRedirect)
	}
	cfg := op.config()
	cfg.HTTPClient = nil // the default client
	cfg.AuthMethod = client.AuthSecretPost
	c := op.newClient(cfg)
	_, err := c.Token(t.Context(), "areq-1")
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("Token() = %v, want an *Error with HTTP 307", err)
	}
}
