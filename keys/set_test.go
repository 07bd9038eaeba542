package keys_test

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	gocmp "github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/store"
)

// fakeStore implements the signing-key methods of store.Store in memory.
// Any other method panics through the nil embedded interface.
type fakeStore struct {
	store.Store

	mu   sync.Mutex
	keys []store.SigningKey
}

func (s *fakeStore) CreateSigningKey(_ context.Context, k store.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, old := range s.keys {
		if old.ID == k.ID {
			return store.ErrConflict
		}
	}
	s.keys = append(s.keys, k)
	return nil
}

func (s *fakeStore) SigningKeys(context.Context) ([]store.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.keys)
	slices.SortStableFunc(out, func(a, b store.SigningKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (s *fakeStore) RotateSigningKey(_ context.Context, k store.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if s.keys[i].Alg == k.Alg && s.keys[i].RetiredAt.IsZero() {
			s.keys[i].RetiredAt = k.CreatedAt
		}
	}
	s.keys = append(s.keys, k)
	return nil
}

// clock is a settable clock safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func load(t *testing.T, s store.Store, cfg keys.Config) *keys.Set {
	t.Helper()
	set, err := keys.Load(t.Context(), s, cfg)
	if err != nil {
		t.Fatalf("Load(%v) = %v", cfg.Algs, err)
	}
	return set
}

// rfc7638 computes a JWK thumbprint from a public JWK's JSON, independently
// of go-jose: SHA-256 over the required members in lexicographic order
// (RFC 7638 §3.2, §3.3).
func rfc7638(t *testing.T, jwkJSON []byte) string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(jwkJSON, &m); err != nil {
		t.Fatal(err)
	}
	var required []string
	switch m["kty"] {
	case "EC":
		required = []string{"crv", "kty", "x", "y"}
	case "RSA":
		required = []string{"e", "kty", "n"}
	case "OKP":
		required = []string{"crv", "kty", "x"}
	default:
		t.Fatalf("kty %q", m["kty"])
	}
	var b strings.Builder
	b.WriteString("{")
	for i, k := range required {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"` + k + `":"` + m[k] + `"`)
	}
	b.WriteString("}")
	sum := sha256.Sum256([]byte(b.String()))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// keyInfo is what a test checks of one published JWK.
type keyInfo struct {
	Alg string
	Use string
	Kty string
	Crv string
}

func TestLoadGeneratesKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		algs []string
		want []keyInfo
	}{
		{"default", nil, []keyInfo{{"ES256", "sig", "EC", "P-256"}}},
		{"es256", []string{"ES256"}, []keyInfo{{"ES256", "sig", "EC", "P-256"}}},
		{"ps256", []string{"PS256"}, []keyInfo{{"PS256", "sig", "RSA", ""}}},
		{"rs256", []string{"RS256"}, []keyInfo{{"RS256", "sig", "RSA", ""}}},
		{"eddsa", []string{"EdDSA"}, []keyInfo{{"EdDSA", "sig", "OKP", "Ed25519"}}},
		{"two", []string{"EdDSA", "ES256"}, []keyInfo{{"EdDSA", "sig", "OKP", "Ed25519"}, {"ES256", "sig", "EC", "P-256"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &fakeStore{}
			set := load(t, s, keys.Config{Algs: tt.algs})

			wantAlgs := tt.algs
			if wantAlgs == nil {
				wantAlgs = []string{"ES256"}
			}
			if diff := gocmp.Diff(wantAlgs, set.Algs()); diff != "" {
				t.Errorf("Algs() diff (-want +got):\n%s", diff)
			}
			if got := set.DefaultAlg(); got != wantAlgs[0] {
				t.Errorf("DefaultAlg() = %q, want %q", got, wantAlgs[0])
			}

			b, err := json.Marshal(set.JWKS())
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Keys []json.RawMessage `json:"keys"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			var got []keyInfo
			for _, raw := range doc.Keys {
				var m map[string]any
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatal(err)
				}
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
					if _, ok := m[private]; ok {
						t.Errorf("JWKS key has private member %q", private)
					}
				}
				crv, _ := m["crv"].(string)
				got = append(got, keyInfo{m["alg"].(string), m["use"].(string), m["kty"].(string), crv})
				if kid, want := m["kid"], rfc7638(t, raw); kid != want {
					t.Errorf("kid = %v, want RFC 7638 thumbprint %s", kid, want)
				}
				if m["kty"] == "RSA" {
					n, _ := base64.RawURLEncoding.DecodeString(m["n"].(string))
					if len(n)*8 != 2048 {
						t.Errorf("RSA modulus = %d bits, want 2048", len(n)*8)
					}
				}
			}
			if diff := gocmp.Diff(tt.want, got); diff != "" {
				t.Errorf("JWKS() diff (-want +got):\n%s", diff)
			}

			// The keys were persisted, and a second Load reuses them.
			recs, _ := s.SigningKeys(t.Context())
			if len(recs) != len(wantAlgs) {
				t.Fatalf("store has %d keys, want %d", len(recs), len(wantAlgs))
			}
			again := load(t, s, keys.Config{Algs: tt.algs})
			if diff := gocmp.Diff(kids(set.JWKS()), kids(again.JWKS())); diff != "" {
				t.Errorf("second Load has other keys (-first +second):\n%s", diff)
			}
			if recs2, _ := s.SigningKeys(t.Context()); len(recs2) != len(recs) {
				t.Errorf("second Load created keys: store has %d, want %d", len(recs2), len(recs))
			}
		})
	}
}

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

func TestLoadRefusesBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  keys.Config
	}{
		{"none", keys.Config{Algs: []string{"none"}}},
		{"hmac", keys.Config{Algs: []string{"HS256"}}},
		{"unsupported", keys.Config{Algs: []string{"ES384"}}},
		{"duplicate", keys.Config{Algs: []string{"ES256", "ES256"}}},
		{"negative lifetime", keys.Config{MaxTokenLifetime: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &fakeStore{}
			if _, err := keys.Load(t.Context(), s, tt.cfg); err == nil {
				t.Fatalf("Load(%+v) = nil error, want error", tt.cfg)
			}
			if len(s.keys) != 0 {
				t.Errorf("Load with a bad config stored %d keys", len(s.keys))
			}
		})
	}
}

func TestLoadRefusesCorruptKey(t *testing.T) {
	t.Parallel()
	s := &fakeStore{}
	set := load(t, s, keys.Config{})
	pub, err := json.Marshal(set.JWKS().Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		rec  store.SigningKey
	}{
		{"not json", store.SigningKey{ID: "a", Alg: "ES256", PrivateJWK: []byte("{")}},
		{"public only", store.SigningKey{ID: "b", Alg: "ES256", PrivateJWK: pub}},
		{"wrong alg", store.SigningKey{ID: "c", Alg: "PS256", PrivateJWK: s.keys[0].PrivateJWK}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bad := &fakeStore{keys: []store.SigningKey{tt.rec}}
			if _, err := keys.Load(t.Context(), bad, keys.Config{}); err == nil {
				t.Errorf("Load of a store with key %s = nil error, want error", tt.name)
			}
		})
	}
}

