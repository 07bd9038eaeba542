package ciba

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// ProfileFAPI is the Client.Profile of clients that follow the FAPI-CIBA
// profile.
const ProfileFAPI = "fapi-ciba"

// FAPIAlgs are the signing algorithms FAPI allows (FAPI 1 Advanced §8.6).
func FAPIAlgs() []string { return []string{"PS256", "ES256"} }

// FAPIAuthMethods are the client authentication methods FAPI allows
// (FAPI 1 Advanced §5.2.2 (14)).
func FAPIAuthMethods() []string {
	return []string{oauth.AuthPrivateKey, "tls_client_auth", "self_signed_tls_client_auth"}
}

// fapi reports whether the FAPI-CIBA rules apply to client c.
func (s *Service) fapi(c store.Client) bool {
	return s.RequireFAPI || c.Profile == ProfileFAPI
}

// checkFAPIClient refuses what the FAPI-CIBA profile forbids of the
// client itself, whatever its registration says.
func (s *Service) checkFAPIClient(c store.Client) error {
	if !s.fapi(c) {
		return nil
	}
	if c.DeliveryMode == store.Push {
		// FAPI-CIBA §5.2.2 (3): shall not support push mode.
		return oauth.Errorf(oauth.UnauthorizedClient, "FAPI-CIBA clients cannot use push mode")
	}
	if !slices.Contains(FAPIAuthMethods(), c.TokenEndpointAuthMethod) {
		return oauth.Errorf(oauth.InvalidClient, "FAPI-CIBA clients must authenticate with private_key_jwt or mutual TLS").WithStatus(401)
	}
	return nil
}

// fapiIDTokenClient returns c with an ID token alg FAPI allows: the
// registered one, or else ES256 or PS256 from algs (FAPI 1 Advanced
// §8.6). It leaves c as it is when no allowed alg is configured; the
// registration rules prevent that for FAPI clients.
func (s *Service) fapiIDTokenClient(c store.Client) store.Client {
	if !s.fapi(c) || slices.Contains(FAPIAlgs(), c.IDTokenSignedResponseAlg) {
		return c
	}
	for _, a := range []string{"ES256", "PS256"} {
		if slices.Contains(s.Keys.Algs(), a) {
			c.IDTokenSignedResponseAlg = a
			return c
		}
	}
	return c
}

// maxAuthorizationDetails bounds authorization_details in bytes.
const maxAuthorizationDetails = 8 << 10

// authorizationDetails validates authorization_details (RFC 9396 §2): a
// JSON array of objects, each with a "type" the server declares and the
// common fields of §2.2 well typed. It returns the array normalised
// (compact, object keys sorted, no HTML escaping), which is what the
// device shows and signs over, so every party encodes it the same way.
func (s *Service) authorizationDetails(raw string) (json.RawMessage, error) {
	bad := func(format string, args ...any) error {
		return oauth.Errorf(oauth.InvalidAuthorizationDetails, format, args...)
	}
	if len(s.AuthorizationDetailTypes) == 0 {
		return nil, bad("this server accepts no authorization_details types")
	}
	if len(raw) > maxAuthorizationDetails {
		return nil, bad("authorization_details is larger than %d bytes", maxAuthorizationDetails)
	}
	var details []any
	dec := json.NewDecoder(strings.NewReader(raw))
	if err := dec.Decode(&details); err != nil || dec.More() {
		return nil, bad("authorization_details must be a JSON array")
	}
	if len(details) == 0 || len(details) > 16 {
		return nil, bad("authorization_details must hold 1 to 16 objects")
	}
	for i, d := range details {
		obj, ok := d.(map[string]any)
		if !ok {
			return nil, bad("authorization_details[%d] is not an object", i)
		}
		typ, _ := obj["type"].(string)
		if !slices.Contains(s.AuthorizationDetailTypes, typ) {
			return nil, bad("authorization_details[%d]: type %q is not supported", i, oauth.Truncate(typ, 64))
		}
		for _, f := range []string{"locations", "actions", "datatypes", "privileges"} {
			if v, ok := obj[f]; ok && !isStringArray(v) {
				return nil, bad("authorization_details[%d]: %s must be an array of strings", i, f)
			}
		}
		if v, ok := obj["identifier"]; ok {
			if _, ok := v.(string); !ok {
				return nil, bad("authorization_details[%d]: identifier must be a string", i)
			}
		}
		if err := checkKeys(obj); err != nil {
			return nil, bad("authorization_details[%d]: %v", i, err)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(details); err != nil {
		return nil, bad("authorization_details cannot be encoded")
	}
	return json.RawMessage(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

func isStringArray(v any) bool {
	a, ok := v.([]any)
	if !ok {
		return false
	}
	for _, e := range a {
		if _, ok := e.(string); !ok {
			return false
		}
	}
	return true
}

// checkKeys refuses object keys that look like array indices anywhere in
// v: JavaScript orders such keys numerically, Go lexically, and the
// device app must be able to reproduce the normalised form exactly.
func checkKeys(v any) error {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k != "" && strings.Trim(k, "0123456789") == "" {
				return errNumericKey
			}
			if err := checkKeys(e); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range v {
			if err := checkKeys(e); err != nil {
				return err
			}
		}
	}
	return nil
}

var errNumericKey = errorString("object keys must not be numbers")

type errorString string

func (e errorString) Error() string { return string(e) }
