package httpapi_test

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/device/agent"
	"github.com/backchannel/backchannel/device/webauthntest"
	"github.com/backchannel/backchannel/oauth"
)

// passkeyFlow is a server with passkeys, a client, and a user with an
// enrolled device and a software authenticator for that device.
type passkeyFlow struct {
	*flow
	dev  *agent.Agent
	auth *webauthntest.Authenticator
}

func newPasskeyFlow(t *testing.T, clientMeta map[string]any) *passkeyFlow {
	t.Helper()
	s := startTestServer(t, testOptions{passkeys: true})
	id, secret := s.createClient(clientMeta)
	s.createUser(map[string]any{"sub": "u1", "email": "hana@example.jp", "preferred_username": "hana"})
	return &passkeyFlow{
		flow: &flow{testServer: s, clientID: id, secret: secret},
		dev:  s.enrolDevice("u1"),
		auth: webauthntest.New("localhost", s.issuer),
	}
}

// pending starts a request with form and returns its auth_req_id and the
// summary the device sees.
func (f *passkeyFlow) pending(form url.Values) (string, ciba.Summary) {
	f.t.Helper()
	form.Set("scope", "openid email")
	form.Set("login_hint", "hana@example.jp")
	r := f.start(form)
	if r.status != http.StatusOK {
		f.t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	list, err := f.dev.Pending(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	if len(list) == 0 {
		f.t.Fatal("the device sees no request")
	}
	return r.str("auth_req_id"), list[len(list)-1] // oldest first
}

// wantRefused checks that err is the device API error code with status.
func wantRefused(t *testing.T, what string, err error, status int, code oauth.Code) {
	t.Helper()
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Status != status || oe.Code != code {
		t.Errorf("%s = %v, want %d %s", what, err, status, code)
	}
}

func TestPasskeyApprovalReachesIDToken(t *testing.T) {
	f := newPasskeyFlow(t, nil)
	ctx := t.Context()

	if got := f.discovery()["acr_values_supported"]; !slices.Contains(anyStrings(got), ciba.ACRPasskey) {
		t.Errorf("acr_values_supported = %v, want %s in it", got, ciba.ACRPasskey)
	}
	var list struct {
		Available bool   `json:"available"`
		RPID      string `json:"rp_id"`
		Passkeys  []struct {
			ID         string     `json:"id"`
			LastUsedAt *time.Time `json:"last_used_at"`
		} `json:"passkeys"`
	}
	if err := f.dev.Call(ctx, http.MethodGet, "/passkeys", nil, http.StatusOK, &list); err != nil {
		t.Fatal(err)
	}
	if !list.Available || list.RPID != "localhost" || len(list.Passkeys) != 0 {
		t.Errorf("passkeys before registration = %+v, want available for localhost, none", list)
	}
	id, err := f.dev.RegisterPasskey(ctx, f.auth.Create)
	if err != nil {
		t.Fatalf("RegisterPasskey: %v", err)
	}
	if id != f.auth.CredentialID() {
		t.Errorf("registered passkey %q, want the credential ID %q", id, f.auth.CredentialID())
	}

	authReqID, sum := f.pending(url.Values{"acr_values": {ciba.ACRPasskey}, "binding_message": {"Transfer 100"}})
	// The device key alone does not approve a request that asks for a
	// passkey, and the request stays pending.
	err = f.dev.Decide(ctx, sum, true)
	wantRefused(t, "approval without a passkey", err, http.StatusForbidden, ciba.PasskeyRequired)
	f.clock.Advance(5 * time.Second)
	wantError(t, f.poll(authReqID), http.StatusBadRequest, "authorization_pending")

	if err := f.dev.ApproveWithPasskey(ctx, sum, f.auth.Get); err != nil {
		t.Fatalf("ApproveWithPasskey: %v", err)
	}
	f.clock.Advance(5 * time.Second)
	tok := f.poll(authReqID)
	if tok.status != http.StatusOK {
		t.Fatalf("token = %d %v", tok.status, tok.body)
	}
	claims := verifyIDToken(t, f.testServer, tok.str("id_token"))
	if claims["acr"] != ciba.ACRPasskey {
		t.Errorf("id_token acr = %v, want %s", claims["acr"], ciba.ACRPasskey)
	}
	if amr := strings.Join(anyStrings(claims["amr"]), " "); amr != "hwk user mfa" {
		t.Errorf("id_token amr = %q, want \"hwk user mfa\"", amr)
	}

	if err := f.dev.Call(ctx, http.MethodGet, "/passkeys", nil, http.StatusOK, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Passkeys) != 1 || list.Passkeys[0].ID != id || list.Passkeys[0].LastUsedAt == nil {
		t.Errorf("passkeys after approval = %+v, want %s with last_used_at", list.Passkeys, id)
	}
	if err := f.dev.Call(ctx, http.MethodDelete, "/passkeys/"+id, nil, http.StatusNoContent, nil); err != nil {
		t.Fatalf("delete passkey: %v", err)
	}
	err = f.dev.Call(ctx, http.MethodDelete, "/passkeys/"+id, nil, http.StatusNoContent, nil)
	wantRefused(t, "deleting it again", err, http.StatusNotFound, oauth.NotFound)
}

// TestPasskeyOptionalApproval: a passkey lifts the acr of any approval; a
// request that also accepts the device key is approved without one.
func TestPasskeyOptionalApproval(t *testing.T) {
	f := newPasskeyFlow(t, nil)
	ctx := t.Context()
	if _, err := f.dev.RegisterPasskey(ctx, f.auth.Create); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		acr      string
		passkey  bool
		wantACR  string
		wantAMRs string
	}{
		{"device key accepted too", ciba.ACRDeviceKey + " " + ciba.ACRPasskey, false, ciba.ACRDeviceKey, "hwk"},
		{"no acr_values, with a passkey", "", true, ciba.ACRPasskey, "hwk user mfa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{}
			if tc.acr != "" {
				form.Set("acr_values", tc.acr)
			}
			authReqID, sum := f.pending(form)
			var err error
			if tc.passkey {
				err = f.dev.ApproveWithPasskey(ctx, sum, f.auth.Get)
			} else {
				err = f.dev.Decide(ctx, sum, true)
			}
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(5 * time.Second)
			tok := f.poll(authReqID)
			if tok.status != http.StatusOK {
				t.Fatalf("token = %d %v", tok.status, tok.body)
			}
			claims := verifyIDToken(t, f.testServer, tok.str("id_token"))
			if claims["acr"] != tc.wantACR || strings.Join(anyStrings(claims["amr"]), " ") != tc.wantAMRs {
				t.Errorf("acr, amr = %v, %v; want %s, %s", claims["acr"], claims["amr"], tc.wantACR, tc.wantAMRs)
			}
		})
	}
}

