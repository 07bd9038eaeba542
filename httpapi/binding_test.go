package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/device/agent"
	"github.com/backchannel/backchannel/dpop"
	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/mtls"
	"github.com/backchannel/backchannel/mtls/mtlstest"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/token"
)

// testDPoP is the DPoP verifier of the test server: on by default, as in
// serve, with nonces when opts asks for them.
func testDPoP(st store.Store, clk *clock, opts testOptions) *dpop.Verifier {
	if opts.noDPoP {
		return nil
	}
	v := &dpop.Verifier{Store: st, Now: clk.Now}
	if opts.dpopNonces {
		v.Nonces = &dpop.NonceSource{Secret: []byte("the test server's DPoP nonce secret"), Now: clk.Now}
	}
	return v
}

// dpopKey is a client's DPoP key (ES256).
type dpopKey struct {
	priv   *ecdsa.PrivateKey
	signer jose.Signer
	clock  *clock
}

func newDPoPKey(t *testing.T, clk *clock) *dpopKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{priv: priv, signer: signer, clock: clk}
}

func (k *dpopKey) jkt(t *testing.T) string {
	t.Helper()
	jkt, err := keys.Thumbprint(jose.JSONWebKey{Key: &k.priv.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	return jkt
}

// proof returns a proof for method and target, with ath when
// accessToken is set; change, if not nil, alters the claims first.
func (k *dpopKey) proof(t *testing.T, method, target, accessToken string, change func(map[string]any)) string {
	t.Helper()
	c := map[string]any{"jti": rand.Text(), "htm": method, "htu": target, "iat": k.clock.Now().Unix()}
	if accessToken != "" {
		c["ath"] = dpop.AccessTokenHash(accessToken)
	}
	if change != nil {
		change(c)
	}
	b, _ := json.Marshal(c)
	jws, err := k.signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// binder is a client, a user with an enrolled device, and the server,
// with requests sent by an HTTP client of the test's choosing.
type binder struct {
	*testServer
	clientID, secret string
	dev              *agent.Agent
}

func newBinder(t *testing.T, opts testOptions, c store.Client) *binder {
	t.Helper()
	s := startTestServer(t, opts)
	if c.ID == "" {
		c.ID = "rp-" + strings.ToLower(rand.Text()[:8])
	}
	if c.GrantTypes == nil {
		c.GrantTypes = []string{cibaGrant, "refresh_token"}
	}
	c.DeliveryMode = store.Poll
	id, secret := storeClient(t, s, c)
	s.createUser(map[string]any{"sub": "u1", "email": "hana@example.jp", "name": "Hana Sato"})
	return &binder{testServer: s, clientID: id, secret: secret, dev: s.enrolDevice("u1")}
}

// approved starts a request for scope and has the user approve it,
// returning its auth_req_id.
func (b *binder) approved(scope string) string {
	b.t.Helper()
	r := b.postForm("/bc-authorize", url.Values{"scope": {scope}, "login_hint": {"u1"}}, b.clientID, b.secret)
	if r.status != http.StatusOK {
		b.t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	pending, err := b.dev.Pending(b.t.Context())
	if err != nil || len(pending) != 1 {
		b.t.Fatalf("Pending = %v, %v; want one request", pending, err)
	}
	if err := b.dev.Decide(b.t.Context(), pending[0], true); err != nil {
		b.t.Fatalf("Decide: %v", err)
	}
	b.clock.Advance(5 * time.Second)
	return r.str("auth_req_id")
}

// call sends a request with hc (the server's plain client when nil):
// form as the body when set, header added.
func (b *binder) call(hc *http.Client, method, path string, form url.Values, header http.Header) response {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequestWithContext(b.t.Context(), method, b.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if hc == nil {
		hc = b.Client()
	}
	resp, err := hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		b.t.Fatalf("%s %s: body %q is not JSON", method, path, raw)
	}
	return r
}

// token calls the token endpoint as the client, with header.
func (b *binder) token(hc *http.Client, form url.Values, header http.Header) response {
	b.t.Helper()
	if header == nil {
		header = http.Header{}
	}
	header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(b.clientID)+":"+url.QueryEscape(b.secret))))
	return b.call(hc, http.MethodPost, "/token", form, header)
}

func cibaForm(authReqID string) url.Values {
	return url.Values{"grant_type": {cibaGrant}, "auth_req_id": {authReqID}}
}

func dpopHeader(proof string) http.Header { return http.Header{"Dpop": {proof}} }

// userinfo calls the userinfo endpoint with an Authorization value and
// a DPoP proof (if any).
func (b *binder) userinfo(hc *http.Client, authz, proof string) response {
	b.t.Helper()
	h := http.Header{"Authorization": {authz}}
	if proof != "" {
		h.Set("DPoP", proof)
	}
	return b.call(hc, http.MethodGet, "/userinfo", nil, h)
}

// wantChallenge checks an error response and its first WWW-Authenticate
// challenge's start.
func wantChallenge(t *testing.T, what string, r response, status int, code, challenge string) {
	t.Helper()
	if r.status != status || r.str("error") != code {
		t.Errorf("%s = %d %v, want %d %s", what, r.status, r.body, status, code)
	}
	if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, challenge) {
		t.Errorf("%s: WWW-Authenticate = %q, want it to start with %q", what, got, challenge)
	}
}

