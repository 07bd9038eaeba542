package clientauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/clientauth"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

const (
	issuer = "https://op.example.com"
	// nowUnix is the fixed time of the tests: 2026-03-01T12:00:00Z.
	nowUnix = 1772366400

	basicSecret = "basic-secret-4a7f0c2e9d1b8a6f3e5c7b9d0a2f4e6c"
	postSecret  = "post-secret-1f3e5d7c9b0a2e4d6f8a1c3e5b7d9f0a"
	// jwtSecret keys HS256 (RFC 7518 §3.2: at least 256 bits).
	jwtSecret = "jwt-secret-8c6e4a2f0d9b7e5c3a1f8d6b4e2c0a9f7d5b3e1c"
	// jwt512Secret keys HS512 (at least 512 bits).
	jwt512Secret = "jwt512-secret-0123456789abcdef0123456789abcdef0123456789abcdef0123"
	// specialID and specialSecret need form-url-encoding in Basic
	// credentials (RFC 6749 §2.3.1).
	specialID     = "special:client +%&é"
	specialSecret = "s3cr:t +%/&=ü"
)

// fakeStore is a store.Store with only Client and UseOnce; any other
// method panics on the nil embedded interface.
type fakeStore struct {
	store.Store

	clients    map[string]store.Client
	clientErr  error // returned by Client when set
	useOnceErr error // returned by UseOnce when set
	// allowReplay makes UseOnce accept every key (for benchmarks).
	allowReplay bool

	mu   sync.Mutex
	used map[string]time.Time
}

func (s *fakeStore) Client(_ context.Context, id string) (store.Client, error) {
	if s.clientErr != nil {
		return store.Client{}, s.clientErr
	}
	c, ok := s.clients[id]
	if !ok {
		return store.Client{}, fmt.Errorf("client %q: %w", id, store.ErrNotFound)
	}
	return c, nil
}

func (s *fakeStore) UseOnce(_ context.Context, key string, expiresAt time.Time) error {
	if s.useOnceErr != nil {
		return s.useOnceErr
	}
	if s.allowReplay {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.used[key]; ok {
		return fmt.Errorf("use %q: %w", key, store.ErrConflict)
	}
	s.used[key] = expiresAt
	return nil
}

// usedUntil returns the expiry recorded for key.
func (s *fakeStore) usedUntil(key string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.used[key]
	return t, ok
}

// fakeKeys is a clientauth.KeySource with function fields.
type fakeKeys struct {
	keys    func(ctx context.Context, c store.Client) (*jose.JSONWebKeySet, error)
	refresh func(ctx context.Context, c store.Client) (*jose.JSONWebKeySet, error)
}

func (k fakeKeys) Keys(ctx context.Context, c store.Client) (*jose.JSONWebKeySet, error) {
	return k.keys(ctx, c)
}

func (k fakeKeys) Refresh(ctx context.Context, c store.Client) (*jose.JSONWebKeySet, error) {
	return k.refresh(ctx, c)
}

// env is an Authenticator with registered clients and their keys.
type env struct {
	auth     *clientauth.Authenticator
	store    *fakeStore
	now      time.Time
	endpoint string

	rsa   *rsa.PrivateKey
	ec    *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
	other *ecdsa.PrivateKey // registered by no client
}

// newEnv returns an env whose endpoint is endpoint. The clients:
//
//	basic-client      client_secret_basic, basicSecret
//	default-client    no registered method (so client_secret_basic), basicSecret
//	special-client    client_secret_basic, ID specialID, specialSecret
//	post-client       client_secret_post, postSecret
//	jwt-client        client_secret_jwt, jwtSecret
//	jwt512-client     client_secret_jwt registered for HS512, jwt512Secret
//	pk-client         private_key_jwt, keys rsa-1, rsa-rs256, ec-1, ed-1
//	pk-es256-client   private_key_jwt registered for ES256, same keys
//	pk-enc-client     private_key_jwt whose only key is for encryption
//	pk-broken-client  private_key_jwt whose keys cannot be loaded
//	public-client     none
//	nosecret-client   client_secret_basic without a secret hash
//
// The store also finds pk-client as PK-CLIENT and basic-client as
// BASIC-CLIENT, as a case-insensitive backend would.
func newEnv(tb testing.TB, endpoint string) *env {
	tb.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{
		now:      time.Unix(nowUnix, 0).UTC(),
		endpoint: endpoint,
		rsa:      rsaKey,
		ec:       ecKey,
		ed:       edKey,
		other:    other,
	}
	clients := []store.Client{
		{ID: "basic-client", TokenEndpointAuthMethod: oauth.AuthSecretBasic, SecretHash: clientauth.HashSecret(basicSecret)},
		{ID: "default-client", SecretHash: clientauth.HashSecret(basicSecret)},
		{ID: specialID, TokenEndpointAuthMethod: oauth.AuthSecretBasic, SecretHash: clientauth.HashSecret(specialSecret)},
		{ID: "post-client", TokenEndpointAuthMethod: oauth.AuthSecretPost, SecretHash: clientauth.HashSecret(postSecret)},
		{ID: "jwt-client", TokenEndpointAuthMethod: oauth.AuthSecretJWT, Secret: jwtSecret},
		{ID: "jwt512-client", TokenEndpointAuthMethod: oauth.AuthSecretJWT, TokenEndpointAuthSigningAlg: "HS512", Secret: jwt512Secret},
		{ID: "pk-client", TokenEndpointAuthMethod: oauth.AuthPrivateKey},
		{ID: "pk-es256-client", TokenEndpointAuthMethod: oauth.AuthPrivateKey, TokenEndpointAuthSigningAlg: "ES256"},
		{ID: "pk-enc-client", TokenEndpointAuthMethod: oauth.AuthPrivateKey},
		{ID: "pk-broken-client", TokenEndpointAuthMethod: oauth.AuthPrivateKey},
		{ID: "public-client", TokenEndpointAuthMethod: oauth.AuthNone},
		{ID: "nosecret-client", TokenEndpointAuthMethod: oauth.AuthSecretBasic},
	}
	e.store = &fakeStore{clients: map[string]store.Client{}, used: map[string]time.Time{}}
	for _, c := range clients {
		e.store.clients[c.ID] = c
	}
	e.store.clients["PK-CLIENT"] = e.store.clients["pk-client"]
	e.store.clients["BASIC-CLIENT"] = e.store.clients["basic-client"]
	keys := func(_ context.Context, c store.Client) (*jose.JSONWebKeySet, error) {
		switch c.ID {
		case "pk-client", "pk-es256-client":
			return e.publicKeys(), nil
		case "pk-enc-client":
			return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &e.ec.PublicKey, KeyID: "ec-1", Use: "enc"}}}, nil
		}
		return nil, errors.New("jwks_uri unreachable")
	}
	e.auth = &clientauth.Authenticator{
		Store:  e.store,
		Keys:   fakeKeys{keys: keys, refresh: keys},
		Issuer: issuer,
		Now:    func() time.Time { return e.now },
	}
	return e
}

