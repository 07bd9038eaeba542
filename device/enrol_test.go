package device_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/oauth"
)

func TestNewCode(t *testing.T) {
	st := openStore(t, t.TempDir())
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	enr := &device.Enroller{Store: st, Now: func() time.Time { return now }, BaseURL: issuer + "/"}
	code, url, exp, err := enr.NewCode(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	// 160 bits in base32 are 32 characters of a-z and 2-7.
	if len(code) != 32 || strings.Trim(code, "abcdefghijklmnopqrstuvwxyz234567") != "" {
		t.Errorf("NewCode code = %q, want 32 characters of lower-case base32", code)
	}
	if want := issuer + "/device#enrol=" + code; url != want {
		t.Errorf("NewCode url = %q, want %q", url, want)
	}
	if want := now.Add(device.DefaultEnrolmentTTL); !exp.Equal(want) {
		t.Errorf("NewCode expiresAt = %v, want %v", exp, want)
	}
	again, _, _, err := enr.NewCode(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if again == code {
		t.Error("NewCode returned the same code twice")
	}
}

func TestNewCodeErrors(t *testing.T) {
	st := openStore(t, t.TempDir())
	enr := &device.Enroller{Store: st, BaseURL: issuer}
	_, _, _, err := enr.NewCode(t.Context(), "mallory")
	checkOAuthError(t, err, oauth.NotFound, http.StatusNotFound, "no such user")
	_, _, _, err = enr.NewCode(t.Context(), "")
	checkOAuthError(t, err, oauth.InvalidRequest, http.StatusBadRequest, "subject is required")
}

func TestEnrol(t *testing.T) {
	st := openStore(t, t.TempDir())
	now := time.Now().UTC().Truncate(time.Second)
	enr := &device.Enroller{Store: st, Now: func() time.Time { return now }, BaseURL: issuer}
	code, _, _, err := enr.NewCode(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	// People type codes in upper case and in groups.
	typed := strings.ToUpper(code[:16]) + " - " + code[16:]
	dev, err := enr.Enrol(t.Context(), device.EnrolRequest{Proof: enrolProof(t, key, typed, "Alice's phone")})
	if err != nil {
		t.Fatal(err)
	}
	if dev.ID == "" || dev.Subject != "alice" || dev.Name != "Alice's phone" || !dev.CreatedAt.Equal(now) || !dev.RevokedAt.IsZero() {
		t.Errorf("Enrol = %+v, want an active device of alice named Alice's phone created at %v", dev, now)
	}
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(dev.PublicKey, &jwk); err != nil {
		t.Fatal(err)
	}
	pub, ok := jwk.Key.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) || !jwk.IsPublic() {
		t.Errorf("Enrol stored key %s, want the public half of the enrolled key", dev.PublicKey)
	}
	stored, err := st.Device(t.Context(), dev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dev, stored); diff != "" {
		t.Errorf("Enrol result differs from the stored device (-got +stored):\n%s", diff)
	}

	// The code is single-use.
	_, err = enr.Enrol(t.Context(), device.EnrolRequest{Proof: enrolProof(t, newKey(t), code, "")})
	checkOAuthError(t, err, oauth.InvalidGrant, http.StatusBadRequest, "unknown, used or expired")
}

func TestEnrolExpired(t *testing.T) {
	st := openStore(t, t.TempDir())
	now := time.Now().UTC()
	enr := &device.Enroller{Store: st, Now: func() time.Time { return now }, TTL: time.Minute, BaseURL: issuer}
	code, _, _, err := enr.NewCode(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute) // the code expires at this instant
	_, err = enr.Enrol(t.Context(), device.EnrolRequest{Proof: enrolProof(t, newKey(t), code, "")})
	checkOAuthError(t, err, oauth.InvalidGrant, http.StatusBadRequest, "unknown, used or expired")
}

func TestEnrolBadProof(t *testing.T) {
	st := openStore(t, t.TempDir())
	enr := &device.Enroller{Store: st, BaseURL: issuer}
	code, _, _, err := enr.NewCode(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"code": code}
	typ := map[string]any{"typ": device.TypeEnrolment, "jwk": true}
	// A proof whose embedded jwk is not the key that signed it.
	other := newKey(t)
	foreignJWK, _ := json.Marshal(jose.JSONWebKey{Key: &other.PublicKey})
	var fj map[string]any
	json.Unmarshal(foreignJWK, &fj)
	mismatched := signJWS(t, jose.ES256, key, map[string]any{"typ": device.TypeEnrolment, "jwk": fj}, claims)
	// The jwk header with private key material.
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: key})
	var pj map[string]any
	json.Unmarshal(privJWK, &pj)
	withPrivate := signJWS(t, jose.ES256, key, map[string]any{"typ": device.TypeEnrolment, "jwk": pj}, claims)

	tests := []struct {
		name   string
		proof  string
		code   oauth.Code
		detail string
	}{
		{"empty", "", oauth.InvalidRequest, "parse jws"},
		{"garbage", "a.b.c", oauth.InvalidRequest, "parse jws"},
		{"wrong typ", signJWS(t, jose.ES256, key, map[string]any{"typ": device.TypeDecision, "jwk": true}, claims), oauth.InvalidRequest, "typ"},
		{"no typ", signJWS(t, jose.ES256, key, map[string]any{"jwk": true}, claims), oauth.InvalidRequest, "typ"},
		{"no jwk", signJWS(t, jose.ES256, key, map[string]any{"typ": device.TypeEnrolment}, claims), oauth.InvalidRequest, "no key"},
		{"P-384 key", signJWS(t, jose.ES384, p384, typ, claims), oauth.InvalidRequest, "ES384"},
		{"alg none", unsignedJWS(t, map[string]any{"alg": "none", "typ": device.TypeEnrolment}, claims), oauth.InvalidRequest, "parse jws"},
		{"HS256", signJWS(t, jose.HS256, []byte(strings.Repeat("k", 32)), map[string]any{"typ": device.TypeEnrolment}, claims), oauth.InvalidRequest, "HS256"},
		{"jwk of another key", mismatched, oauth.InvalidRequest, "signature"},
		{"private jwk", withPrivate, oauth.InvalidRequest, "parse jws"},
		{"claims not an object", signJWS(t, jose.ES256, key, typ, []string{code}), oauth.InvalidRequest, "claims"},
		{"no code", signJWS(t, jose.ES256, key, typ, map[string]any{"name": "x"}), oauth.InvalidRequest, "no code"},
		{"name too long", enrolProof(t, key, code, strings.Repeat("é", device.MaxNameRunes+1)), oauth.InvalidRequest, "more than 64"},
		{"name with escape", enrolProof(t, key, code, "phone\x1b[2J"), oauth.InvalidRequest, "control characters"},
		{"unknown code", enrolProof(t, key, "aaaa"+code[4:], ""), oauth.InvalidGrant, "unknown, used or expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := enr.Enrol(t.Context(), device.EnrolRequest{Proof: tt.proof})
			checkOAuthError(t, err, tt.code, http.StatusBadRequest, tt.detail)
		})
	}
	// None of the refused proofs used up the code.
	if _, err := enr.Enrol(t.Context(), device.EnrolRequest{Proof: enrolProof(t, key, code, "")}); err != nil {
		t.Errorf("Enrol with the code after refused proofs: %v", err)
	}
	devs, err := st.Devices(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 {
		t.Errorf("alice has %d devices, want 1", len(devs))
	}
}