func TestDPoPBoundTokens(t *testing.T) {
	b := newBinder(t, testOptions{}, store.Client{})
	key := newDPoPKey(t, b.clock)
	tokenURL, userinfoURL := b.URL+"/token", b.URL+"/userinfo"

	// A proof for another endpoint is refused with 400, and the
	// request stays redeemable.
	authReqID := b.approved("openid email")
	r := b.token(nil, cibaForm(authReqID), dpopHeader(key.proof(t, http.MethodPost, userinfoURL, "", nil)))
	wantError(t, r, http.StatusBadRequest, "invalid_dpop_proof")

	tok := b.token(nil, cibaForm(authReqID), dpopHeader(key.proof(t, http.MethodPost, tokenURL, "", nil)))
	if tok.status != http.StatusOK || tok.str("token_type") != "DPoP" {
		t.Fatalf("token with a DPoP proof = %d %v, want 200 token_type DPoP", tok.status, tok.body)
	}
	at := tok.str("access_token")

	// Introspection: cnf.jkt and token_type DPoP (RFC 9449 §6.2).
	intro := b.postForm("/introspect", url.Values{"token": {at}}, b.clientID, b.secret)
	if diff := cmp.Diff(map[string]any{"jkt": key.jkt(t)}, intro.body["cnf"]); diff != "" || intro.str("token_type") != "DPoP" {
		t.Errorf("introspection = %v, want token_type DPoP and cnf.jkt (-want +got):\n%s", intro.body, diff)
	}

	// Userinfo: only with the DPoP scheme and a matching proof.
	if r := b.userinfo(nil, "DPoP "+at, key.proof(t, http.MethodGet, userinfoURL, at, nil)); r.status != http.StatusOK || r.str("sub") != "u1" {
		t.Errorf("userinfo with a matching proof = %d %v, want 200", r.status, r.body)
	}
	other := newDPoPKey(t, b.clock)
	replayed := key.proof(t, http.MethodGet, userinfoURL, at, nil)
	if r := b.userinfo(nil, "DPoP "+at, replayed); r.status != http.StatusOK {
		t.Fatalf("userinfo = %d %v", r.status, r.body)
	}
	tests := []struct {
		name, authz, proof string
		code, challenge    string
	}{
		{"as a Bearer token", "Bearer " + at, "", "invalid_token", `Bearer error="invalid_token"`},
		{"as a Bearer token with a proof", "Bearer " + at, key.proof(t, http.MethodGet, userinfoURL, at, nil), "invalid_token", `Bearer error="invalid_token"`},
		{"without a proof", "DPoP " + at, "", "invalid_dpop_proof", `DPoP error="invalid_dpop_proof"`},
		{"proof by another key", "DPoP " + at, other.proof(t, http.MethodGet, userinfoURL, at, nil), "invalid_token", `DPoP error="invalid_token"`},
		{"no ath", "DPoP " + at, key.proof(t, http.MethodGet, userinfoURL, "", nil), "invalid_dpop_proof", `DPoP error="invalid_dpop_proof"`},
		{"ath of another token", "DPoP " + at, key.proof(t, http.MethodGet, userinfoURL, "other", nil), "invalid_dpop_proof", `DPoP error="invalid_dpop_proof"`},
		{"wrong htu", "DPoP " + at, key.proof(t, http.MethodGet, tokenURL, at, nil), "invalid_dpop_proof", `DPoP error="invalid_dpop_proof"`},
		{"wrong htm", "DPoP " + at, key.proof(t, http.MethodPost, userinfoURL, at, nil), "invalid_dpop_proof", `DPoP error="invalid_dpop_proof"`},
		{"replayed jti", "DPoP " + at, replayed, "invalid_dpop_proof", `DPoP error="invalid_dpop_proof"`},
		{"old iat", "DPoP " + at, key.proof(t, http.MethodGet, userinfoURL, at, func(c map[string]any) {
			c["iat"] = b.clock.Now().Add(-2 * time.Minute).Unix()
		}), "invalid_dpop_proof", `DPoP error="invalid_dpop_proof"`},
		{"unknown token", "DPoP unknown", key.proof(t, http.MethodGet, userinfoURL, "unknown", nil), "invalid_token", `DPoP error="invalid_token"`},
	}
	for _, tt := range tests {
		r := b.userinfo(nil, tt.authz, tt.proof)
		wantChallenge(t, "userinfo "+tt.name, r, http.StatusUnauthorized, tt.code, tt.challenge)
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("userinfo %s: Cache-Control = %q", tt.name, r.header.Get("Cache-Control"))
		}
	}
	// A Bearer refusal names the DPoP scheme too (RFC 9449 §7.2).
	r = b.userinfo(nil, "Bearer "+at, "")
	if got := r.header.Values("WWW-Authenticate"); len(got) != 2 || !strings.HasPrefix(got[1], `DPoP algs="ES256 PS256 RS256 EdDSA"`) {
		t.Errorf("WWW-Authenticate = %q, want a Bearer and a DPoP challenge", got)
	}

	// A Bearer token sent with the DPoP scheme is refused.
	bearer := b.token(nil, cibaForm(b.approved("openid")), nil)
	if bearer.str("token_type") != "Bearer" {
		t.Fatalf("token without a proof = %v, want a Bearer token", bearer.body)
	}
	bt := bearer.str("access_token")
	wantChallenge(t, "userinfo Bearer token as DPoP", b.userinfo(nil, "DPoP "+bt, key.proof(t, http.MethodGet, userinfoURL, bt, nil)),
		http.StatusUnauthorized, "invalid_token", `DPoP error="invalid_token"`)
	if intro := b.postForm("/introspect", url.Values{"token": {bt}}, b.clientID, b.secret); intro.body["cnf"] != nil || intro.str("token_type") != "Bearer" {
		t.Errorf("introspection of a Bearer token = %v, want no cnf", intro.body)
	}

	// Refresh (RFC 9449 §5): the confidential client's refresh token is
	// not bound to the key, but the family stays DPoP.
	rt := tok.str("refresh_token")
	wantError(t, b.token(nil, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, nil), http.StatusBadRequest, "invalid_dpop_proof")
	refreshed := b.token(nil, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, dpopHeader(other.proof(t, http.MethodPost, tokenURL, "", nil)))
	if refreshed.status != http.StatusOK || refreshed.str("token_type") != "DPoP" {
		t.Fatalf("refresh with a proof = %d %v, want 200 DPoP", refreshed.status, refreshed.body)
	}
	at2 := refreshed.str("access_token")
	if r := b.userinfo(nil, "DPoP "+at2, other.proof(t, http.MethodGet, userinfoURL, at2, nil)); r.status != http.StatusOK {
		t.Errorf("userinfo with the refreshed token and the new key = %d %v", r.status, r.body)
	}
	wantChallenge(t, "userinfo refreshed token, old key", b.userinfo(nil, "DPoP "+at2, key.proof(t, http.MethodGet, userinfoURL, at2, nil)),
		http.StatusUnauthorized, "invalid_token", `DPoP error="invalid_token"`)
}

