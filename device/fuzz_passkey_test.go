package device_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/device/webauthntest"
)

// FuzzPasskeyAssertion feeds approvals whose passkey claim is arbitrary
// bytes to a device that has a passkey: only a genuine assertion over the
// decision's summary may pass, and nothing may panic.
func FuzzPasskeyAssertion(f *testing.F) {
	st := openStore(f, f.TempDir())
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	dev, key := enrolDevice(f, st, clock)
	pk, err := device.NewPasskeys(st, issuer, clock)
	if err != nil {
		f.Fatal(err)
	}
	auth := &device.Authenticator{Store: st, Now: clock, BaseURL: issuer, Passkeys: pk}
	authn := webauthntest.New("op.example.com", issuer)
	options, err := pk.BeginRegistration(f.Context(), dev, "alice")
	if err != nil {
		f.Fatal(err)
	}
	cred, err := authn.Create(options)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := pk.FinishRegistration(f.Context(), dev, cred); err != nil {
		f.Fatal(err)
	}
	const summary = "c3VtbWFyeSBkaWdlc3Qgb2YgdGhlIHJlcXVlc3QgMQ"
	good, err := authn.Get(summary)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(cred)
	f.Add([]byte(`{"id":"x","rawId":"x","type":"public-key","response":{}}`))
	f.Add([]byte(`{"response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`"string"`))
	f.Fuzz(func(t *testing.T, assertion []byte) {
		var claim any = string(assertion)
		if json.Valid(assertion) {
			claim = json.RawMessage(assertion)
		}
		jws := decision(t, dev, key, now, func(h, c map[string]any) {
			c["summary"] = summary
			c["passkey"] = claim
		})
		d, err := auth.ParseDecision(t.Context(), dev, jws)
		if err != nil {
			return
		}
		if len(assertion) > 0 && string(assertion) != "null" && d.ACR != ciba.ACRPasskey {
			t.Errorf("an approval with passkey claim %q was accepted at acr %q", assertion, d.ACR)
		}
	})
}
