package device

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// DefaultEnrolmentTTL is how long an enrolment code stays valid by default.
const DefaultEnrolmentTTL = 10 * time.Minute

// codeBytes is the entropy of an enrolment code: 160 bits, well over the
// 128 bits that make guessing hopeless even without rate limits.
const codeBytes = 20

// MaxNameRunes bounds a device's display name.
const MaxNameRunes = 64

// codeEncoding writes codes in lower-case base32 (RFC 4648 §6) without
// padding: letters and the digits 2–7 only, so a code survives being read
// aloud, typed on a phone or selected by a double click.
var codeEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Enroller issues enrolment codes and redeems them for devices.
type Enroller struct {
	Store store.Store
	Now   func() time.Time // defaults to time.Now
	TTL   time.Duration    // how long a code is valid; defaults to DefaultEnrolmentTTL
	// BaseURL is the server's public base URL (the issuer), to which the
	// enrolment link is relative.
	BaseURL string
}

// NewCode creates a single-use enrolment code for subject and returns it
// with the link a phone opens and the code's expiry. Only the code's
// SHA-256 is stored. An unknown subject is a not_found error.
func (e *Enroller) NewCode(ctx context.Context, subject string) (code, url string, expiresAt time.Time, err error) {
	if subject == "" {
		return "", "", time.Time{}, oauth.Errorf(oauth.InvalidRequest, "subject is required")
	}
	if _, err := e.Store.User(ctx, subject); errors.Is(err, store.ErrNotFound) {
		return "", "", time.Time{}, oauth.Errorf(oauth.NotFound, "no such user").WithCause(err)
	} else if err != nil {
		return "", "", time.Time{}, fmt.Errorf("load user %q: %w", subject, err)
	}
	b := make([]byte, codeBytes)
	rand.Read(b) // never fails (crypto/rand documents it)
	code = codeEncoding.EncodeToString(b)
	now := e.now()
	expiresAt = now.Add(e.ttl())
	err = e.Store.CreateEnrolment(ctx, store.Enrolment{
		CodeHash:  hashCode(code),
		Subject:   subject,
		CreatedAt: now,
		ExpiresAt: expiresAt,
	})
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("create enrolment: %w", err)
	}
	// The code travels in the fragment, which browsers never send to a
	// server, so it stays out of access logs and Referer headers.
	url = strings.TrimSuffix(e.BaseURL, "/") + "/device#enrol=" + code
	return code, url, expiresAt, nil
}

// EnrolRequest is the body of an enrolment (POST {device_api_uri}/enrol).
type EnrolRequest struct {
	// Proof is a compact JWS of type TypeEnrolment, signed with ES256 by
	// the new device key, whose protected header carries that key's
	// public JWK as "jwk" and whose claims are "code" (the enrolment
	// code) and optionally "name" (the device's display name). Signing
	// the code proves possession of the key that is being enrolled.
	Proof string `json:"proof"`
}

// enrolClaims are the claims of an enrolment proof.
type enrolClaims struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// Enrol redeems the enrolment code in req and enrols the key that signed
// req.Proof as a new device of the code's user. A malformed proof or key
// is invalid_request; a code that is unknown, used or expired is
// invalid_grant. The code is consumed only when the proof is good.
func (e *Enroller) Enrol(ctx context.Context, req EnrolRequest) (store.Device, error) {
	jws, err := parseSigned(req.Proof, TypeEnrolment)
	if err != nil {
		return store.Device{}, oauth.Errorf(oauth.InvalidRequest, "the enrolment proof is not a valid %s JWS", TypeEnrolment).WithCause(err)
	}
	pub, err := p256(jws.Signatures[0].Protected.JSONWebKey)
	if err != nil {
		return store.Device{}, oauth.Errorf(oauth.InvalidRequest, "the enrolment proof must carry a public P-256 jwk").WithCause(err)
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return store.Device{}, oauth.Errorf(oauth.InvalidRequest, "the enrolment proof signature is not valid").WithCause(err)
	}
	var c enrolClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return store.Device{}, oauth.Errorf(oauth.InvalidRequest, "the enrolment proof claims are not a JSON object").WithCause(err)
	}
	if err := checkName(c.Name); err != nil {
		return store.Device{}, oauth.Errorf(oauth.InvalidRequest, "%v", err)
	}
	code := normalizeCode(c.Code)
	if code == "" {
		return store.Device{}, oauth.Errorf(oauth.InvalidRequest, "the enrolment proof has no code")
	}
	jwk, err := json.Marshal(jose.JSONWebKey{Key: pub, Algorithm: Alg, Use: "sig"})
	if err != nil {
		return store.Device{}, fmt.Errorf("encode device key: %w", err)
	}
	now := e.now()
	id := newDeviceID()
	err = e.Store.RedeemEnrolment(ctx, hashCode(code), now, store.Device{
		ID:        id,
		Name:      c.Name,
		PublicKey: jwk,
		CreatedAt: now,
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Device{}, oauth.Errorf(oauth.InvalidGrant, "the enrolment code is unknown, used or expired").WithCause(err)
	} else if err != nil {
		return store.Device{}, fmt.Errorf("redeem enrolment: %w", err)
	}
	// The store took the subject from the enrolment; read the device
	// back so the caller gets the record as stored.
	dev, err := e.Store.Device(ctx, id)
	if err != nil {
		return store.Device{}, fmt.Errorf("load enrolled device %q: %w", id, err)
	}
	return dev, nil
}

func (e *Enroller) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Enroller) ttl() time.Duration {
	if e.TTL > 0 {
		return e.TTL
	}
	return DefaultEnrolmentTTL
}

// normalizeCode undoes what people do to a code they copy or type: upper
// case, spaces and dashes between groups.
func normalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return unicode.ToLower(r)
	}, code)
}

func hashCode(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}

// newDeviceID returns a random 128-bit device ID in base64url, safe in
// URLs and as a JWS kid.
func newDeviceID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// checkName refuses names that would be unreadable or unsafe where a
// device list is shown: control characters (terminal escapes included)
// and invalid UTF-8.
func checkName(name string) error {
	if !utf8.ValidString(name) {
		return errors.New("the device name is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(name); n > MaxNameRunes {
		return fmt.Errorf("the device name has %d characters, more than %d", n, MaxNameRunes)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return errors.New("the device name contains control characters")
		}
	}
	return nil
}