func TestDPoPBoundClient(t *testing.T) {
	b := newBinder(t, testOptions{}, store.Client{DPoPBoundAccessTokens: true})
	key := newDPoPKey(t, b.clock)
	authReqID := b.approved("openid")
	// RFC 9449 §5.2: dpop_bound_access_tokens makes the proof mandatory.
	wantError(t, b.token(nil, cibaForm(authReqID), nil), http.StatusBadRequest, "invalid_dpop_proof")
	r := b.token(nil, cibaForm(authReqID), http.Header{"Dpop": {key.proof(t, http.MethodPost, b.URL+"/token", "", nil), key.proof(t, http.MethodPost, b.URL+"/token", "", nil)}})
	wantError(t, r, http.StatusBadRequest, "invalid_dpop_proof")
	if r := b.token(nil, cibaForm(authReqID), dpopHeader(key.proof(t, http.MethodPost, b.URL+"/token", "", nil))); r.status != http.StatusOK || r.str("token_type") != "DPoP" {
		t.Errorf("token with a proof = %d %v, want 200 DPoP", r.status, r.body)
	}

	// A server without DPoP refuses such a client and ignores the
	// header of others.
	off := newBinder(t, testOptions{noDPoP: true}, store.Client{DPoPBoundAccessTokens: true})
	wantError(t, off.token(nil, cibaForm(off.approved("openid")), dpopHeader(key.proof(t, http.MethodPost, off.URL+"/token", "", nil))), http.StatusBadRequest, "invalid_dpop_proof")
	plain := newBinder(t, testOptions{noDPoP: true}, store.Client{})
	if r := plain.token(nil, cibaForm(plain.approved("openid")), dpopHeader("garbage")); r.status != http.StatusOK || r.str("token_type") != "Bearer" {
		t.Errorf("token from a server without DPoP = %d %v, want 200 Bearer", r.status, r.body)
	}
}

