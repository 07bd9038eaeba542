package webpush

import (
	"crypto/ecdh"
	"encoding/base64"
	"net/url"
	"strings"

	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// MaxEndpoint bounds a push endpoint URL. The push services of the major
// browsers use a few hundred bytes.
const MaxEndpoint = 2048

// Subscription is a PushSubscription as the browser's toJSON() gives it
// (Push API §PushSubscriptionJSON), the body a device saves.
type Subscription struct {
	Endpoint string `json:"endpoint"`
	// ExpirationTime is accepted and ignored: the push service answers
	// 404 or 410 once a subscription is gone, which removes it.
	ExpirationTime *float64 `json:"expirationTime,omitempty"`
	Keys           struct {
		P256DH string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// Parse validates s and returns it as the store keeps it. Its errors are
// invalid_request with a description that names the field.
func (s Subscription) Parse() (store.PushSubscription, error) {
	if s.Endpoint == "" {
		return store.PushSubscription{}, oauth.Errorf(oauth.InvalidRequest, "endpoint is required")
	}
	if len(s.Endpoint) > MaxEndpoint {
		return store.PushSubscription{}, oauth.Errorf(oauth.InvalidRequest, "endpoint is longer than %d bytes", MaxEndpoint)
	}
	u, err := url.Parse(s.Endpoint)
	// RFC 8030 §8: push services are reached over https only.
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return store.PushSubscription{}, oauth.Errorf(oauth.InvalidRequest, "endpoint must be an https URL without user info or fragment")
	}
	p256dh, err := decodeKey(s.Keys.P256DH)
	if err != nil || len(p256dh) != 65 {
		return store.PushSubscription{}, oauth.Errorf(oauth.InvalidRequest, "keys.p256dh must be an uncompressed P-256 point (65 bytes), base64url")
	}
	// RFC 8291 §3.1: the user agent's key is a point on P-256.
	if _, err := ecdh.P256().NewPublicKey(p256dh); err != nil {
		return store.PushSubscription{}, oauth.Errorf(oauth.InvalidRequest, "keys.p256dh is not a point on P-256")
	}
	auth, err := decodeKey(s.Keys.Auth)
	// RFC 8291 §3.2: the authentication secret is 16 octets.
	if err != nil || len(auth) != 16 {
		return store.PushSubscription{}, oauth.Errorf(oauth.InvalidRequest, "keys.auth must be 16 bytes, base64url")
	}
	return store.PushSubscription{Endpoint: s.Endpoint, P256DH: p256dh, Auth: auth}, nil
}

// decodeKey decodes base64url, with or without padding, as browsers
// differ in whether they pad.
func decodeKey(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
