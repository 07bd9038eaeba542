package device_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

const requestsURL = issuer + "/device/v1/requests"

// proof returns a request proof of dev signed with key, with claims
// changed by edit.
func proof(t testing.TB, dev store.Device, key any, alg jose.SignatureAlgorithm, now time.Time, edit func(h, c map[string]any)) string {
	t.Helper()
	h := map[string]any{"typ": device.TypeRequest, "kid": dev.ID}
	c := map[string]any{"htm": "GET", "htu": requestsURL, "iat": now.Unix(), "jti": rand.Text()}
	if edit != nil {
		edit(h, c)
	}
	if alg == "none" {
		h["alg"] = "none"
		return unsignedJWS(t, h, c)
	}
	return signJWS(t, alg, key, h, c)
}

func newRequest(method, target, auth string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

func TestAuthenticate(t *testing.T) {
	st := openStore(t, t.TempDir())
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { return now }
	dev, key := enrolDevice(t, st, clock)
	revoked, revokedKey := enrolDevice(t, st, clock)
	if err := device.Revoke(t.Context(), st, revoked.ID, now); err != nil {
		t.Fatal(err)
	}
	other := newKey(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	auth := &device.Authenticator{Store: st, Now: clock, BaseURL: issuer}
	replayed := proof(t, dev, key, jose.ES256, now, nil)
	if _, err := auth.Authenticate(newRequest("GET", "/device/v1/requests", "Device "+replayed)); err != nil {
		t.Fatalf("first use of a proof: %v", err)
	}

	good := func(edit func(h, c map[string]any)) string {
		return "Device " + proof(t, dev, key, jose.ES256, now, edit)
	}
	tests := []struct {
		name   string
		method string
		target string // the request as the server sees it
		auth   string
		detail string // "" means the call is admitted
	}{
		{"good", "GET", "/device/v1/requests", good(nil), ""},
		{"query is not part of htu", "GET", "/device/v1/requests?x=1", good(nil), ""},
		{"scheme is case-insensitive", "GET", "/device/v1/requests", "DEVICE " + proof(t, dev, key, jose.ES256, now, nil), ""},
		{"iat at the edge of the skew", "GET", "/device/v1/requests", good(func(h, c map[string]any) { c["iat"] = now.Add(-device.DefaultSkew).Unix() }), ""},
		{"typ with application/ prefix", "GET", "/device/v1/requests", good(func(h, c map[string]any) { h["typ"] = "application/" + device.TypeRequest }), ""},
		{"POST", "POST", "/device/v1/requests/r1/decision", good(func(h, c map[string]any) {
			c["htm"] = "POST"
			c["htu"] = issuer + "/device/v1/requests/r1/decision"
		}), ""},

		{"no header", "GET", "/device/v1/requests", "", "needs a Device authorization"},
		{"bearer", "GET", "/device/v1/requests", "Bearer " + proof(t, dev, key, jose.ES256, now, nil), "needs a Device authorization"},
		{"empty proof", "GET", "/device/v1/requests", "Device ", "needs a Device authorization"},
		{"garbage", "GET", "/device/v1/requests", "Device x.y.z", "parse jws"},
		{"wrong htm", "POST", "/device/v1/requests", good(nil), "htm"},
		{"lower-case htm", "GET", "/device/v1/requests", good(func(h, c map[string]any) { c["htm"] = "get" }), "htm"},
		{"wrong htu path", "GET", "/device/v1/device", good(nil), "htu"},
		{"htu of the Host header", "GET", "http://evil.example/device/v1/requests", good(func(h, c map[string]any) { c["htu"] = "http://evil.example/device/v1/requests" }), "htu"},
		{"htu with query", "GET", "/device/v1/requests?x=1", good(func(h, c map[string]any) { c["htu"] = requestsURL + "?x=1" }), "htu"},
		{"iat too old", "GET", "/device/v1/requests", good(func(h, c map[string]any) { c["iat"] = now.Add(-device.DefaultSkew - time.Second).Unix() }), "iat"},
		{"iat in the future", "GET", "/device/v1/requests", good(func(h, c map[string]any) { c["iat"] = now.Add(device.DefaultSkew + time.Second).Unix() }), "iat"},
		{"no iat", "GET", "/device/v1/requests", good(func(h, c map[string]any) { delete(c, "iat") }), "no iat"},
		{"no jti", "GET", "/device/v1/requests", good(func(h, c map[string]any) { delete(c, "jti") }), "jti"},
		{"jti too long", "GET", "/device/v1/requests", good(func(h, c map[string]any) { c["jti"] = strings.Repeat("j", 129) }), "jti"},
		{"replayed jti", "GET", "/device/v1/requests", "Device " + replayed, "used before"},
		{"revoked device", "GET", "/device/v1/requests", "Device " + proof(t, revoked, revokedKey, jose.ES256, now, nil), "revoked"},
		{"unknown kid", "GET", "/device/v1/requests", good(func(h, c map[string]any) { h["kid"] = "nope" }), "unknown device"},
		{"no kid", "GET", "/device/v1/requests", good(func(h, c map[string]any) { delete(h, "kid") }), "no kid"},
		{"kid of another device", "GET", "/device/v1/requests", good(func(h, c map[string]any) { h["kid"] = revoked.ID }), "revoked"},
		{"signed by another key", "GET", "/device/v1/requests", "Device " + proof(t, dev, other, jose.ES256, now, nil), "signature"},
		{"wrong typ", "GET", "/device/v1/requests", good(func(h, c map[string]any) { h["typ"] = device.TypeDecision }), "typ"},
		{"no typ", "GET", "/device/v1/requests", good(func(h, c map[string]any) { delete(h, "typ") }), "typ"},
		{"crit header", "GET", "/device/v1/requests", good(func(h, c map[string]any) { h["crit"] = []string{"b64"}; h["b64"] = true }), "crit"},
		{"alg none", "GET", "/device/v1/requests", "Device " + proof(t, dev, nil, "none", now, nil), "unexpected signature algorithm"},
		{"HS256", "GET", "/device/v1/requests", "Device " + proof(t, dev, []byte(strings.Repeat("s", 32)), jose.HS256, now, nil), "unexpected signature algorithm"},
		{"ES384", "GET", "/device/v1/requests", "Device " + proof(t, dev, p384, jose.ES384, now, nil), "unexpected signature algorithm"},
		{"oversized", "GET", "/device/v1/requests", "Device " + strings.Repeat("a", 9000), "over the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.Authenticate(newRequest(tt.method, tt.target, tt.auth))
			if tt.detail == "" {
				if err != nil {
					t.Fatalf("Authenticate = %v, want the device", err)
				}
				if diff := cmp.Diff(dev, got); diff != "" {
					t.Errorf("Authenticate device (-want +got):\n%s", diff)
				}
				return
			}
			checkOAuthError(t, err, oauth.InvalidToken, http.StatusUnauthorized, tt.detail)
		})
	}
}

// TestAuthenticateDescriptions checks that what the caller is told does
// not say which check failed.
func TestAuthenticateDescriptions(t *testing.T) {
	st := openStore(t, t.TempDir())
	now := time.Now().UTC()
	dev, key := enrolDevice(t, st, func() time.Time { return now })
	auth := &device.Authenticator{Store: st, Now: func() time.Time { return now }, BaseURL: issuer}
	for _, p := range []string{
		proof(t, dev, key, jose.ES256, now, func(h, c map[string]any) { h["kid"] = "nope" }),
		proof(t, dev, key, jose.ES256, now, func(h, c map[string]any) { c["iat"] = 0 }),
		proof(t, dev, newKey(t), jose.ES256, now, nil),
	} {
		_, err := auth.Authenticate(newRequest("GET", "/device/v1/requests", "Device "+p))
		var oe *oauth.Error
		if !errors.As(err, &oe) || oe.Description != "the device proof is not valid" {
			t.Errorf("Authenticate = %#v, want the one short description", err)
		}
	}
}

func TestAuthenticateStoreFailure(t *testing.T) {
	st := openStore(t, t.TempDir())
	now := time.Now().UTC()
	dev, key := enrolDevice(t, st, func() time.Time { return now })
	auth := &device.Authenticator{Store: st, Now: func() time.Time { return now }, BaseURL: issuer}
	st.Close()
	_, err := auth.Authenticate(newRequest("GET", "/device/v1/requests", "Device "+proof(t, dev, key, jose.ES256, now, nil)))
	var oe *oauth.Error
	if err == nil || errors.As(err, &oe) {
		t.Errorf("Authenticate with a closed store = %v, want a plain (server) error", err)
	}
}

// decision returns a decision of dev signed with key.
func decision(t testing.TB, dev store.Device, key any, now time.Time, edit func(h, c map[string]any)) string {
	t.Helper()
	h := map[string]any{"typ": device.TypeDecision, "kid": dev.ID}
	c := map[string]any{"request_id": "r1", "decision": "approve", "summary": "digest", "iat": now.Unix(), "jti": rand.Text()}
	if edit != nil {
		edit(h, c)
	}
	if h["alg"] == "none" {
		return unsignedJWS(t, h, c)
	}
	return signJWS(t, jose.ES256, key, h, c)
}

// jtiOf returns the jti claim of compact JWS s, unverified.
func jtiOf(t *testing.T, s string) string {
	t.Helper()
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a compact JWS", s)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.JTI == "" {
		t.Fatalf("jti of %q: %q, %v", s, c.JTI, err)
	}
	return c.JTI
}

