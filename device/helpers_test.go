package device_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/store/sqlite"
)

const issuer = "https://op.example.com"

// openStore returns a fresh SQLite store with user "alice".
func openStore(t testing.TB, dir string) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "backchannel.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateUser(context.Background(), store.User{Subject: "alice", CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	return st
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signJWS signs claims with key under alg with the given protected
// headers (typ, kid, jwk …).
func signJWS(t testing.TB, alg jose.SignatureAlgorithm, key any, headers map[string]any, claims any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range headers {
		if v == true && k == "jwk" { // embed the signing key's public jwk
			opts.EmbedJWK = true
			continue
		}
		opts.WithHeader(jose.HeaderKey(k), v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsignedJWS returns an "alg":"none" JWS (RFC 7515 §A.5) with header.
func unsignedJWS(t testing.TB, header, claims any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

// enrolProof returns an enrolment proof of key for code.
func enrolProof(t testing.TB, key *ecdsa.PrivateKey, code, name string) string {
	t.Helper()
	return signJWS(t, jose.ES256, key, map[string]any{"typ": device.TypeEnrolment, "jwk": true},
		map[string]any{"code": code, "name": name})
}

// enrolDevice enrols a new device of alice and returns it with its key.
func enrolDevice(t testing.TB, st store.Store, now func() time.Time) (store.Device, *ecdsa.PrivateKey) {
	t.Helper()
	enr := &device.Enroller{Store: st, Now: now, BaseURL: issuer}
	code, _, _, err := enr.NewCode(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	dev, err := enr.Enrol(context.Background(), device.EnrolRequest{Proof: enrolProof(t, key, code, "phone")})
	if err != nil {
		t.Fatal(err)
	}
	return dev, key
}

// checkOAuthError fails t unless err is an *oauth.Error with code and
// HTTP status, whose message (cause included) contains detail, so that a
// test fails when a different check refused the input.
func checkOAuthError(t testing.TB, err error, code oauth.Code, status int, detail string) {
	t.Helper()
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		t.Fatalf("error = %v (%T), want *oauth.Error %s", err, err, code)
	}
	if oe.Code != code || oe.HTTPStatus() != status {
		t.Errorf("error = %s (HTTP %d), want %s (HTTP %d)", oe.Code, oe.HTTPStatus(), code, status)
	}
	if !strings.Contains(oe.Error(), detail) {
		t.Errorf("error = %q, want it to mention %q", oe.Error(), detail)
	}
}
