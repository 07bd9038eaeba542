package dpop_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/dpop"
	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/oauth"
)

const (
	tokenURL = "https://op.example/token"
	apiURL   = "https://api.example/v1/accounts"
)

// now is the clock of the tests.
func now() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

// proofKey is a client's DPoP key.
type proofKey struct {
	priv crypto.Signer
	alg  string
}

func newKey(t testing.TB, alg string) proofKey {
	t.Helper()
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256", "PS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil || priv == nil {
		t.Fatalf("generate %s key: %v", alg, err)
	}
	return proofKey{priv: priv, alg: alg}
}

// publicJWK returns the key's public JWK as a JSON object.
func (k proofKey) publicJWK(t testing.TB) map[string]any {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: k.priv.Public()})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (k proofKey) thumbprint(t testing.TB) string {
	t.Helper()
	jkt, err := keys.Thumbprint(jose.JSONWebKey{Key: k.priv.Public()})
	if err != nil {
		t.Fatal(err)
	}
	return jkt
}

// header returns the standard proof header of k.
func (k proofKey) header(t testing.TB) map[string]any {
	return map[string]any{"typ": "dpop+jwt", "alg": k.alg, "jwk": k.publicJWK(t)}
}

// claims returns valid claims for a request of method to htu at now().
func claims(method, htu string) map[string]any {
	return map[string]any{"jti": rand.Text(), "htm": method, "htu": htu, "iat": now().Unix()}
}

// sign makes a compact JWS of header and claims signed by k, whatever
// the header says, so that tests can forge any header.
func (k proofKey) sign(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := b64(h) + "." + b64(c)
	var sig []byte
	var err error
	switch key := k.priv.(type) {
	case *ecdsa.PrivateKey:
		sum := sha256.Sum256([]byte(input))
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, key, sum[:])
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case *rsa.PrivateKey:
		sum := sha256.Sum256([]byte(input))
		if k.alg == "PS256" {
			sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(key, []byte(input))
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

// proof is a valid proof by k for method and htu.
func (k proofKey) proof(t testing.TB, method, htu string) string {
	return k.sign(t, k.header(t), claims(method, htu))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// request returns a request of method to target carrying proofs as DPoP
// headers.
func request(method, target string, proofs ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	return r
}

// verifier returns a Verifier with a fresh in-memory jti store.
func verifier() *dpop.Verifier {
	return &dpop.Verifier{Store: &dpop.MemoryJTIStore{Now: now}, Now: now}
}

// wantCode checks that err is an *oauth.Error with code.
func wantCode(t *testing.T, what string, err error, code oauth.Code) {
	t.Helper()
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code != code {
		t.Errorf("%s = %v, want %s", what, err, code)
		return
	}
	if oe.HTTPStatus() != http.StatusBadRequest {
		t.Errorf("%s: status %d, want 400", what, oe.HTTPStatus())
	}
}
