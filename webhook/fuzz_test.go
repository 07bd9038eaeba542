package webhook_test

import (
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel/webhook"
)

// FuzzVerify checks that a callback's signature header is accepted only
// when it carries the HMAC of its own timestamp and body under the
// secret, with the timestamp within tolerance, whatever else the header
// holds.
func FuzzVerify(f *testing.F) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"decision":"approve","summary":"abc"}`)
	good := webhook.Sign(secret, now, body)
	f.Add(good, body)
	f.Add(" "+strings.ReplaceAll(good, ",", " , ")+" ", body)
	f.Add(good+",v1="+strings.Repeat("0", 64), body)
	f.Add(webhook.Sign(secret, now.Add(-time.Hour), body), body)
	f.Add(webhook.Sign([]byte("another secret"), now, body), body)
	f.Add(good, []byte(`{"decision":"deny"}`))
	f.Add("t=99999999999999999999,v1=00", body)
	f.Add("t=-9223372036854775808,v1="+strings.Repeat("ab", 32), body)
	f.Add("v1=,t=,=", []byte(nil))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		at, err := webhook.Verify(secret, header, body, now, webhook.DefaultTolerance)
		if err != nil {
			return
		}
		if d := now.Sub(at); d > webhook.DefaultTolerance || d < -webhook.DefaultTolerance {
			t.Fatalf("Verify(%q) = %v, outside the tolerance of %v", header, at, now)
		}
		_, want, _ := strings.Cut(webhook.Sign(secret, at, body), ",v1=")
		if !strings.Contains(strings.ToLower(header), want) {
			t.Fatalf("Verify(%q, %q) accepted a header without the body's signature %s", header, body, want)
		}
	})
}
