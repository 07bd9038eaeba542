package ciba

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/backchannel/backchannel/store"
)

// Summary is what the authentication device shows the user about one
// request, and what the device's signed decision covers, so that what the
// user saw is what was approved. It never contains the auth_req_id.
type Summary struct {
	RequestID      string   `json:"request_id"`
	ClientID       string   `json:"client_id"`
	ClientName     string   `json:"client_name"`
	BindingMessage string   `json:"binding_message"`
	Scopes         []string `json:"scopes"`
	ACRValues      []string `json:"acr_values"`
	// AuthorizationDetails (RFC 9396) as the server normalised them
	// (compact JSON, object keys sorted); [] when the request has none.
	AuthorizationDetails json.RawMessage `json:"authorization_details"`
	ExpiresAt            int64           `json:"expires_at"` // Unix seconds
	// NumberChoices are the numbers the user picks from under number
	// matching (ciba.Fatigue.NumberMatching): the one the client shows
	// and two decoys. Absent otherwise, so the canonical form of a
	// request without number matching is unchanged.
	NumberChoices []string `json:"number_choices,omitempty"`
	// LogoURI is the client's registered logo_uri, for the device to
	// show beside its name; absent when it has none. It is not part of
	// the canonical form: the client_id, which is, names the client.
	LogoURI string `json:"logo_uri,omitempty"`
}

// NewSummary returns the summary of request r of client c.
func NewSummary(r store.Request, c store.Client) Summary {
	name := c.Name
	if name == "" {
		name = c.ID
	}
	return Summary{
		RequestID:            r.ID,
		ClientID:             c.ID,
		ClientName:           name,
		BindingMessage:       r.Binding,
		Scopes:               nonNil(r.Scopes),
		ACRValues:            nonNil(r.ACRValues),
		AuthorizationDetails: detailsOrEmpty(r.AuthorizationDetails),
		ExpiresAt:            r.ExpiresAt.Unix(),
		LogoURI:              c.LogoURI,
	}
}

// Canonical returns the canonical encoding of s that a decision signs:
// JSON with the fields in declaration order, arrays never null, no
// insignificant white space and no HTML escaping. Binding messages are
// validated to printable text, so this equals JavaScript's JSON.stringify
// of the same object and the web device can compute it too.
func (s Summary) Canonical() []byte {
	s.Scopes = nonNil(s.Scopes)
	s.ACRValues = nonNil(s.ACRValues)
	s.AuthorizationDetails = normaliseDetails(s.AuthorizationDetails)
	s.LogoURI = ""
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a struct of strings and ints always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Digest returns the base64url (unpadded) SHA-256 of Canonical: the value
// a device decision carries in its "summary" claim.
func (s Summary) Digest() string {
	h := sha256.Sum256(s.Canonical())
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// Expired reports whether r has expired at now.
func Expired(r store.Request, now time.Time) bool { return !now.Before(r.ExpiresAt) }

// normaliseDetails re-encodes authorization_details the way the server
// stored them (keys sorted, no HTML escaping), so that the digest does
// not depend on how a transport escaped the JSON on the way.
func normaliseDetails(d json.RawMessage) json.RawMessage {
	var v any
	if len(d) == 0 || json.Unmarshal(d, &v) != nil {
		return detailsOrEmpty(d)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return detailsOrEmpty(d)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func detailsOrEmpty(d json.RawMessage) json.RawMessage {
	if len(d) == 0 {
		return json.RawMessage("[]")
	}
	return d
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