func TestDPoPNonces(t *testing.T) {
	b := newBinder(t, testOptions{dpopNonces: true}, store.Client{})
	key := newDPoPKey(t, b.clock)
	tokenURL, userinfoURL := b.URL+"/token", b.URL+"/userinfo"
	authReqID := b.approved("openid")

	// RFC 9449 §8: the first proof has no nonce; the answer gives one.
	r := b.token(nil, cibaForm(authReqID), dpopHeader(key.proof(t, http.MethodPost, tokenURL, "", nil)))
	wantError(t, r, http.StatusBadRequest, "use_dpop_nonce")
	nonce := r.header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatalf("use_dpop_nonce without a DPoP-Nonce header: %v", r.header)
	}
	withNonce := func(n string) func(map[string]any) { return func(c map[string]any) { c["nonce"] = n } }
	tok := b.token(nil, cibaForm(authReqID), dpopHeader(key.proof(t, http.MethodPost, tokenURL, "", withNonce(nonce))))
	if tok.status != http.StatusOK || tok.str("token_type") != "DPoP" {
		t.Fatalf("token with the nonce = %d %v, want 200 DPoP", tok.status, tok.body)
	}
	at := tok.str("access_token")

	// RFC 9449 §9: the resource's nonce, the same way, with 401.
	r = b.userinfo(nil, "DPoP "+at, key.proof(t, http.MethodGet, userinfoURL, at, withNonce("stale")))
	wantChallenge(t, "userinfo with a stale nonce", r, http.StatusUnauthorized, "use_dpop_nonce", `DPoP error="use_dpop_nonce"`)
	if r.header.Get("DPoP-Nonce") == "" {
		t.Fatalf("userinfo use_dpop_nonce without a DPoP-Nonce header: %v", r.header)
	}
	if r := b.userinfo(nil, "DPoP "+at, key.proof(t, http.MethodGet, userinfoURL, at, withNonce(r.header.Get("DPoP-Nonce")))); r.status != http.StatusOK {
		t.Errorf("userinfo retried with the nonce = %d %v, want 200", r.status, r.body)
	}
	// Ten minutes on, the nonce is stale.
	b.clock.Advance(10 * time.Minute)
	r = b.userinfo(nil, "DPoP "+at, key.proof(t, http.MethodGet, userinfoURL, at, withNonce(nonce)))
	if r.str("error") != "use_dpop_nonce" && r.str("error") != "invalid_token" {
		t.Errorf("userinfo with an old nonce = %d %v, want refused", r.status, r.body)
	}
}

// newClientCert returns a self-signed client certificate.
func newClientCert(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	return mtlstest.SelfSigned(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}})
}

func thumbprint(c tls.Certificate) string {
	cert, _ := x509.ParseCertificate(c.Certificate[0])
	return mtls.Thumbprint(cert)
}

