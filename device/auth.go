package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// AuthScheme is the HTTP authentication scheme of device API calls:
// "Authorization: Device <compact JWS>".
const AuthScheme = "Device"

// Authenticator authenticates device API calls and verifies device
// decisions, both signed by the device's enrolled key.
//
// A call's proof follows the shape of a DPoP proof (RFC 9449 §4.2), but
// it is the credential itself, not a binding of a bearer token: its kid
// names the device, and its signature by that device's key, over the
// method, URL, time and a single-use jti, authenticates the call.
type Authenticator struct {
	Store store.Store
	Now   func() time.Time // defaults to time.Now
	Skew  time.Duration    // tolerance of iat; defaults to DefaultSkew
	// BaseURL is the server's public base URL (the issuer). The URL a
	// proof must name (htu) is BaseURL followed by the request's path:
	// it never comes from the Host header, which the client controls.
	BaseURL string
	// Passkeys verifies the passkey assertions of approvals; nil refuses
	// approvals that carry one.
	Passkeys *Passkeys
}

// requestClaims are the claims of a call's proof.
type requestClaims struct {
	proofClaims
	Method string `json:"htm"`
	URL    string `json:"htu"`
}

// Authenticate verifies the Authorization header of a device API call and
// returns the calling device. Every failure is invalid_token (401); the
// description stays short and the failed check goes only to the log, so a
// caller learns nothing about which devices exist.
func (a *Authenticator) Authenticate(r *http.Request) (store.Device, error) {
	dev, once, err := a.AuthenticateDeferred(r)
	if err != nil {
		return store.Device{}, err
	}
	if err := a.record(r.Context(), once); err != nil {
		return store.Device{}, classify(err, oauth.InvalidToken, "the device proof is not valid")
	}
	return dev, nil
}

// AuthenticateDeferred is Authenticate for a call whose whole effect
// commits in one write transaction (a decision): it checks everything but
// leaves the proof's jti to the caller, to record in that transaction (a
// store.Effects.Once) instead of in a write of its own. A reused jti then
// fails that transaction, so the call changes nothing; the caller must
// change nothing else before it.
func (a *Authenticator) AuthenticateDeferred(r *http.Request) (store.Device, store.Once, error) {
	scheme, proof, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, AuthScheme) || proof == "" {
		return store.Device{}, store.Once{}, oauth.Errorf(oauth.InvalidToken, "the request needs a %s authorization", AuthScheme)
	}
	dev, once, err := a.authenticate(r, strings.TrimSpace(proof))
	if err != nil {
		return store.Device{}, store.Once{}, classify(err, oauth.InvalidToken, "the device proof is not valid")
	}
	return dev, once, nil
}

func (a *Authenticator) authenticate(r *http.Request, proof string) (store.Device, store.Once, error) {
	ctx := r.Context()
	jws, err := parseSigned(proof, TypeRequest)
	if err != nil {
		return store.Device{}, store.Once{}, err
	}
	dev, err := a.device(ctx, jws.Signatures[0].Protected.KeyID)
	if err != nil {
		return store.Device{}, store.Once{}, err
	}
	var c requestClaims
	if err := verifyClaims(jws, dev, &c); err != nil {
		return store.Device{}, store.Once{}, err
	}
	if c.Method != r.Method {
		return store.Device{}, store.Once{}, fmt.Errorf("htm %q, want %q", c.Method, r.Method)
	}
	// RFC 9449 §4.3 compares htu without query and fragment; we compare
	// exactly, against the one form the device API documents.
	if want := strings.TrimSuffix(a.BaseURL, "/") + r.URL.EscapedPath(); c.URL != want {
		return store.Device{}, store.Once{}, fmt.Errorf("htu %q, want %q", c.URL, want)
	}
	once, err := a.once("device:"+dev.ID+":", c.proofClaims)
	if err != nil {
		return store.Device{}, store.Once{}, err
	}
	return dev, once, nil
}

// device loads the active device id.
func (a *Authenticator) device(ctx context.Context, id string) (store.Device, error) {
	if id == "" {
		return store.Device{}, errors.New("no kid")
	}
	dev, err := a.Store.Device(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Device{}, fmt.Errorf("unknown device %q", id)
	} else if err != nil {
		// A store failure is the server's fault, not the caller's.
		return store.Device{}, &serverError{fmt.Errorf("load device %q: %w", id, err)}
	}
	if !dev.RevokedAt.IsZero() {
		return store.Device{}, fmt.Errorf("device %q was revoked at %v", id, dev.RevokedAt)
	}
	return dev, nil
}

// record records a single-use value that once returned, so that the
// message it came from cannot be used again.
func (a *Authenticator) record(ctx context.Context, o store.Once) error {
	err := a.Store.UseOnce(ctx, o.Key, o.ExpiresAt)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("jti %q was used before", o.Key)
	} else if err != nil {
		return &serverError{fmt.Errorf("record jti: %w", err)}
	}
	return nil
}

// once checks the freshness of a message and returns its jti as the
// single-use value to record: kept for twice the skew past iat, longer
// than the message can pass the freshness check.
func (a *Authenticator) once(prefix string, c proofClaims) (store.Once, error) {
	skew := a.skew()
	iat, err := c.check(a.now(), skew)
	if err != nil {
		return store.Once{}, err
	}
	return store.Once{Key: prefix + c.ID, ExpiresAt: iat.Add(2 * skew)}, nil
}

