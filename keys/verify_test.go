package keys_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	gocmp "github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/keys"
)

// sign makes a compact JWS of payload with key under alg and header kid
// (none when kid is "").
func sign(t *testing.T, alg string, key any, kid string, payload string) string {
	t.Helper()
	k := key
	if kid != "" {
		k = jose.JSONWebKey{Key: key, KeyID: kid}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: k}, nil)
	if err != nil {
		t.Fatalf("NewSigner(%s) = %v", alg, err)
	}
	jws, err := signer.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsigned builds a token with any header, for algs go-jose will not
// produce ("none").
func unsigned(header, payload, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + sig
}

// clientKeys are a client's private keys and its published public set.
type clientKeys struct {
	ec     *ecdsa.PrivateKey
	rsa    *rsa.PrivateKey
	ed     ed25519.PrivateKey
	weak   *rsa.PrivateKey // 1024 bits
	public jose.JSONWebKeySet
}

func newClientKeys(t *testing.T) clientKeys {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024) // deliberately weak, to be refused
	if err != nil {
		t.Fatal(err)
	}
	return clientKeys{
		ec: ec, rsa: r, ed: ed, weak: weak,
		public: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: ec.Public(), KeyID: "ec", Use: "sig"},
			{Key: r.Public(), KeyID: "rsa-rs256", Algorithm: "RS256"},
			{Key: ed.Public(), KeyID: "ed"},
			{Key: weak.Public(), KeyID: "weak"},
			{Key: ec.Public(), KeyID: "ec-enc", Use: "enc"},
		}},
	}
}

func TestVerifyJWS(t *testing.T) {
	t.Parallel()
	ck := newClientKeys(t)
	const payload = `{"sub":"c1"}`
	ecJWK, err := json.Marshal(jose.JSONWebKey{Key: ck.ec.Public()})
	if err != nil {
		t.Fatal(err)
	}
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := sign(t, "ES256", ck.ec, "ec", payload)
	all := []string{"ES256", "PS256", "RS256", "EdDSA", "HS256", "none"}

	tests := []struct {
		name        string
		token       string
		algs        []string
		wantKid     string
		wantErr     bool
		wantUnknown bool // errors.Is(err, ErrUnknownKey)
	}{
		{name: "es256 with kid", token: good, algs: []string{"ES256"}, wantKid: "ec"},
		{name: "es256 without kid", token: sign(t, "ES256", ck.ec, "", payload), algs: []string{"ES256"}},
		{name: "rs256 with kid", token: sign(t, "RS256", ck.rsa, "rsa-rs256", payload), algs: []string{"RS256"}, wantKid: "rsa-rs256"},
		{name: "eddsa", token: sign(t, "EdDSA", ck.ed, "ed", payload), algs: []string{"EdDSA"}, wantKid: "ed"},
		{name: "eddsa without kid", token: sign(t, "EdDSA", ck.ed, "", payload), algs: []string{"EdDSA"}},

		{name: "alg none", token: unsigned(`{"alg":"none"}`, payload, ""), algs: all, wantErr: true},
		{name: "alg none with kid", token: unsigned(`{"alg":"none","kid":"ec"}`, payload, ""), algs: []string{"none"}, wantErr: true},
		{name: "HS256 with the public key as secret", token: sign(t, "HS256", ecJWK, "ec", payload), algs: all, wantErr: true},
		{name: "HS256 only allowed", token: sign(t, "HS256", ecJWK, "ec", payload), algs: []string{"HS256"}, wantErr: true},
		{name: "alg not allowed", token: good, algs: []string{"PS256", "RS256"}, wantErr: true},
		{name: "no algs", token: good, algs: nil, wantErr: true},
		{name: "unknown kid", token: sign(t, "ES256", ck.ec, "nope", payload), algs: []string{"ES256"}, wantErr: true, wantUnknown: true},
		{name: "no key fits without kid", token: sign(t, "PS256", ck.rsa, "", payload), algs: []string{"PS256"}, wantErr: true, wantUnknown: true},
		{name: "key alg differs from header alg", token: sign(t, "PS256", ck.rsa, "rsa-rs256", payload), algs: []string{"PS256"}, wantErr: true},
		{name: "key type differs from header alg", token: sign(t, "ES256", ck.ec, "ed", payload), algs: []string{"ES256"}, wantErr: true},
		{name: "enc key", token: sign(t, "ES256", ck.ec, "ec-enc", payload), algs: []string{"ES256"}, wantErr: true},
		{name: "rsa 1024", token: sign(t, "RS256", ck.weak, "weak", payload), algs: []string{"RS256"}, wantErr: true},
		{name: "signed by another key", token: sign(t, "ES256", otherEC, "ec", payload), algs: []string{"ES256"}, wantErr: true},
		{name: "other key without kid", token: sign(t, "ES256", otherEC, "", payload), algs: []string{"ES256"}, wantErr: true},
		{name: "garbage", token: "a.b.c", algs: []string{"ES256"}, wantErr: true},
		{name: "json serialization", token: `{"payload":"e30","signatures":[]}`, algs: []string{"ES256"}, wantErr: true},
		{name: "stripped signature", token: strings.Join(strings.Split(good, ".")[:2], ".") + ".", algs: []string{"ES256"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, got, err := keys.VerifyJWS(tt.token, &ck.public, tt.algs)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("VerifyJWS = %s, nil error; want error", got)
				}
				if errors.Is(err, keys.ErrUnknownKey) != tt.wantUnknown {
					t.Errorf("VerifyJWS error = %v; errors.Is ErrUnknownKey = %v, want %v", err, !tt.wantUnknown, tt.wantUnknown)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyJWS = %v", err)
			}
			if string(got) != payload {
				t.Errorf("VerifyJWS payload = %s, want %s", got, payload)
			}
			if h.KeyID != tt.wantKid {
				t.Errorf("VerifyJWS header kid = %q, want %q", h.KeyID, tt.wantKid)
			}
		})
	}
}