// header decodes the protected header of a compact JWS without verifying.
func header(t *testing.T, token string) map[string]any {
	t.Helper()
	h, _, ok := strings.Cut(token, ".")
	if !ok {
		t.Fatalf("%q is not a compact JWS", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSignVerifyEachAlg(t *testing.T) {
	t.Parallel()
	s := &fakeStore{}
	set := load(t, s, keys.Config{Algs: []string{"ES256", "PS256", "RS256", "EdDSA"}})
	jwks := set.JWKS()
	claims := map[string]any{"iss": "https://op.example", "n": 1}
	for _, alg := range []string{"", "ES256", "PS256", "RS256", "EdDSA"} {
		t.Run(cmp.Or(alg, "default"), func(t *testing.T) {
			t.Parallel()
			tok, err := set.Sign(alg, "JWT", claims)
			if err != nil {
				t.Fatalf("Sign(%q) = %v", alg, err)
			}
			wantAlg := cmp.Or(alg, "ES256")
			h := header(t, tok)
			if h["alg"] != wantAlg || h["typ"] != "JWT" {
				t.Errorf("header = %v, want alg %s and typ JWT", h, wantAlg)
			}
			var kidAlg string
			for _, k := range jwks.Keys {
				if k.KeyID == h["kid"] {
					kidAlg = k.Algorithm
				}
			}
			if kidAlg != wantAlg {
				t.Errorf("header kid %v names a %q key, want the %s key", h["kid"], kidAlg, wantAlg)
			}

			payload, err := set.Verify(tok)
			if err != nil {
				t.Fatalf("Verify = %v", err)
			}
			if diff := gocmp.Diff(`{"iss":"https://op.example","n":1}`, string(payload)); diff != "" {
				t.Errorf("Verify payload diff (-want +got):\n%s", diff)
			}
			// Anyone holding the published JWKS can verify it too.
			gotH, _, err := keys.VerifyJWS(tok, &jwks, []string{wantAlg})
			if err != nil {
				t.Fatalf("VerifyJWS with the JWKS = %v", err)
			}
			if gotH.KeyID != h["kid"] || gotH.Algorithm != wantAlg {
				t.Errorf("VerifyJWS header = kid %q alg %q, want %v %s", gotH.KeyID, gotH.Algorithm, h["kid"], wantAlg)
			}
		})
	}
}

func TestSignWithoutTyp(t *testing.T) {
	t.Parallel()
	set := load(t, &fakeStore{}, keys.Config{})
	tok, err := set.Sign("", "", map[string]string{"a": "b"})
	if err != nil {
		t.Fatal(err)
	}
	if typ, ok := header(t, tok)["typ"]; ok {
		t.Errorf("header typ = %v, want none", typ)
	}
}

func TestSignRefuses(t *testing.T) {
	t.Parallel()
	set := load(t, &fakeStore{}, keys.Config{})
	tests := []struct {
		name   string
		alg    string
		claims any
	}{
		{"unconfigured alg", "PS256", map[string]any{}},
		{"none", "none", map[string]any{}},
		{"unmarshalable claims", "", map[string]any{"c": make(chan int)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tok, err := set.Sign(tt.alg, "JWT", tt.claims); err == nil {
				t.Errorf("Sign(%q) = %q, want error", tt.alg, tok)
			}
		})
	}
}

func TestVerifyRefusesForeignAndTampered(t *testing.T) {
	t.Parallel()
	ours := load(t, &fakeStore{}, keys.Config{})
	theirs := load(t, &fakeStore{}, keys.Config{})
	tok, err := theirs.Sign("", "JWT", map[string]any{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ours.Verify(tok); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("Verify(token of another set) = %v, want ErrUnknownKey", err)
	}
	good, err := ours.Sign("", "JWT", map[string]any{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	h, p, _ := strings.Cut(good, ".")
	_, sig, _ := strings.Cut(p, ".")
	forged := h + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"a":2}`)) + "." + sig
	if _, err := ours.Verify(forged); err == nil {
		t.Error("Verify(token with a changed payload) = nil error, want error")
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	const lifetime = time.Hour
	clk := newClock()
	s := &fakeStore{}
	set := load(t, s, keys.Config{MaxTokenLifetime: lifetime, Now: clk.Now})
	oldKid := set.JWKS().Keys[0].KeyID
	oldTok, err := set.Sign("", "JWT", map[string]any{"v": "old"})
	if err != nil {
		t.Fatal(err)
	}

	clk.Add(time.Minute)
	newKid, err := set.Rotate(t.Context(), "ES256")
	if err != nil {
		t.Fatalf("Rotate = %v", err)
	}
	if newKid == oldKid {
		t.Fatalf("Rotate returned the old kid %q", newKid)
	}
	newTok, err := set.Sign("", "JWT", map[string]any{"v": "new"})
	if err != nil {
		t.Fatal(err)
	}
	if kid := header(t, newTok)["kid"]; kid != newKid {
		t.Errorf("Sign after Rotate used kid %v, want %s", kid, newKid)
	}

	steps := []struct {
		name      string
		advance   time.Duration // from the previous step
		wantKids  []string
		oldVerify bool
	}{
		{"just rotated", 0, []string{newKid, oldKid}, true},
		{"one second before lifetime", lifetime - time.Second, []string{newKid, oldKid}, true},
		{"at lifetime", time.Second, []string{newKid}, false},
		{"long after", 24 * time.Hour, []string{newKid}, false},
	}
	for _, st := range steps {
		clk.Add(st.advance)
		if diff := gocmp.Diff(st.wantKids, kids(set.JWKS())); diff != "" {
			t.Errorf("%s: JWKS kids diff (-want +got):\n%s", st.name, diff)
		}
		_, err := set.Verify(oldTok)
		if st.oldVerify && err != nil {
			t.Errorf("%s: Verify(old token) = %v, want nil", st.name, err)
		}
		if !st.oldVerify && !errors.Is(err, keys.ErrUnknownKey) {
			t.Errorf("%s: Verify(old token) = %v, want ErrUnknownKey", st.name, err)
		}
		if _, err := set.Verify(newTok); err != nil {
			t.Errorf("%s: Verify(new token) = %v", st.name, err)
		}
	}

	// The retired key stays in the store, retired at the rotation.
	recs, _ := s.SigningKeys(t.Context())
	for _, r := range recs {
		if r.ID == oldKid && !r.RetiredAt.Equal(newClock().Now().Add(time.Minute)) {
			t.Errorf("old key RetiredAt = %v, want the rotation time", r.RetiredAt)
		}
	}
}

func TestRotateAll(t *testing.T) {
	t.Parallel()
	s := &fakeStore{}
	clk := newClock()
	set := load(t, s, keys.Config{Algs: []string{"EdDSA", "ES256"}, Now: clk.Now})
	before := kids(set.JWKS())
	clk.Add(time.Second)
	kid, err := set.Rotate(t.Context(), "")
	if err != nil {
		t.Fatalf(`Rotate("") = %v`, err)
	}
	after := kids(set.JWKS())
	if len(after) != 4 {
		t.Fatalf("JWKS has %d keys after rotating two algs, want 4", len(after))
	}
	// Active keys come first, default alg first.
	if after[0] != kid {
		t.Errorf(`Rotate("") = %q, want the new default key %q`, kid, after[0])
	}
	for _, k := range after[:2] {
		if slices.Contains(before, k) {
			t.Errorf("active key %q was not rotated", k)
		}
	}
	if diff := gocmp.Diff(sorted(before), sorted(after[2:])); diff != "" {
		t.Errorf("retired keys diff (-want +got):\n%s", diff)
	}
	if _, err := set.Rotate(t.Context(), "PS256"); err == nil {
		t.Error(`Rotate("PS256") of an unconfigured alg = nil error, want error`)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestReloadSeesOtherInstanceRotation(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := &fakeStore{}
	a := load(t, s, keys.Config{Now: clk.Now})
	b := load(t, s, keys.Config{Now: clk.Now})
	if diff := gocmp.Diff(kids(a.JWKS()), kids(b.JWKS())); diff != "" {
		t.Fatalf("two Sets on one store have different keys (-a +b):\n%s", diff)
	}
	clk.Add(time.Second)
	kid, err := a.Rotate(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Sign("", "JWT", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(tok); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("b.Verify before Reload = %v, want ErrUnknownKey", err)
	}
	if err := b.Reload(t.Context()); err != nil {
		t.Fatalf("Reload = %v", err)
	}
	if _, err := b.Verify(tok); err != nil {
		t.Errorf("b.Verify after Reload = %v", err)
	}
	btok, err := b.Sign("", "JWT", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if got := header(t, btok)["kid"]; got != kid {
		t.Errorf("b signs with kid %v after Reload, want %s", got, kid)
	}
	if diff := gocmp.Diff(kids(a.JWKS()), kids(b.JWKS())); diff != "" {
		t.Errorf("JWKS after Reload diff (-a +b):\n%s", diff)
	}
}

func TestDroppedAlgStaysPublishedButDoesNotSign(t *testing.T) {
	t.Parallel()
	s := &fakeStore{}
	both := load(t, s, keys.Config{Algs: []string{"ES256", "EdDSA"}})
	edTok, err := both.Sign("EdDSA", "JWT", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	esOnly := load(t, s, keys.Config{Algs: []string{"ES256"}})
	if tok, err := esOnly.Sign("EdDSA", "JWT", map[string]any{}); err == nil {
		t.Errorf("Sign(EdDSA) after dropping EdDSA = %q, want error", tok)
	}
	if _, err := esOnly.Verify(edTok); err != nil {
		t.Errorf("Verify(token of the dropped alg) = %v, want nil", err)
	}
	if diff := gocmp.Diff(kids(both.JWKS()), kids(esOnly.JWKS())); diff != "" {
		t.Errorf("JWKS after dropping an alg (-before +after):\n%s", diff)
	}
}

func TestSetConcurrentUse(t *testing.T) {
	t.Parallel()
	set := load(t, &fakeStore{}, keys.Config{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if i == 0 {
				if _, err := set.Rotate(t.Context(), ""); err != nil {
					t.Error(err)
				}
				return
			}
			tok, err := set.Sign("", "JWT", map[string]int{"i": i})
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := set.Verify(tok); err != nil {
				t.Error(err)
			}
			_ = set.JWKS()
		})
	}
	wg.Wait()
}

func TestThumbprintRFC7638Example(t *testing.T) {
	t.Parallel()
	// RFC 7638 §3.1: the example RSA key and its thumbprint.
	const jwkJSON = `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON([]byte(jwkJSON)); err != nil {
		t.Fatal(err)
	}
	got, err := keys.Thumbprint(k)
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("Thumbprint(RFC 7638 example) = %q, want %q", got, want)
	}
	if _, err := keys.Thumbprint(jose.JSONWebKey{Key: []byte("secret")}); err == nil {
		t.Error("Thumbprint(symmetric key) = nil error, want error")
	}
}

func TestSigningAlgs(t *testing.T) {
	t.Parallel()
	want := []string{"ES256", "PS256", "RS256", "EdDSA"}
	got := keys.SigningAlgs()
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("SigningAlgs() diff (-want +got):\n%s", diff)
	}
	got[0] = "none"
	if keys.SigningAlgs()[0] != "ES256" {
		t.Error("SigningAlgs() returns a shared slice")
	}
}