// decisionClaims are the claims of a decision.
type decisionClaims struct {
	proofClaims
	RequestID string `json:"request_id"`
	Decision  string `json:"decision"`
	Summary   string `json:"summary"`
	// Reason is "not_me" on a denial the user reports as "this wasn't
	// me"; absent otherwise.
	Reason string `json:"reason,omitempty"`
	// Number is the number the user picked under number matching.
	Number string `json:"number,omitempty"`
	// Passkey is the assertion of one of the device's passkeys over the
	// summary (Passkeys), on an approval the user verified with it.
	Passkey Assertion `json:"passkey,omitempty"`
}

// The values of a decision's "decision" claim.
const (
	Approve = "approve"
	Deny    = "deny"
)

// amrHWK is the amr of a decision: proof of possession of a device key
// (RFC 8176 §2, "hwk": a hardware-secured key; a software key on the
// device is the same proof of possession, with weaker protection of the
// key).
var amrHWK = []string{"hwk"}

// ParseDecision verifies a decision that device dev signed: a compact JWS
// of type TypeDecision, signed with ES256 by dev's key, with kid dev.ID,
// and claims request_id, decision ("approve" or "deny"), summary (the
// Digest of the ciba.Summary the device showed), iat and a single-use
// jti. Every failure is invalid_request (400).
//
// ParseDecision does not compare the summary with the request: ciba does,
// when it records the decision.
func (a *Authenticator) ParseDecision(ctx context.Context, dev store.Device, signed string) (ciba.Decision, error) {
	d, err := a.parseDecision(ctx, dev, signed)
	if err != nil {
		return ciba.Decision{}, classify(err, oauth.InvalidRequest, "the decision is not valid")
	}
	return d, nil
}

func (a *Authenticator) parseDecision(ctx context.Context, dev store.Device, signed string) (ciba.Decision, error) {
	if !dev.RevokedAt.IsZero() {
		return ciba.Decision{}, fmt.Errorf("device %q was revoked", dev.ID)
	}
	jws, err := parseSigned(signed, TypeDecision)
	if err != nil {
		return ciba.Decision{}, err
	}
	if kid := jws.Signatures[0].Protected.KeyID; kid != dev.ID {
		return ciba.Decision{}, fmt.Errorf("decision kid %q, want %q", kid, dev.ID)
	}
	var c decisionClaims
	if err := verifyClaims(jws, dev, &c); err != nil {
		return ciba.Decision{}, err
	}
	if c.RequestID == "" || c.Summary == "" {
		return ciba.Decision{}, oauth.Errorf(oauth.InvalidRequest, "the decision needs request_id and summary")
	}
	if c.Decision != Approve && c.Decision != Deny {
		return ciba.Decision{}, oauth.Errorf(oauth.InvalidRequest, `the decision must be "approve" or "deny"`)
	}
	if c.Reason != "" && (c.Reason != ciba.ReasonNotMe || c.Decision != Deny) {
		return ciba.Decision{}, oauth.Errorf(oauth.InvalidRequest, `the only reason is "not_me", on a denial`)
	}
	if len(c.Passkey) > 0 && c.Decision != Approve {
		return ciba.Decision{}, oauth.Errorf(oauth.InvalidRequest, "a passkey assertion comes only with an approval")
	}
	// The jti is recorded with the decision itself (ciba.Decision.Once),
	// in the transaction that records it, not in a write of its own.
	once, err := a.once("decision:"+dev.ID+":", c.proofClaims)
	if err != nil {
		return ciba.Decision{}, err
	}
	d := ciba.Decision{
		Once:      []store.Once{once},
		RequestID: c.RequestID,
		Approve:   c.Decision == Approve,
		Summary:   c.Summary,
		Reason:    c.Reason,
		Number:    c.Number,
		Signed:    signed,
		// Without a passkey the acr stays empty: ciba records
		// ACRDeviceKey, possession of the device.
		AMR: append([]string(nil), amrHWK...),
	}
	if len(c.Passkey) > 0 {
		if a.Passkeys == nil {
			return ciba.Decision{}, oauth.Errorf(oauth.InvalidRequest, "this server has no passkeys (its issuer is not on a domain name)")
		}
		if err := a.Passkeys.verify(ctx, dev, c.Summary, c.Passkey); err != nil {
			return ciba.Decision{}, err
		}
		d.ACR, d.AMR = approvedWithPasskey()
	}
	return d, nil
}

// verifyClaims verifies jws with dev's key and decodes its claims into c.
func verifyClaims(jws *jose.JSONWebSignature, dev store.Device, c any) error {
	pub, err := devicePublicKey(dev.PublicKey)
	if err != nil {
		return &serverError{fmt.Errorf("device %q: %w", dev.ID, err)}
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if err := json.Unmarshal(payload, c); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	return nil
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Authenticator) skew() time.Duration {
	if a.Skew > 0 {
		return a.Skew
	}
	return DefaultSkew
}

// classify turns a failed check into the error the caller gets: an
// *oauth.Error made by the check as it is, a server failure as a plain
// error (a server_error), anything else as code with description desc,
// its details kept as the logged cause.
func classify(err error, code oauth.Code, desc string) error {
	var oe *oauth.Error
	var se *serverError
	switch {
	case errors.As(err, &oe):
		return oe
	case errors.As(err, &se):
		return se.err
	}
	return oauth.Errorf(code, "%s", desc).WithCause(err)
}

// serverError marks a failure of the server (its store, its data) inside
// a check, so that it is reported as such and not blamed on the caller.
type serverError struct{ err error }

func (e *serverError) Error() string { return e.err.Error() }
func (e *serverError) Unwrap() error { return e.err }