func TestCertificateBoundTokens(t *testing.T) {
	for _, tt := range []struct {
		name   string
		client store.Client
		format string
	}{
		{"tls_client_certificate_bound_access_tokens", store.Client{CertificateBoundAccessTokens: true}, token.FormatOpaque},
		{"JWT access tokens", store.Client{CertificateBoundAccessTokens: true}, token.FormatJWT},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBinder(t, testOptions{tls: true, accessTokenFormat: tt.format}, tt.client)
			certA, certB := newClientCert(t, "a"), newClientCert(t, "b")
			withA, withB, without := mtlstest.Client(b.Server, certA), mtlstest.Client(b.Server, certB), mtlstest.Client(b.Server)
			authReqID := b.approved("openid")

			// RFC 8705 §3: no certificate, no certificate-bound token.
			r := b.token(without, cibaForm(authReqID), nil)
			wantError(t, r, http.StatusBadRequest, "invalid_request")
			if !strings.Contains(r.str("error_description"), "client certificate") {
				t.Errorf("error_description = %q", r.str("error_description"))
			}
			tok := b.token(withA, cibaForm(authReqID), nil)
			if tok.status != http.StatusOK || tok.str("token_type") != "Bearer" {
				t.Fatalf("token with a certificate = %d %v, want 200 Bearer", tok.status, tok.body)
			}
			at := tok.str("access_token")
			wantCnf := map[string]any{"x5t#S256": thumbprint(certA)}
			intro := b.call(withA, http.MethodPost, "/introspect", url.Values{"token": {at}}, http.Header{"Authorization": {"Basic " + basic(b.clientID, b.secret)}})
			if diff := cmp.Diff(wantCnf, intro.body["cnf"]); diff != "" {
				t.Errorf("introspection cnf (-want +got):\n%s", diff)
			}
			if tt.format == token.FormatJWT {
				if diff := cmp.Diff(wantCnf, claimsOfJWT(t, at)["cnf"]); diff != "" {
					t.Errorf("JWT access token cnf (-want +got):\n%s", diff)
				}
			}

			if r := b.userinfo(withA, "Bearer "+at, ""); r.status != http.StatusOK || r.str("sub") != "u1" {
				t.Errorf("userinfo with the certificate = %d %v, want 200", r.status, r.body)
			}
			for name, hc := range map[string]*http.Client{"no certificate": without, "another certificate": withB} {
				wantChallenge(t, "userinfo with "+name, b.userinfo(hc, "Bearer "+at, ""), http.StatusUnauthorized, "invalid_token", `Bearer error="invalid_token"`)
			}

			// RFC 8705 §7.1: the confidential client's refresh token is
			// bound by client authentication; the new access token is
			// bound to the certificate of the refresh request.
			refreshed := b.token(withB, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.str("refresh_token")}}, nil)
			if refreshed.status != http.StatusOK {
				t.Fatalf("refresh with another certificate = %d %v", refreshed.status, refreshed.body)
			}
			at2 := refreshed.str("access_token")
			if r := b.userinfo(withB, "Bearer "+at2, ""); r.status != http.StatusOK {
				t.Errorf("userinfo with the refreshed token and its certificate = %d %v", r.status, r.body)
			}
			wantChallenge(t, "userinfo refreshed token, old certificate", b.userinfo(withA, "Bearer "+at2, ""), http.StatusUnauthorized, "invalid_token", `Bearer error="invalid_token"`)
		})
	}
}

func TestDPoPAndCertificateJWT(t *testing.T) {
	b := newBinder(t, testOptions{tls: true, accessTokenFormat: token.FormatJWT}, store.Client{CertificateBoundAccessTokens: true})
	key := newDPoPKey(t, b.clock)
	cert := newClientCert(t, "rp")
	hc := mtlstest.Client(b.Server, cert)
	authReqID := b.approved("openid")
	tok := b.token(hc, cibaForm(authReqID), dpopHeader(key.proof(t, http.MethodPost, b.URL+"/token", "", nil)))
	if tok.status != http.StatusOK || tok.str("token_type") != "DPoP" {
		t.Fatalf("token = %d %v, want 200 DPoP", tok.status, tok.body)
	}
	at := tok.str("access_token")
	want := map[string]any{"jkt": key.jkt(t), "x5t#S256": thumbprint(cert)}
	if diff := cmp.Diff(want, claimsOfJWT(t, at)["cnf"]); diff != "" {
		t.Errorf("JWT access token cnf (-want +got):\n%s", diff)
	}
	// Both proofs are needed.
	userinfoURL := b.URL + "/userinfo"
	if r := b.userinfo(hc, "DPoP "+at, key.proof(t, http.MethodGet, userinfoURL, at, nil)); r.status != http.StatusOK {
		t.Errorf("userinfo with both = %d %v", r.status, r.body)
	}
	wantChallenge(t, "userinfo without the certificate", b.userinfo(mtlstest.Client(b.Server), "DPoP "+at, key.proof(t, http.MethodGet, userinfoURL, at, nil)),
		http.StatusUnauthorized, "invalid_token", `DPoP error="invalid_token"`)
}

func TestBindingDiscovery(t *testing.T) {
	s := startTestServer(t, testOptions{tls: true})
	var m map[string]any
	resp, err := s.Client().Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{"ES256", "PS256", "RS256", "EdDSA"}, m["dpop_signing_alg_values_supported"]); diff != "" {
		t.Errorf("dpop_signing_alg_values_supported (-want +got):\n%s", diff)
	}
	if m["tls_client_certificate_bound_access_tokens"] != true {
		t.Errorf("tls_client_certificate_bound_access_tokens = %v, want true", m["tls_client_certificate_bound_access_tokens"])
	}
}

func basic(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
}

// claimsOfJWT decodes a JWT's payload without verifying it.
func claimsOfJWT(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a JWT", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