// publicKeys is the key set of pk-client.
func (e *env) publicKeys() *jose.JSONWebKeySet {
	return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &e.rsa.PublicKey, KeyID: "rsa-1", Use: "sig"},
		{Key: &e.rsa.PublicKey, KeyID: "rsa-rs256", Algorithm: "RS256"},
		{Key: &e.ec.PublicKey, KeyID: "ec-1", Algorithm: "ES256"},
		{Key: e.ed.Public(), KeyID: "ed-1", Use: "sig"},
	}}
}

// serve starts an HTTP server whose endpoint authenticates with the
// Authenticator of the env that newEnvAt builds for the endpoint's URL.
// The endpoint answers 200 {"client_id": …} or the OAuth error; lastErr
// returns the error Authenticate last returned, cause included.
func serve(t *testing.T, newEnvAt func(endpoint string) *env) (e *env, lastErr func() error) {
	t.Helper()
	var (
		mu   sync.Mutex
		last error
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, err := oauth.ParseForm(w, r)
		var c store.Client
		if err == nil {
			c, err = e.auth.Authenticate(r, form, e.endpoint)
		}
		mu.Lock()
		last = err
		mu.Unlock()
		var oe *oauth.Error
		switch {
		case err == nil:
			oauth.WriteJSON(w, http.StatusOK, map[string]string{"client_id": c.ID})
		case errors.As(err, &oe):
			oauth.WriteError(w, oe)
		default:
			http.Error(w, "server error", http.StatusInternalServerError)
		}
	}))
	// The env exists before the server starts, so handlers see it.
	e = newEnvAt("http://" + srv.Listener.Addr().String() + "/token")
	srv.Start()
	t.Cleanup(srv.Close)
	return e, func() error {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// request is what a client sends: Authorization headers and a form.
type request struct {
	authz []string
	form  url.Values
}

// response is what the server answered.
type response struct {
	status   int
	code     oauth.Code
	desc     string
	clientID string
	wwwAuth  string
}

func post(t *testing.T, endpoint string, req request) response {
	t.Helper()
	hr, err := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint, strings.NewReader(req.form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, a := range req.authz {
		hr.Header.Add("Authorization", a)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error       oauth.Code `json:"error"`
		Description string     `json:"error_description"`
		ClientID    string     `json:"client_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode response (status %d): %v", resp.StatusCode, err)
	}
	return response{
		status:   resp.StatusCode,
		code:     body.Error,
		desc:     body.Description,
		clientID: body.ClientID,
		wwwAuth:  resp.Header.Get("WWW-Authenticate"),
	}
}

// basic returns a Basic Authorization header value with id and secret
// form-url-encoded as RFC 6749 §2.3.1 requires.
func basic(id, secret string) string {
	return rawBasic(url.QueryEscape(id) + ":" + url.QueryEscape(secret))
}

// rawBasic returns a Basic Authorization header value of s as it is.
func rawBasic(s string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(s))
}

// claims returns valid assertion claims of client id at e's time, with
// aud the issuer and a fresh jti.
func (e *env) claims(id string) map[string]any {
	return map[string]any{
		"iss": id,
		"sub": id,
		"aud": issuer,
		"iat": e.now.Unix(),
		"exp": e.now.Add(5 * time.Minute).Unix(),
		"jti": rand.Text(),
	}
}

// with returns a copy of m with the keys of kv set; a nil value deletes
// the key.
func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
			continue
		}
		out[k] = kv[i+1]
	}
	return out
}

// sign returns payload, as JSON, signed as a compact JWS.
func sign(tb testing.TB, alg jose.SignatureAlgorithm, key any, kid string, payload any) string {
	tb.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := json.Marshal(payload)
	if err != nil {
		tb.Fatal(err)
	}
	obj, err := signer.Sign(b)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// unsigned returns payload as an "alg":"none" JWT (RFC 7519 §6).
func unsigned(tb testing.TB, payload any) string {
	tb.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		tb.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(b) + "."
}

// assertion returns the form of a JWT client assertion.
func assertion(token string) url.Values {
	return url.Values{
		"client_assertion_type": {oauth.ClientAssertionJWT},
		"client_assertion":      {token},
	}
}

// withForm returns a copy of v with the pairs of kv added.
func withForm(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}
