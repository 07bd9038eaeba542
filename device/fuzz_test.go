package device_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/device"
)

func FuzzParseDecision(f *testing.F) {
	st := openStore(f, f.TempDir())
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	dev, key := enrolDevice(f, st, clock)
	auth := &device.Authenticator{Store: st, Now: clock, BaseURL: issuer}
	good := decision(f, dev, key, now, nil)
	f.Add(good)
	f.Add(decision(f, dev, key, now, func(h, c map[string]any) { c["decision"] = "deny" }))
	f.Add(decision(f, dev, key, now, func(h, c map[string]any) { h["alg"] = "none" }))
	f.Add(decision(f, dev, newKey(f), now, nil))
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add(good[:len(good)-10])
	f.Add("")
	f.Add("..")
	f.Fuzz(func(t *testing.T, jws string) {
		d, err := auth.ParseDecision(t.Context(), dev, jws)
		if err != nil {
			return
		}
		if d.Signed != jws || d.RequestID == "" || d.Summary == "" || len(d.AMR) != 1 || d.AMR[0] != "hwk" {
			t.Errorf("ParseDecision accepted %q as %+v", jws, d)
		}
	})
}

func FuzzAuthenticate(f *testing.F) {
	st := openStore(f, f.TempDir())
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	dev, key := enrolDevice(f, st, clock)
	auth := &device.Authenticator{Store: st, Now: clock, BaseURL: issuer}
	good := proof(f, dev, key, jose.ES256, now, nil)
	f.Add("GET", "/device/v1/requests", "Device "+good)
	f.Add("POST", "/device/v1/requests", "Device "+proof(f, dev, key, jose.ES256, now, nil))
	f.Add("GET", "/device/v1/requests", "Device "+proof(f, dev, key, "none", now, nil))
	f.Add("GET", "/device/v1/requests", "Device "+proof(f, dev, []byte(strings.Repeat("k", 32)), jose.HS256, now, nil))
	f.Add("GET", "/device/v1/requests", "Bearer "+good)
	f.Add("GET", "/device/v1/requests", "Device")
	f.Add("GET", "/", "")
	f.Fuzz(func(t *testing.T, method, path, authz string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t\r\n?#") || strings.ContainsAny(method, " \t\r\n") || method == "" {
			return // not a request line the server would accept
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Method = method
		r.URL.Path = path
		r.URL.RawPath = ""
		r.Header.Set("Authorization", authz)
		got, err := auth.Authenticate(r)
		if err != nil {
			return
		}
		if got.ID != dev.ID {
			t.Errorf("Authenticate admitted %q %q %q as device %q", method, path, authz, got.ID)
		}
	})
}