// TestPasskeyClientDefault: default_acr_values hold every request of the
// client to a passkey; unsupported values are refused at registration.
func TestPasskeyClientDefault(t *testing.T) {
	f := newPasskeyFlow(t, map[string]any{"default_acr_values": []string{ciba.ACRPasskey}})
	got := f.admin(http.MethodGet, "/clients/"+f.clientID, nil, http.StatusOK)
	if !slices.Equal(anyStrings(got["default_acr_values"]), []string{ciba.ACRPasskey}) {
		t.Errorf("client default_acr_values = %v", got["default_acr_values"])
	}
	_, sum := f.pending(url.Values{})
	if !slices.Equal(sum.ACRValues, []string{ciba.ACRPasskey}) {
		t.Errorf("the device sees acr_values %v, want the client's default", sum.ACRValues)
	}
	err := f.dev.Decide(t.Context(), sum, true)
	wantRefused(t, "approval without a passkey", err, http.StatusForbidden, ciba.PasskeyRequired)

	out := f.admin(http.MethodPost, "/clients", map[string]any{
		"client_name": "Bad", "grant_types": []string{cibaGrant}, "default_acr_values": []string{"urn:example:gold"},
	}, http.StatusBadRequest)
	if out["error"] != "invalid_client_metadata" || !strings.Contains(out["error_description"].(string), "urn:example:gold") {
		t.Errorf("unsupported default_acr_values = %v, want invalid_client_metadata naming it", out)
	}
}

