package dpop_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/backchannel/backchannel/dpop"
)

func TestNonceSource(t *testing.T) {
	t.Parallel()
	clock := now()
	secret := []byte("0123456789abcdef0123456789abcdef")
	n := &dpop.NonceSource{Secret: secret, Period: time.Minute, Now: func() time.Time { return clock }}
	first := n.Nonce()
	if len(first) < 22 {
		t.Errorf("Nonce() = %q, want at least 128 bits of base64url", first)
	}
	if !n.Valid(first) {
		t.Errorf("Valid(current nonce) = false")
	}
	// Another instance with the same secret agrees; another secret does
	// not.
	twin := &dpop.NonceSource{Secret: secret, Period: time.Minute, Now: func() time.Time { return clock }}
	if !twin.Valid(first) {
		t.Error("an instance with the same secret refuses the nonce")
	}
	stranger := &dpop.NonceSource{Secret: []byte("another secret of thirty-two bytes!"), Period: time.Minute, Now: func() time.Time { return clock }}
	if stranger.Valid(first) {
		t.Error("an instance with another secret accepts the nonce")
	}
	// The next bucket still accepts it; the one after does not.
	clock = clock.Add(time.Minute)
	if second := n.Nonce(); second == first || !n.Valid(first) || !n.Valid(second) {
		t.Errorf("one period later: Nonce() = %q (first %q), Valid(first) = %v", second, first, n.Valid(first))
	}
	clock = clock.Add(time.Minute)
	if n.Valid(first) {
		t.Error("Valid(nonce two periods old) = true")
	}
	for _, bad := range []string{"", "x", first + "x"} {
		if n.Valid(bad) {
			t.Errorf("Valid(%q) = true", bad)
		}
	}
	short := &dpop.NonceSource{Secret: []byte("short"), Now: func() time.Time { return clock }}
	if short.Valid(short.Nonce()) {
		t.Error("a source with a short secret accepts its own nonce")
	}
}

func TestVerifyNonce(t *testing.T) {
	t.Parallel()
	k := newKey(t, "ES256")
	clock := now()
	nonces := &dpop.NonceSource{Secret: []byte("0123456789abcdef0123456789abcdef"), Period: time.Minute, Now: func() time.Time { return clock }}
	v := verifier()
	v.Nonces = nonces
	if v.Nonce() != nonces.Nonce() || verifier().Nonce() != "" {
		t.Errorf("Verifier.Nonce() = %q, want the source's; without a source %q, want empty", v.Nonce(), verifier().Nonce())
	}
	proof := func(nonce any) *http.Request {
		c := claims(http.MethodPost, tokenURL)
		if nonce != nil {
			c["nonce"] = nonce
		}
		return request(http.MethodPost, tokenURL, k.sign(t, k.header(t), c))
	}
	// Without a nonce, or with a wrong one: use_dpop_nonce, and the jti
	// is not used up.
	c := claims(http.MethodPost, tokenURL)
	_, err := v.Verify(request(http.MethodPost, tokenURL, k.sign(t, k.header(t), c)), tokenURL, "")
	wantCode(t, "Verify(no nonce)", err, dpop.UseNonce)
	_, err = v.Verify(proof("made-up"), tokenURL, "")
	wantCode(t, "Verify(unknown nonce)", err, dpop.UseNonce)
	_, err = v.Verify(proof(42), tokenURL, "")
	wantCode(t, "Verify(numeric nonce)", err, dpop.InvalidProof)
	c["nonce"] = v.Nonce()
	if _, err := v.Verify(request(http.MethodPost, tokenURL, k.sign(t, k.header(t), c)), tokenURL, ""); err != nil {
		t.Errorf("Verify(retry with the nonce, same jti) = %v", err)
	}
	// A nonce of the previous bucket passes; older ones do not.
	old := v.Nonce()
	clock = clock.Add(time.Minute)
	if _, err := v.Verify(proof(old), tokenURL, ""); err != nil {
		t.Errorf("Verify(previous bucket's nonce) = %v", err)
	}
	clock = clock.Add(time.Minute)
	_, err = v.Verify(proof(old), tokenURL, "")
	wantCode(t, "Verify(stale nonce)", err, dpop.UseNonce)
}
