package ciba

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/backchannel/backchannel/oauth"
)

func FuzzAuthorizationDetails(f *testing.F) {
	s := &Service{AuthorizationDetailTypes: []string{"payment_initiation", "account_information"}}
	f.Add(`[{"type":"payment_initiation","actions":["initiate"],"locations":["https://bank.example"],"instructedAmount":{"currency":"EUR","amount":"12.00"}}]`)
	f.Add(`[{"type":"account_information","identifier":"acc-1","privileges":["read"]},{"type":"payment_initiation"}]`)
	f.Add(`[{"type":"payment_initiation","actions":"initiate"}]`)
	f.Add(`[{"type":"other"}]`)
	f.Add(`[{"type":"payment_initiation","a":{"b":{"c":[1,2,{"<>":"&"}]}}}]`)
	f.Add(`[] []`)
	f.Add(`{"type":"payment_initiation"}`)
	f.Add(`[1e999]`)
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := s.authorizationDetails(raw)
		if err != nil {
			var oe *oauth.Error
			if !errors.As(err, &oe) || oe.Code != oauth.InvalidAuthorizationDetails {
				t.Fatalf("authorizationDetails(%q) = %v, want invalid_authorization_details", raw, err)
			}
			return
		}
		if !json.Valid(got) {
			t.Fatalf("authorizationDetails(%q) = %q, not JSON", raw, got)
		}
		// The normal form is a fixed point: the device signs over it, so
		// every party must encode it the same way.
		again, err := s.authorizationDetails(string(got))
		if err != nil {
			t.Fatalf("authorizationDetails(%q) refused its own output %q: %v", raw, got, err)
		}
		if !bytes.Equal(again, got) {
			t.Fatalf("authorizationDetails(%q) = %q, then %q: not a fixed point", raw, got, again)
		}
	})
}