func TestVerifyJWSNilSet(t *testing.T) {
	t.Parallel()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, "ES256", ec, "k", "{}")
	if _, _, err := keys.VerifyJWS(tok, nil, []string{"ES256"}); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("VerifyJWS(nil set) = %v, want ErrUnknownKey", err)
	}
}

func TestVerifyHMAC(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") // 64 bytes
	short := []byte("too-short")
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const payload = `{"iss":"c1"}`
	hs := []string{"HS256", "HS384", "HS512"}
	tests := []struct {
		name    string
		token   string
		secret  []byte
		algs    []string
		wantErr bool
	}{
		{"hs256", sign(t, "HS256", secret, "", payload), secret, hs, false},
		{"hs384", sign(t, "HS384", secret, "", payload), secret, hs, false},
		{"hs512", sign(t, "HS512", secret, "", payload), secret, hs, false},
		{"kid is ignored", sign(t, "HS256", secret, "x", payload), secret, []string{"HS256"}, false},
		{"wrong secret", sign(t, "HS256", secret, "", payload), []byte("fedcba9876543210fedcba9876543210"), hs, true},
		{"empty secret", sign(t, "HS256", secret, "", payload), nil, hs, true},
		{"secret shorter than hash", unsigned(`{"alg":"HS256"}`, payload, "AAAA"), short, hs, true},
		{"alg not allowed", sign(t, "HS512", secret, "", payload), secret, []string{"HS256"}, true},
		{"asymmetric alg", sign(t, "ES256", ec, "", payload), secret, []string{"ES256", "HS256"}, true},
		{"only asymmetric algs", sign(t, "HS256", secret, "", payload), secret, []string{"ES256"}, true},
		{"none", unsigned(`{"alg":"none"}`, payload, ""), secret, []string{"none", "HS256"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, got, err := keys.VerifyHMAC(tt.token, tt.secret, tt.algs)
			if tt.wantErr {
				if err == nil {
					t.Errorf("VerifyHMAC = %s, nil error; want error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyHMAC = %v", err)
			}
			if string(got) != payload {
				t.Errorf("VerifyHMAC payload = %s, want %s", got, payload)
			}
		})
	}
}

func TestParseJWKS(t *testing.T) {
	t.Parallel()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := json.Marshal(jose.JSONWebKey{Key: ec.Public(), KeyID: "a", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	priv, err := json.Marshal(jose.JSONWebKey{Key: ec, KeyID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	set := func(members ...string) string { return `{"keys":[` + strings.Join(members, ",") + `]}` }
	tests := []struct {
		name     string
		in       string
		wantKids []string
		wantErr  bool
	}{
		{"one key", set(string(pub)), []string{"a"}, false},
		{"empty", `{"keys":[]}`, []string{}, false},
		{"unknown kty is skipped", set(`{"kty":"XYZ","kid":"x"}`, string(pub)), []string{"a"}, false},
		{"malformed key is skipped", set(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"bad"}`, string(pub)), []string{"a"}, false},
		{"private key", set(string(pub), string(priv)), nil, true},
		{"symmetric key", set(`{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`), nil, true},
		{"rsa private member", set(`{"kty":"RSA","n":"AQAB","e":"AQAB","p":"AQAB"}`), nil, true},
		{"no keys member", `{}`, nil, true},
		{"keys not an array", `{"keys":{}}`, nil, true},
		{"key not an object", `{"keys":[1]}`, nil, true},
		{"not json", `{`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := keys.ParseJWKS([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Errorf("ParseJWKS(%s) = %d keys, want error", tt.in, len(got.Keys))
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseJWKS = %v", err)
			}
			if diff := gocmp.Diff(tt.wantKids, kidsOf(got)); diff != "" {
				t.Errorf("ParseJWKS kids diff (-want +got):\n%s", diff)
			}
		})
	}
}

func kidsOf(set *jose.JSONWebKeySet) []string {
	out := []string{}
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}
