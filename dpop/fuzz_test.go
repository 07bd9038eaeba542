package dpop_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/backchannel/backchannel/dpop"
)

// FuzzVerify feeds arbitrary DPoP headers to Verify: it must never panic,
// and whatever it accepts must come with a thumbprint.
func FuzzVerify(f *testing.F) {
	k := newKey(f, "ES256")
	valid := k.proof(f, http.MethodPost, tokenURL)
	f.Add(valid)
	f.Add(valid[:len(valid)-4])
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7fX0.e30.AAAA")
	h := k.header(f)
	h["jwk"] = map[string]any{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}
	f.Add(k.sign(f, h, claims(http.MethodPost, tokenURL)))
	f.Fuzz(func(t *testing.T, proof string) {
		r := request(http.MethodPost, tokenURL)
		r.Header.Set(dpop.Header, proof)
		jkt, err := verifier().Verify(r, tokenURL, "")
		if err == nil && jkt == "" {
			t.Errorf("Verify(%q) accepted without a thumbprint", proof)
		}
	})
}
