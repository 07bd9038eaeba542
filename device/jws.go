package device

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The explicit JWS types of the device API (RFC 8725 §3.11): each kind of
// signed message has its own typ, so that one kind can never be replayed
// as another.
const (
	TypeEnrolment = "device-enrolment+jwt" // the enrolment proof
	TypeRequest   = "device+jwt"           // the Authorization header of each call
	TypeDecision  = "decision+jwt"         // an approve or deny decision
)

// Alg is the only signature algorithm of device keys: ES256 on P-256
// (RFC 7518 §3.4), which WebCrypto and every phone's secure hardware
// support. Fixing one algorithm rules out "none", HMAC and algorithm
// confusion attacks (RFC 8725 §3.1).
const Alg = "ES256"

// DefaultSkew is the default tolerance of a signed message's iat against
// the server's clock.
const DefaultSkew = 60 * time.Second

// maxJWSBytes bounds a compact JWS before it is parsed. Device messages
// are a few hundred bytes; the bound keeps a hostile one cheap to refuse.
const maxJWSBytes = 8 << 10

// maxJTIBytes bounds a jti, which the store keeps until it expires.
const maxJTIBytes = 128

var es256 = []jose.SignatureAlgorithm{jose.ES256}

// parseSigned parses a compact JWS signed with ES256 whose typ is typ. It
// does not verify the signature.
func parseSigned(compact, typ string) (*jose.JSONWebSignature, error) {
	if len(compact) > maxJWSBytes {
		return nil, fmt.Errorf("jws of %d bytes is over the limit of %d", len(compact), maxJWSBytes)
	}
	// ParseSignedCompact refuses any alg but ES256, "none" included.
	jws, err := jose.ParseSignedCompact(compact, es256)
	if err != nil {
		return nil, fmt.Errorf("parse jws: %w", err)
	}
	h := jws.Signatures[0].Protected
	if got, _ := h.ExtraHeaders[jose.HeaderType].(string); !typeIs(got, typ) {
		return nil, fmt.Errorf("jws typ %q, want %q", got, typ)
	}
	// RFC 7515 §4.1.11: we understand no extension, so any crit header
	// (b64 included, RFC 7797) is refused.
	if _, ok := h.ExtraHeaders["crit"]; ok {
		return nil, errors.New("jws has a crit header")
	}
	return jws, nil
}

// typeIs reports whether the typ header got names the media type want.
// RFC 7515 §4.1.9: media types compare case-insensitively and the
// "application/" prefix may be left out.
func typeIs(got, want string) bool {
	if len(got) > len("application/") && strings.EqualFold(got[:len("application/")], "application/") {
		got = got[len("application/"):]
	}
	return strings.EqualFold(got, want)
}

// p256 returns k's public key if k is an EC public key on P-256.
func p256(k *jose.JSONWebKey) (*ecdsa.PublicKey, error) {
	if k == nil {
		return nil, errors.New("no key")
	}
	if !k.IsPublic() {
		return nil, errors.New("key is not a public key")
	}
	pub, ok := k.Key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("key is not a P-256 key")
	}
	if k.Use != "" && k.Use != "sig" {
		return nil, fmt.Errorf("key use %q is not sig", k.Use)
	}
	if k.Algorithm != "" && k.Algorithm != Alg {
		return nil, fmt.Errorf("key alg %q is not %s", k.Algorithm, Alg)
	}
	return pub, nil
}

// devicePublicKey returns the public key stored for dev.
func devicePublicKey(dev deviceKey) (*ecdsa.PublicKey, error) {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(dev); err != nil {
		return nil, fmt.Errorf("stored device key: %w", err)
	}
	return p256(&k)
}

// deviceKey is a stored public JWK (store.Device.PublicKey).
type deviceKey = json.RawMessage

// proofClaims are the claims common to the signed messages of a device:
// when the message was made and its single-use identifier.
type proofClaims struct {
	IssuedAt *jwt.NumericDate `json:"iat"`
	ID       string           `json:"jti"`
}

// check checks that the message is fresh at now within skew and carries a
// usable jti, and returns its iat.
func (c proofClaims) check(now time.Time, skew time.Duration) (time.Time, error) {
	if c.IssuedAt == nil {
		return time.Time{}, errors.New("no iat")
	}
	iat := c.IssuedAt.Time()
	if d := now.Sub(iat); d > skew || d < -skew {
		return time.Time{}, fmt.Errorf("iat %v is %v from now, more than %v", iat.UTC(), d, skew)
	}
	if c.ID == "" || len(c.ID) > maxJTIBytes {
		return time.Time{}, fmt.Errorf("jti of %d bytes, want 1 to %d", len(c.ID), maxJTIBytes)
	}
	return iat, nil
}
