package dpop_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/dpop"
	"github.com/backchannel/backchannel/store"
)

func TestVerifyAccepts(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"ES256", "PS256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			k := newKey(t, alg)
			jkt, err := verifier().Verify(request(http.MethodPost, tokenURL, k.proof(t, http.MethodPost, tokenURL)), tokenURL, "")
			if err != nil {
				t.Fatalf("Verify = %v", err)
			}
			if want := k.thumbprint(t); jkt != want {
				t.Errorf("Verify = %q, want the key's thumbprint %q", jkt, want)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	k := newKey(t, "ES256")
	other := newKey(t, "ES256")
	rsaKey := newKey(t, "RS256")
	const token = "opaque-access-token"
	with := func(change func(h, c map[string]any)) func(t *testing.T) string {
		return func(t *testing.T) string {
			h, c := k.header(t), claims(http.MethodGet, apiURL)
			c["ath"] = dpop.AccessTokenHash(token)
			change(h, c)
			return k.sign(t, h, c)
		}
	}
	tests := []struct {
		name   string
		proofs func(t *testing.T) []string
	}{
		{"no DPoP header", func(t *testing.T) []string { return nil }},
		{"two DPoP headers", func(t *testing.T) []string {
			p := with(func(h, c map[string]any) {})(t)
			return []string{p, p}
		}},
		{"empty header", func(t *testing.T) []string { return []string{" "} }},
		{"not a JWS", func(t *testing.T) []string { return []string{"not.a.jws"} }},
		{"too large", func(t *testing.T) []string { return []string{strings.Repeat("a", dpop.MaxProofBytes+1)} }},
		{"typ JWT", one(with(func(h, c map[string]any) { h["typ"] = "JWT" }))},
		{"no typ", one(with(func(h, c map[string]any) { delete(h, "typ") }))},
		{"alg none", one(func(t *testing.T) string {
			h := k.header(t)
			h["alg"] = "none"
			p := k.sign(t, h, claims(http.MethodGet, apiURL))
			return p[:strings.LastIndex(p, ".")+1]
		})},
		{"alg HS256", one(with(func(h, c map[string]any) { h["alg"] = "HS256" }))},
		{"alg not matching the key", one(with(func(h, c map[string]any) { h["alg"] = "RS256" }))},
		{"no jwk", one(with(func(h, c map[string]any) { delete(h, "jwk") }))},
		{"private jwk", one(with(func(h, c map[string]any) {
			priv, _ := jose.JSONWebKey{Key: k.priv}.MarshalJSON()
			h["jwk"] = jsonObject(priv)
		}))},
		{"symmetric jwk", one(with(func(h, c map[string]any) {
			h["jwk"] = map[string]any{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}
		}))},
		{"jwk of another key", one(with(func(h, c map[string]any) { h["jwk"] = other.publicJWK(t) }))},
		{"small RSA key", one(func(t *testing.T) string {
			// A 2048-bit key signs, but the header claims another one.
			h := rsaKey.header(t)
			h["jwk"] = map[string]any{"kty": "RSA", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"}
			return rsaKey.sign(t, h, claims(http.MethodGet, apiURL))
		})},
		{"no jti", one(with(func(h, c map[string]any) { delete(c, "jti") }))},
		{"jti too long", one(with(func(h, c map[string]any) { c["jti"] = strings.Repeat("j", 257) }))},
		{"no htm", one(with(func(h, c map[string]any) { delete(c, "htm") }))},
		{"no htu", one(with(func(h, c map[string]any) { delete(c, "htu") }))},
		{"no iat", one(with(func(h, c map[string]any) { delete(c, "iat") }))},
		{"iat a string", one(with(func(h, c map[string]any) { c["iat"] = "1772366400" }))},
		{"wrong htm", one(with(func(h, c map[string]any) { c["htm"] = http.MethodPost }))},
		{"lower-case htm", one(with(func(h, c map[string]any) { c["htm"] = "get" }))},
		{"wrong htu path", one(with(func(h, c map[string]any) { c["htu"] = "https://api.example/v1/payments" }))},
		{"wrong htu host", one(with(func(h, c map[string]any) { c["htu"] = "https://evil.example/v1/accounts" }))},
		{"wrong htu scheme", one(with(func(h, c map[string]any) { c["htu"] = "http://api.example/v1/accounts" }))},
		{"relative htu", one(with(func(h, c map[string]any) { c["htu"] = "/v1/accounts" }))},
		{"iat too old", one(with(func(h, c map[string]any) { c["iat"] = now().Add(-61 * time.Second).Unix() }))},
		{"iat too new", one(with(func(h, c map[string]any) { c["iat"] = now().Add(61 * time.Second).Unix() }))},
		{"no ath", one(with(func(h, c map[string]any) { delete(c, "ath") }))},
		{"ath of another token", one(with(func(h, c map[string]any) { c["ath"] = dpop.AccessTokenHash("other") }))},
		{"ath not base64url", one(with(func(h, c map[string]any) { c["ath"] = "x" }))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := request(http.MethodGet, apiURL, tt.proofs(t)...)
			jkt, err := verifier().Verify(r, apiURL, token)
			if jkt != "" {
				t.Errorf("Verify returned jkt %q with an error", jkt)
			}
			wantCode(t, "Verify", err, dpop.InvalidProof)
		})
	}
}

func one(f func(t *testing.T) string) func(t *testing.T) []string {
	return func(t *testing.T) []string { return []string{f(t)} }
}

func TestVerifyAlgAllowList(t *testing.T) {
	t.Parallel()
	k := newKey(t, "PS256")
	v := verifier()
	v.Algs = []string{"ES256", "none", "HS256"}
	_, err := v.Verify(request(http.MethodPost, tokenURL, k.proof(t, http.MethodPost, tokenURL)), tokenURL, "")
	wantCode(t, "Verify(PS256 proof, Algs ES256)", err, dpop.InvalidProof)
	if diff := cmp.Diff([]string{"ES256"}, v.AcceptedAlgs()); diff != "" {
		t.Errorf("AcceptedAlgs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ES256", "PS256", "RS256", "EdDSA"}, verifier().AcceptedAlgs()); diff != "" {
		t.Errorf("default AcceptedAlgs (-want +got):\n%s", diff)
	}
}

func TestVerifyWindow(t *testing.T) {
	t.Parallel()
	k := newKey(t, "ES256")
	for _, skew := range []time.Duration{-60 * time.Second, 0, 60 * time.Second} {
		c := claims(http.MethodPost, tokenURL)
		c["iat"] = now().Add(skew).Unix()
		r := request(http.MethodPost, tokenURL, k.sign(t, k.header(t), c))
		if _, err := verifier().Verify(r, tokenURL, ""); err != nil {
			t.Errorf("Verify(iat now%+v) = %v, want accepted", skew, err)
		}
	}
	v := verifier()
	v.IATWindow = 5 * time.Second
	c := claims(http.MethodPost, tokenURL)
	c["iat"] = now().Add(-6 * time.Second).Unix()
	_, err := v.Verify(request(http.MethodPost, tokenURL, k.sign(t, k.header(t), c)), tokenURL, "")
	wantCode(t, "Verify(iat 6 s old, window 5 s)", err, dpop.InvalidProof)
}

func TestVerifyReplay(t *testing.T) {
	t.Parallel()
	k, other := newKey(t, "ES256"), newKey(t, "ES256")
	v := verifier()
	c := claims(http.MethodPost, tokenURL)
	p := k.sign(t, k.header(t), c)
	if _, err := v.Verify(request(http.MethodPost, tokenURL, p), tokenURL, ""); err != nil {
		t.Fatalf("first Verify = %v", err)
	}
	_, err := v.Verify(request(http.MethodPost, tokenURL, p), tokenURL, "")
	wantCode(t, "Verify(replayed proof)", err, dpop.InvalidProof)

	// The jti cache is per key: another key's proof with the same jti
	// is another proof.
	if _, err := v.Verify(request(http.MethodPost, tokenURL, other.sign(t, other.header(t), c)), tokenURL, ""); err != nil {
		t.Errorf("Verify(same jti, other key) = %v, want accepted", err)
	}
}

func TestVerifyStoreFailure(t *testing.T) {
	t.Parallel()
	k := newKey(t, "ES256")
	broken := errors.New("database is down")
	v := &dpop.Verifier{Store: jtiFunc(func(context.Context, string, time.Time) error { return broken }), Now: now}
	_, err := v.Verify(request(http.MethodPost, tokenURL, k.proof(t, http.MethodPost, tokenURL)), tokenURL, "")
	if !errors.Is(err, broken) {
		t.Errorf("Verify with a failing store = %v, want the store's error", err)
	}
}

type jtiFunc func(ctx context.Context, key string, exp time.Time) error

func (f jtiFunc) UseOnce(ctx context.Context, key string, exp time.Time) error {
	return f(ctx, key, exp)
}

func TestVerifyRecordsJTIUntilWindowEnds(t *testing.T) {
	t.Parallel()
	k := newKey(t, "ES256")
	var gotKey string
	var gotExp time.Time
	v := &dpop.Verifier{Now: now, Store: jtiFunc(func(_ context.Context, key string, exp time.Time) error {
		gotKey, gotExp = key, exp
		return nil
	})}
	if _, err := v.Verify(request(http.MethodPost, tokenURL, k.proof(t, http.MethodPost, tokenURL)), tokenURL, ""); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(gotKey, "dpop:") || len(gotKey) > 64 {
		t.Errorf("UseOnce key = %q, want a short dpop: key", gotKey)
	}
	if want := now().Add(61 * time.Second); !gotExp.Equal(want) {
		t.Errorf("UseOnce expiry = %v, want iat + window + 1 s = %v", gotExp, want)
	}
}

func TestVerifyHTUNormalization(t *testing.T) {
	t.Parallel()
	k := newKey(t, "ES256")
	for _, htu := range []string{
		"https://op.example/token",
		"HTTPS://OP.Example/token",
		"https://op.example:443/token",
		"https://op.example/token?x=1",
		"https://op.example/token#frag",
		"https://op.example/%74oken",
	} {
		r := request(http.MethodPost, tokenURL, k.sign(t, k.header(t), claims(http.MethodPost, htu)))
		if _, err := verifier().Verify(r, tokenURL, ""); err != nil {
			t.Errorf("Verify(htu %q) for %s = %v, want accepted", htu, tokenURL, err)
		}
	}
}

func TestSameURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		htu, want string
		same      bool
	}{
		{"https://a.example/x", "https://a.example/x", true},
		{"https://a.example", "https://a.example/", true},
		{"http://a.example:80/x", "http://a.example/x", true},
		{"https://a.example:8443/x", "https://a.example/x", false},
		{"https://[::1]:8443/x", "https://[::1]:8443/x", true},
		{"https://a.example/x/", "https://a.example/x", false},
		{"https://a.example/a%2Fb", "https://a.example/a/b", false},
		{"https://user@a.example/x", "https://a.example/x", false},
		{"ftp://a.example/x", "ftp://a.example/x", false},
		{"", "https://a.example/x", false},
		{"https://a.example/x", "", false},
		{"urn:x:y", "urn:x:y", false},
	}
	for _, tt := range tests {
		if got := dpop.SameURI(tt.htu, tt.want); got != tt.same {
			t.Errorf("SameURI(%q, %q) = %v, want %v", tt.htu, tt.want, got, tt.same)
		}
	}
}

