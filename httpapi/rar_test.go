package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestAuthorizationDetails(t *testing.T) {
	f := newFlow(t, nil)
	f.svc.AuthorizationDetailTypes = []string{"payment_initiation", "account_information"}
	dev := f.enrolDevice("u1")
	details := `[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"123.50"},"creditorName":"Merchant A & Co <Ltd>","actions":["initiate"]}]`
	r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}, "binding_message": {"Pay 123.50"}, "authorization_details": {details}})
	if r.status != 200 {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	p, err := dev.Pending(t.Context())
	if err != nil || len(p) != 1 {
		t.Fatalf("Pending = %v, %v", p, err)
	}
	// The device sees the details, normalised (keys sorted), and signs
	// over them.
	want := `[{"actions":["initiate"],"creditorName":"Merchant A & Co <Ltd>","instructedAmount":{"amount":"123.50","currency":"EUR"},"type":"payment_initiation"}]`
	if got := normalised(t, p[0].AuthorizationDetails); got != want {
		t.Errorf("device authorization_details = %s, want %s", got, want)
	}
	// A device that signs over other details than the server holds is
	// refused.
	tampered := p[0]
	tampered.AuthorizationDetails = json.RawMessage(`[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"1.00"}}]`)
	if err := dev.Decide(t.Context(), tampered, true); err == nil {
		t.Fatal("a decision over different authorization_details was accepted")
	}
	if err := dev.Decide(t.Context(), p[0], true); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(5 * time.Second)
	tok := f.poll(r.str("auth_req_id"))
	if tok.status != 200 {
		t.Fatalf("token = %d %v", tok.status, tok.body)
	}
	got := normalised(t, tok.body["authorization_details"])
	if got != want {
		t.Errorf("token response authorization_details = %s, want %s", got, want)
	}
	in := f.postForm("/introspect", url.Values{"token": {tok.str("access_token")}}, f.clientID, f.secret)
	if in.body["active"] != true || normalised(t, in.body["authorization_details"]) != want {
		t.Errorf("introspection = %v", in.body)
	}
}

// normalised encodes v (raw JSON or a decoded value) with sorted keys and
// no HTML escaping, for comparison.
func normalised(t *testing.T, v any) string {
	t.Helper()
	if raw, ok := v.(json.RawMessage); ok {
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return strings.TrimSpace(b.String())
}

func TestAuthorizationDetailsErrors(t *testing.T) {
	f := newFlow(t, nil)
	f.enrolDevice("u1")
	start := func(details string) response {
		return f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}, "authorization_details": {details}})
	}
	wantError(t, start(`[{"type":"payment_initiation"}]`), 400, "invalid_authorization_details") // no types configured
	f.svc.AuthorizationDetailTypes = []string{"payment_initiation"}
	tests := map[string]string{
		"unknown type":       `[{"type":"crypto_swap"}]`,
		"no type":            `[{"actions":["read"]}]`,
		"not an array":       `{"type":"payment_initiation"}`,
		"empty array":        `[]`,
		"not JSON":           `[{"type":`,
		"element not object": `["payment_initiation"]`,
		"actions not list":   `[{"type":"payment_initiation","actions":"read"}]`,
		"locations numbers":  `[{"type":"payment_initiation","locations":[1,2]}]`,
		"identifier object":  `[{"type":"payment_initiation","identifier":{"a":1}}]`,
		"numeric key":        `[{"type":"payment_initiation","x":{"10":"a","2":"b"}}]`,
		"trailing data":      `[{"type":"payment_initiation"}] []`,
	}
	for name, details := range tests {
		t.Run(name, func(t *testing.T) {
			wantError(t, start(details), 400, "invalid_authorization_details")
		})
	}
	if r := start(`[{"type":"payment_initiation","actions":["initiate"]}]`); r.status != 200 {
		t.Errorf("valid details = %d %v", r.status, r.body)
	}
}

func TestAuthorizationDetailsInRequestObject(t *testing.T) {
	key := newClientKey(t)
	f := newFlow(t, map[string]any{"jwks": key.jwks})
	f.svc.AuthorizationDetailTypes = []string{"account_information"}
	dev := f.enrolDevice("u1")
	now := f.clock.Now()
	jws := key.sign(t, map[string]any{
		"iss": f.clientID, "aud": f.URL, "exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(), "jti": "ro-1",
		"scope": "openid", "login_hint": "u1",
		"authorization_details": []any{map[string]any{"type": "account_information", "actions": []string{"read"}}},
	})
	if r := f.start(url.Values{"request": {jws}}); r.status != 200 {
		t.Fatalf("request object with authorization_details = %d %v", r.status, r.body)
	}
	p, _ := dev.Pending(t.Context())
	if len(p) != 1 || normalised(t, p[0].AuthorizationDetails) != `[{"actions":["read"],"type":"account_information"}]` {
		t.Errorf("device sees %+v", p)
	}
}

func TestDiscoveryAuthorizationDetailsTypes(t *testing.T) {
	s := newTestServer(t)
	resp, err := s.Client().Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	if _, ok := m["authorization_details_types_supported"]; ok || resp.StatusCode != http.StatusOK {
		t.Errorf("authorization_details_types_supported listed with none configured: %v", m["authorization_details_types_supported"])
	}
	_ = jose.ES256
}
