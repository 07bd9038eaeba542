// Package webauthntest is a software WebAuthn authenticator for tests:
// it makes passkeys and assertions the way a browser and a platform
// authenticator would (attestation "none", ES256), so that the server's
// checks run on real data. It verifies no user; tests say whether it
// claims to have (UserVerified).
package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01 // user present
	flagUV = 0x04 // user verified
	flagAT = 0x40 // attested credential data included
)

// Authenticator holds one passkey at a time, for one origin.
type Authenticator struct {
	Origin string // the origin the browser reports, e.g. http://localhost:8080
	RPID   string // the relying party ID, e.g. localhost
	// UserVerified sets the UV flag; a real authenticator sets it after
	// a PIN or biometric check.
	UserVerified bool
	// Counter is the signature counter the next assertion reports; it
	// goes up by one after each assertion.
	Counter uint32

	key        *ecdsa.PrivateKey
	id         []byte
	userHandle []byte
}

// New returns an authenticator for rpID at origin that verifies users.
func New(rpID, origin string) *Authenticator {
	return &Authenticator{Origin: origin, RPID: rpID, UserVerified: true}
}

// CredentialID returns the current passkey's ID, base64url.
func (a *Authenticator) CredentialID() string { return b64(a.id) }

// Create answers navigator.credentials.create with options (the JSON of
// a CredentialCreationOptions, {"publicKey": …}) and returns the new
// PublicKeyCredential as JSON (its toJSON form).
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RP        struct {
				ID string `json:"id"`
			} `json:"rp"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("webauthntest: options: %w", err)
	}
	if o.PublicKey.RP.ID != a.RPID {
		return nil, fmt.Errorf("webauthntest: options for rp %q, want %q", o.PublicKey.RP.ID, a.RPID)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	userHandle, err := base64.RawURLEncoding.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, fmt.Errorf("webauthntest: user.id: %w", err)
	}
	a.key, a.id, a.userHandle = key, id, userHandle

	pt, err := key.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		return nil, err
	}
	pub, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pt[1:33], -3: pt[33:]})
	if err != nil {
		return nil, err
	}
	auth := a.authData(flagAT)
	auth = append(auth, make([]byte, 16)...) // AAGUID: none
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(id)))
	auth = append(auth, id...)
	auth = append(auth, pub...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64(id), "rawId": b64(id), "type": "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64(att),
			"transports":        []string{"internal"},
		},
	})
}

// Get answers navigator.credentials.get with challenge (base64url) and
// returns the assertion (the PublicKeyCredential as JSON).
func (a *Authenticator) Get(challenge string) ([]byte, error) {
	if a.key == nil {
		return nil, fmt.Errorf("webauthntest: no passkey; call Create first")
	}
	auth := a.authData(0)
	clientData := a.clientData("webauthn.get", challenge)
	h := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte(nil), auth...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		return nil, err
	}
	a.Counter++
	return json.Marshal(map[string]any{
		"id": b64(a.id), "rawId": b64(a.id), "type": "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64(clientData),
			"authenticatorData": b64(auth),
			"signature":         b64(sig),
			"userHandle":        b64(a.userHandle),
		},
	})
}

// authData is the authenticator data up to the attested credential data:
// rpIdHash, flags, counter.
func (a *Authenticator) authData(extra byte) []byte {
	rp := sha256.Sum256([]byte(a.RPID))
	flags := flagUP | extra
	if a.UserVerified {
		flags |= flagUV
	}
	out := append(rp[:], flags)
	return binary.BigEndian.AppendUint32(out, a.Counter)
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
