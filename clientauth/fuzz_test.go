package clientauth_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/oauth"
)

// FuzzAuthenticate feeds arbitrary Authorization headers, assertions and
// client_ids to Authenticate. It must never panic, every failure must be
// invalid_client (401) or invalid_request (400) without secrets in it, and
// a success must name a registered client.
func FuzzAuthenticate(f *testing.F) {
	e := newEnv(f, "https://op.example.com/token")
	valid := sign(f, jose.ES256, e.ec, "ec-1", e.claims("pk-client"))
	seeds := []struct{ authz, assertion, clientID string }{
		{basic("basic-client", basicSecret), "", ""},
		{basic(specialID, specialSecret), "", ""},
		{"Basic !!!", "", ""},
		{"Basic " + "YTpi", "", "a"},
		{rawBasic("a%zz:b"), "", ""},
		{"", valid, ""},
		{"", valid, "pk-client"},
		{"", sign(f, jose.HS256, []byte(jwtSecret), "", e.claims("jwt-client")), ""},
		{"", unsigned(f, e.claims("pk-client")), ""},
		{"", "a.b.c", ""},
		{"", "e30.e30.", ""},
		{"", `{"payload":"e30","signatures":[]}`, ""},
		{basic("basic-client", basicSecret), valid, ""},
		{"", "", "public-client"},
	}
	for _, s := range seeds {
		f.Add(s.authz, s.assertion, s.clientID)
	}
	secrets := []string{basicSecret, postSecret, jwtSecret, jwt512Secret, specialSecret}
	f.Fuzz(func(t *testing.T, authz, assertionValue, clientID string) {
		form := url.Values{}
		if assertionValue != "" {
			form = assertion(assertionValue)
		}
		if clientID != "" {
			form.Set("client_id", clientID)
		}
		r := formRequest(t, "", form)
		if authz != "" {
			r.Header["Authorization"] = []string{authz} // unvalidated, as a server may see it
		}
		c, err := e.auth.Authenticate(r, formOf(form), e.endpoint)
		if err == nil {
			if _, ok := e.store.clients[c.ID]; !ok || c.ID == "" {
				t.Fatalf("Authenticate() = client %q, which is not registered", c.ID)
			}
			return
		}
		var oe *oauth.Error
		if !errors.As(err, &oe) {
			t.Fatalf("Authenticate() = %v, want an *oauth.Error", err)
		}
		switch {
		case oe.Code == oauth.InvalidClient && oe.HTTPStatus() == http.StatusUnauthorized:
		case oe.Code == oauth.InvalidRequest && oe.HTTPStatus() == http.StatusBadRequest:
		default:
			t.Fatalf("Authenticate() = %v with status %d, want invalid_client 401 or invalid_request 400", oe, oe.HTTPStatus())
		}
		for _, s := range secrets {
			if strings.Contains(oe.Description, s) {
				t.Fatalf("Authenticate() description %q contains a secret", oe.Description)
			}
		}
	})
}

func BenchmarkAuthenticateSecretBasic(b *testing.B) {
	e := newEnv(b, "https://op.example.com/token")
	r := formRequest(b, basic("basic-client", basicSecret), nil)
	form := oauth.Form{}
	for b.Loop() {
		if _, err := e.auth.Authenticate(r, form, e.endpoint); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticatePrivateKeyJWT(b *testing.B) {
	e := newEnv(b, "https://op.example.com/token")
	// One assertion serves every iteration: the benchmark measures
	// parsing and verification, not the replay cache.
	e.store.allowReplay = true
	v := assertion(sign(b, jose.ES256, e.ec, "ec-1", e.claims("pk-client")))
	r := formRequest(b, "", v)
	form := formOf(v)
	for b.Loop() {
		if _, err := e.auth.Authenticate(r, form, e.endpoint); err != nil {
			b.Fatal(err)
		}
	}
}
