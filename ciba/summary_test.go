package ciba_test

import (
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/store"
)

func TestSummaryCanonical(t *testing.T) {
	r := store.Request{
		ID:        "req-1",
		Binding:   "<Order> & 1234 — 注文",
		Scopes:    []string{"openid", "email"},
		ExpiresAt: time.Unix(1800000000, 0),
	}
	c := store.Client{ID: "c1", Name: "Call Centre"}
	got := string(ciba.NewSummary(r, c).Canonical())
	// Field order, no HTML escaping, empty arrays not null: what
	// JSON.stringify gives for the same object.
	want := `{"request_id":"req-1","client_id":"c1","client_name":"Call Centre","binding_message":"<Order> & 1234 — 注文","scopes":["openid","email"],"acr_values":[],"authorization_details":[],"expires_at":1800000000}`
	if got != want {
		t.Errorf("Canonical() = %s, want %s", got, want)
	}
	s := ciba.NewSummary(r, c)
	d1 := s.Digest()
	s.BindingMessage = "Order 9999"
	if s.Digest() == d1 {
		t.Error("Digest does not change with the binding message")
	}
	r.AuthorizationDetails = []byte(`[{"note":"<b>&</b>","type":"payment_initiation"}]`)
	if got := string(ciba.NewSummary(r, c).Canonical()); !strings.Contains(got, `"authorization_details":[{"note":"<b>&</b>","type":"payment_initiation"}],"expires_at"`) {
		t.Errorf("Canonical() with details = %s", got)
	}
	// The logo is shown but not signed: the digest stays what the
	// device computes from the canonical members.
	withLogo := store.Client{ID: "c1", Name: "Call Centre", LogoURI: "https://rp.example/logo.png"}
	if sl := ciba.NewSummary(r, withLogo); sl.LogoURI != withLogo.LogoURI || sl.Digest() != ciba.NewSummary(r, c).Digest() {
		t.Errorf("summary with a logo: logo_uri %q, digest changed %v", sl.LogoURI, sl.Digest() != ciba.NewSummary(r, c).Digest())
	}
	if n := ciba.NewSummary(r, store.Client{ID: "c1"}).ClientName; n != "c1" {
		t.Errorf("ClientName without a name = %q, want the client_id", n)
	}
}