// TestPasskeyRefusals: every way an assertion or a registration can be
// wrong gets invalid_request (400), and the request stays pending.
func TestPasskeyRefusals(t *testing.T) {
	f := newPasskeyFlow(t, nil)
	ctx := t.Context()
	passkeyACR := url.Values{"acr_values": {ciba.ACRPasskey}}

	// A device without a passkey.
	_, sum := f.pending(passkeyACR)
	other := webauthntest.New("localhost", f.issuer)
	if _, err := other.Create([]byte(`{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAA","rp":{"id":"localhost"},"user":{"id":"AA"}}}`)); err != nil {
		t.Fatal(err)
	}
	err := f.dev.ApproveWithPasskey(ctx, sum, other.Get)
	wantRefused(t, "assertion from a device without passkeys", err, http.StatusBadRequest, oauth.InvalidRequest)

	// Registration: without user verification; with the challenge used
	// twice; from another origin.
	f.auth.UserVerified = false
	_, err = f.dev.RegisterPasskey(ctx, f.auth.Create)
	wantRefused(t, "registration without user verification", err, http.StatusBadRequest, oauth.InvalidRequest)
	f.auth.UserVerified = true
	var replay []byte
	if _, err := f.dev.RegisterPasskey(ctx, func(options []byte) ([]byte, error) {
		cred, err := f.auth.Create(options)
		replay = cred
		return cred, err
	}); err != nil {
		t.Fatal(err)
	}
	err = f.dev.Call(ctx, http.MethodPost, "/passkeys", replay, http.StatusCreated, nil)
	wantRefused(t, "registration with a used challenge", err, http.StatusBadRequest, oauth.InvalidRequest)
	evil := webauthntest.New("localhost", "http://evil.example")
	_, err = f.dev.RegisterPasskey(ctx, evil.Create)
	wantRefused(t, "registration from another origin", err, http.StatusBadRequest, oauth.InvalidRequest)
	err = f.dev.Call(ctx, http.MethodPost, "/passkeys", []byte(`{"id":"x"}`), http.StatusCreated, nil)
	wantRefused(t, "registration that is not a credential", err, http.StatusBadRequest, oauth.InvalidRequest)

	cases := []struct {
		name string
		get  func(challenge string) ([]byte, error)
	}{
		{"without user verification", func(c string) ([]byte, error) {
			f.auth.UserVerified = false
			defer func() { f.auth.UserVerified = true }()
			return f.auth.Get(c)
		}},
		{"over another challenge", func(string) ([]byte, error) {
			return f.auth.Get("c29tZXRoaW5nIGVsc2UgZW50aXJlbHkgZGlmZmVyZW50")
		}},
		{"from another origin", func(c string) ([]byte, error) {
			f.auth.Origin = "http://evil.example"
			defer func() { f.auth.Origin = f.issuer }()
			return f.auth.Get(c)
		}},
		{"by another authenticator", other.Get},
		{"with a counter gone backwards (a clone)", func(c string) ([]byte, error) {
			f.auth.Counter = 0 // the previous case's use recorded 10
			return f.auth.Get(c)
		}},
		{"that is not an assertion", func(string) ([]byte, error) { return []byte(`{"id":"x","type":"public-key"}`), nil }},
	}
	// A good approval first, so that the counter case has a counter.
	f.auth.Counter = 10
	authReqID, sum := f.pending(passkeyACR)
	if err := f.dev.ApproveWithPasskey(ctx, sum, f.auth.Get); err != nil {
		t.Fatalf("good approval: %v", err)
	}
	f.clock.Advance(5 * time.Second)
	if tok := f.poll(authReqID); tok.status != http.StatusOK {
		t.Fatalf("token after the good approval = %d %v", tok.status, tok.body)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			authReqID, sum := f.pending(passkeyACR)
			err := f.dev.ApproveWithPasskey(ctx, sum, tc.get)
			wantRefused(t, "approval", err, http.StatusBadRequest, oauth.InvalidRequest)
			f.clock.Advance(5 * time.Second)
			wantError(t, f.poll(authReqID), http.StatusBadRequest, "authorization_pending")
		})
	}

	t.Run("on a denial", func(t *testing.T) {
		_, sum := f.pending(url.Values{})
		assertion, err := f.auth.Get(sum.Digest())
		if err != nil {
			t.Fatal(err)
		}
		err = f.dev.DecideWith(ctx, sum, false, map[string]string{"passkey": string(assertion)})
		wantRefused(t, "denial with a passkey", err, http.StatusBadRequest, oauth.InvalidRequest)
	})
}

// TestPasskeysUnavailable: a server on an IP address has no passkeys; it
// says so and refuses their use clearly.
func TestPasskeysUnavailable(t *testing.T) {
	f := newFlow(t, nil)
	dev := f.enrolDevice("u1")
	ctx := t.Context()
	var list struct {
		Available bool `json:"available"`
	}
	if err := dev.Call(ctx, http.MethodGet, "/passkeys", nil, http.StatusOK, &list); err != nil || list.Available {
		t.Errorf("GET /passkeys = %+v, %v; want available false", list, err)
	}
	if got := f.discovery()["acr_values_supported"]; slices.Contains(anyStrings(got), ciba.ACRPasskey) {
		t.Errorf("acr_values_supported = %v without passkeys", got)
	}
	_, err := dev.RegisterPasskey(ctx, webauthntest.New("127.0.0.1", f.URL).Create)
	wantRefused(t, "passkey options", err, http.StatusNotFound, oauth.NotFound)

	r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"hana@example.jp"}})
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	pending, err := dev.Pending(ctx)
	if err != nil || len(pending) != 1 {
		t.Fatalf("Pending = %v, %v", pending, err)
	}
	err = dev.DecideWith(ctx, pending[0], true, map[string]string{"passkey": `{"id":"x"}`})
	wantRefused(t, "approval with a passkey", err, http.StatusBadRequest, oauth.InvalidRequest)
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestPasskeyRegistrationBody: the registration's body must be JSON and at
// most 64 KiB.
func TestPasskeyRegistrationBody(t *testing.T) {
	f := newPasskeyFlow(t, nil)
	ctx := t.Context()
	big := []byte(`{"id":"` + strings.Repeat("a", 65<<10) + `"}`)
	err := f.dev.Call(ctx, http.MethodPost, "/passkeys", big, http.StatusCreated, nil)
	wantRefused(t, "a registration over 64 KiB", err, http.StatusRequestEntityTooLarge, oauth.InvalidRequest)

	// Without a body there is no JSON content type.
	err = f.dev.Call(ctx, http.MethodPost, "/passkeys", nil, http.StatusCreated, nil)
	wantRefused(t, "a registration without a JSON body", err, http.StatusBadRequest, oauth.InvalidRequest)
}