func TestParseDecision(t *testing.T) {
	st := openStore(t, t.TempDir())
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { return now }
	dev, key := enrolDevice(t, st, clock)
	other, otherKey := enrolDevice(t, st, clock)
	auth := &device.Authenticator{Store: st, Now: clock, BaseURL: issuer}

	approve := decision(t, dev, key, now, nil)
	got, err := auth.ParseDecision(t.Context(), dev, approve)
	if err != nil {
		t.Fatal(err)
	}
	want := ciba.Decision{RequestID: "r1", Approve: true, Summary: "digest", Signed: approve, AMR: []string{"hwk"},
		Once: []store.Once{{Key: "decision:" + dev.ID + ":" + jtiOf(t, approve), ExpiresAt: now.Add(2 * device.DefaultSkew)}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseDecision (-want +got):\n%s", diff)
	}
	deny := decision(t, dev, key, now, func(h, c map[string]any) { c["decision"] = "deny"; c["request_id"] = "r2" })
	got, err = auth.ParseDecision(t.Context(), dev, deny)
	if err != nil {
		t.Fatal(err)
	}
	if got.Approve || got.RequestID != "r2" {
		t.Errorf("ParseDecision(deny) = %+v, want a denial of r2", got)
	}
	// A request proof and a decision of one device are kept apart even
	// with one jti: the decision's single-use key has its own prefix.
	jti := rand.Text()
	if _, err := auth.Authenticate(newRequest("GET", "/device/v1/requests", "Device "+proof(t, dev, key, jose.ES256, now, func(h, c map[string]any) { c["jti"] = jti }))); err != nil {
		t.Fatal(err)
	}
	d, err := auth.ParseDecision(t.Context(), dev, decision(t, dev, key, now, func(h, c map[string]any) { c["jti"] = jti }))
	if err != nil {
		t.Fatalf("ParseDecision with the jti of a request proof: %v", err)
	}
	if err := st.UseOnce(t.Context(), d.Once[0].Key, d.Once[0].ExpiresAt); err != nil {
		t.Errorf("UseOnce(%q), the decision's key after a request proof with its jti = %v, want nil", d.Once[0].Key, err)
	}

	revoked := dev
	revoked.RevokedAt = now
	tests := []struct {
		name   string
		dev    store.Device
		jws    string
		detail string
	}{
		{"signed by another key", dev, decision(t, dev, otherKey, now, nil), "signature"},
		{"kid of another device", dev, decision(t, other, otherKey, now, nil), "kid"},
		{"no kid", dev, decision(t, dev, key, now, func(h, c map[string]any) { delete(h, "kid") }), "kid"},
		{"bad decision value", dev, decision(t, dev, key, now, func(h, c map[string]any) { c["decision"] = "maybe" }), `"approve" or "deny"`},
		{"upper-case decision", dev, decision(t, dev, key, now, func(h, c map[string]any) { c["decision"] = "APPROVE" }), `"approve" or "deny"`},
		{"no request_id", dev, decision(t, dev, key, now, func(h, c map[string]any) { delete(c, "request_id") }), "request_id"},
		{"no summary", dev, decision(t, dev, key, now, func(h, c map[string]any) { delete(c, "summary") }), "summary"},
		{"summary not a string", dev, decision(t, dev, key, now, func(h, c map[string]any) { c["summary"] = 7 }), "claims"},
		{"request typ", dev, decision(t, dev, key, now, func(h, c map[string]any) { h["typ"] = device.TypeRequest }), "typ"},
		{"iat too old", dev, decision(t, dev, key, now, func(h, c map[string]any) { c["iat"] = now.Add(-2 * device.DefaultSkew).Unix() }), "iat"},
		{"no jti", dev, decision(t, dev, key, now, func(h, c map[string]any) { delete(c, "jti") }), "jti"},
		{"alg none", dev, decision(t, dev, key, now, func(h, c map[string]any) { h["alg"] = "none" }), "unexpected signature algorithm"},
		{"revoked device", revoked, decision(t, dev, key, now, nil), "revoked"},
		{"empty", dev, "", "parse jws"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.ParseDecision(t.Context(), tt.dev, tt.jws)
			checkOAuthError(t, err, oauth.InvalidRequest, http.StatusBadRequest, tt.detail)
		})
	}
}

func TestRevoke(t *testing.T) {
	st := openStore(t, t.TempDir())
	now := time.Now().UTC().Truncate(time.Second)
	dev, _ := enrolDevice(t, st, func() time.Time { return now })
	if err := device.Revoke(t.Context(), st, dev.ID, now); err != nil {
		t.Fatal(err)
	}
	// Revoking again keeps the first time.
	if err := device.Revoke(t.Context(), st, dev.ID, now.Add(time.Hour)); err != nil {
		t.Fatalf("Revoke again = %v, want nil", err)
	}
	got, err := st.Device(t.Context(), dev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.RevokedAt.Equal(now) {
		t.Errorf("RevokedAt = %v, want %v", got.RevokedAt, now)
	}
	err = device.Revoke(t.Context(), st, "nope", now)
	checkOAuthError(t, err, oauth.NotFound, http.StatusNotFound, "no such device")
}
