package main

import (
	"testing"
	"time"

	"github.com/backchannel/backchannel/webhook"
)

// TestVerifyMatchesServer checks the example against the server's signer.
func TestVerifyMatchesServer(t *testing.T) {
	secret := []byte("an example secret of 32 bytes...")
	now := time.Now()
	body := []byte(`{"event":"request.created"}`)
	if err := verify(secret, webhook.Sign(secret, now, body), body, now); err != nil {
		t.Errorf("verify(Sign) = %v, want nil", err)
	}
	if err := verify(secret, webhook.Sign(secret, now, body), []byte(`{}`), now); err == nil {
		t.Error("verify of another body = nil, want an error")
	}
	if err := verify(secret, webhook.Sign(secret, now.Add(-6*time.Minute), body), body, now); err == nil {
		t.Error("verify of a stale signature = nil, want an error")
	}
	ts := webhook.Sign(secret, now, body)
	if _, err := webhook.Verify(secret, "t="+ts[2:12]+",v1="+hexOf(sign(secret, ts[2:12], body)), body, now, webhook.DefaultTolerance); err != nil {
		t.Errorf("server Verify of the example's signature = %v", err)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