func TestAccessTokenHash(t *testing.T) {
	t.Parallel()
	// RFC 9449 §7.1's example: this access token has this ath.
	const tok = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	if got, want := dpop.AccessTokenHash(tok), "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"; got != want {
		t.Errorf("AccessTokenHash(%q) = %q, want %q", tok, got, want)
	}
}

func TestMemoryJTIStore(t *testing.T) {
	t.Parallel()
	clock := now()
	m := &dpop.MemoryJTIStore{Now: func() time.Time { return clock }}
	ctx := t.Context()
	if err := m.UseOnce(ctx, "a", clock.Add(time.Minute)); err != nil {
		t.Fatalf("UseOnce(a) = %v", err)
	}
	if err := m.UseOnce(ctx, "a", clock.Add(time.Minute)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UseOnce(a) again = %v, want ErrConflict", err)
	}
	if err := m.UseOnce(ctx, "b", clock.Add(time.Minute)); err != nil {
		t.Errorf("UseOnce(b) = %v", err)
	}
	clock = clock.Add(time.Minute)
	if err := m.UseOnce(ctx, "a", clock.Add(time.Minute)); err != nil {
		t.Errorf("UseOnce(a) after its expiry = %v, want nil", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.UseOnce(canceled, "c", clock.Add(time.Minute)); err == nil {
		t.Error("UseOnce with a canceled context = nil, want error")
	}
}

// jsonObject decodes a JSON object.
func jsonObject(b []byte) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}
