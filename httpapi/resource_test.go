package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backchannel/backchannel/dpop"
	"github.com/backchannel/backchannel/mtls/mtlstest"
	"github.com/backchannel/backchannel/resource"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/token"
)

// startResourceServer starts an API behind resource.Middleware that
// accepts the tokens of b's server, over TLS that asks for client
// certificates, and answers with the token it saw.
func startResourceServer(t *testing.T, b *binder, rsID, rsSecret string) *httptest.Server {
	t.Helper()
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := resource.FromContext(r.Context())
		if !ok {
			http.Error(w, "no token in the context", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"sub": tok.Subject, "client_id": tok.ClientID, "scope": strings.Join(tok.Scopes, " "), "jkt": tok.JKT, "x5t": tok.X5TS256})
	})
	rs := httptest.NewUnstartedServer(resource.Middleware(&resource.Issuer{
		URL:          b.URL,
		Audience:     b.URL, // the OP's default access token audience
		ClientID:     rsID,
		ClientSecret: rsSecret,
		HTTPClient:   b.Client(),
		DPoP:         &dpop.Verifier{Store: &dpop.MemoryJTIStore{Now: b.clock.Now}, Now: b.clock.Now},
		Now:          b.clock.Now,
	})(api))
	mtlstest.StartTLS(rs)
	t.Cleanup(rs.Close)
	return rs
}

// callAPI calls the resource server's /api with hc.
func callAPI(t *testing.T, hc *http.Client, rs *httptest.Server, authz, proof string) response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, rs.URL+"/api", nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("GET /api: body %q is not JSON", raw)
		}
	}
	return r
}

func TestResourceMiddleware(t *testing.T) {
	for _, format := range []string{token.FormatOpaque, token.FormatJWT} {
		t.Run(format, func(t *testing.T) {
			b := newBinder(t, testOptions{tls: true, accessTokenFormat: format, resourceServers: []string{"api"}}, store.Client{})
			rsID, rsSecret := storeClient(t, b.testServer, store.Client{ID: "api", GrantTypes: []string{}})
			rs := startResourceServer(t, b, rsID, rsSecret)
			key, other := newDPoPKey(t, b.clock), newDPoPKey(t, b.clock)
			cert := newClientCert(t, "rp")
			plain, withCert := mtlstest.Client(rs), mtlstest.Client(rs, cert)
			apiURL := rs.URL + "/api"

			// A Bearer token.
			bearer := b.token(nil, cibaForm(b.approved("openid email")), nil).str("access_token")
			if r := callAPI(t, plain, rs, "Bearer "+bearer, ""); r.status != http.StatusOK || r.str("sub") != "u1" || r.str("client_id") != b.clientID || r.str("scope") != "openid email" {
				t.Errorf("API with a Bearer token = %d %v, want 200 with the token's claims", r.status, r.body)
			}

			// A DPoP-bound token.
			tok := b.token(nil, cibaForm(b.approved("openid")), dpopHeader(key.proof(t, http.MethodPost, b.URL+"/token", "", nil)))
			at := tok.str("access_token")
			if r := callAPI(t, plain, rs, "DPoP "+at, key.proof(t, http.MethodGet, apiURL, at, nil)); r.status != http.StatusOK || r.str("jkt") != key.jkt(t) {
				t.Errorf("API with a DPoP-bound token and proof = %d %v, want 200 with its jkt", r.status, r.body)
			}

			// A certificate-bound token, from a client registered for them.
			cb := b.as(t, store.Client{ID: "cb-rp", CertificateBoundAccessTokens: true})
			hcOP := mtlstest.Client(b.Server, cert)
			ct := cb.token(hcOP, cibaForm(cb.approved("openid")), nil).str("access_token")
			if ct == "" {
				t.Fatal("no certificate-bound token")
			}
			if r := callAPI(t, withCert, rs, "Bearer "+ct, ""); r.status != http.StatusOK || r.str("x5t") != thumbprint(cert) {
				t.Errorf("API with a certificate-bound token and its certificate = %d %v, want 200", r.status, r.body)
			}

			tests := []struct {
				name      string
				hc        *http.Client
				authz     string
				proof     string
				code      string
				challenge string
			}{
				{"no token", plain, "", "", "", "Bearer"},
				{"unknown token", plain, "Bearer unknown-token", "", "invalid_token", `Bearer error="invalid_token"`},
				{"forged JWT", plain, "Bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA", "", "invalid_token", `Bearer error="invalid_token"`},
				{"DPoP-bound token as Bearer", plain, "Bearer " + at, "", "invalid_token", `Bearer error="invalid_token"`},
				{"DPoP-bound token without proof", plain, "DPoP " + at, "", "invalid_dpop_proof", `DPoP error="invalid_dpop_proof"`},
				{"DPoP proof by another key", plain, "DPoP " + at, other.proof(t, http.MethodGet, apiURL, at, nil), "invalid_token", `DPoP error="invalid_token"`},
				{"DPoP proof without ath", plain, "DPoP " + at, key.proof(t, http.MethodGet, apiURL, "", nil), "invalid_dpop_proof", `DPoP error="invalid_dpop_proof"`},
				{"DPoP proof for another URL", plain, "DPoP " + at, key.proof(t, http.MethodGet, rs.URL+"/other", at, nil), "invalid_dpop_proof", `DPoP error="invalid_dpop_proof"`},
				{"Bearer token with the DPoP scheme", plain, "DPoP " + bearer, key.proof(t, http.MethodGet, apiURL, bearer, nil), "invalid_token", `DPoP error="invalid_token"`},
				{"certificate-bound token without a certificate", plain, "Bearer " + ct, "", "invalid_token", `Bearer error="invalid_token"`},
				{"certificate-bound token with another certificate", mtlstest.Client(rs, newClientCert(t, "other")), "Bearer " + ct, "", "invalid_token", `Bearer error="invalid_token"`},
			}
			for _, tt := range tests {
				r := callAPI(t, tt.hc, rs, tt.authz, tt.proof)
				if r.status != http.StatusUnauthorized || r.str("error") != tt.code {
					t.Errorf("API %s = %d %v, want 401 %q", tt.name, r.status, r.body, tt.code)
				}
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, tt.challenge) {
					t.Errorf("API %s: WWW-Authenticate = %q, want %q…", tt.name, got, tt.challenge)
				}
			}
		})
	}
}

// as returns a binder for a new client c of b's server, user and device.
func (b *binder) as(t *testing.T, c store.Client) *binder {
	t.Helper()
	if c.GrantTypes == nil {
		c.GrantTypes = []string{cibaGrant, "refresh_token"}
	}
	c.DeliveryMode = store.Poll
	id, secret := storeClient(t, b.testServer, c)
	return &binder{testServer: b.testServer, clientID: id, secret: secret, dev: b.dev}
}
