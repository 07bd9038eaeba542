package device

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// Passkeys registers passkeys (WebAuthn credentials) for enrolled devices
// and verifies the assertions that come with approvals.
//
// A passkey belongs to one device: the device registers it with a signed
// call, and an approval that carries an assertion by it is an approval by
// the device key and by the user verified to the passkey (user
// verification is always required). The assertion's challenge is the
// digest of the request's summary (ciba.Summary.Digest), so the passkey
// signs exactly what the device signs and the server needs to keep no
// state between showing a request and the approval.
type Passkeys struct {
	store store.Store
	rp    *webauthn.WebAuthn
	now   func() time.Time
}

// PasskeyTTL is how long a registration challenge stays usable.
const PasskeyTTL = 5 * time.Minute

// The acr and amr of an approval verified with a passkey. amr (RFC 8176
// §2): "hwk" for the device key, "user" for the authenticator's test of
// the user, "mfa" because possession and verification are two factors.
var amrPasskey = []string{"hwk", "user", "mfa"}

// NewPasskeys returns passkeys for the server whose public origin is
// issuer: its host is the WebAuthn relying party ID and its origin the
// only origin allowed. WebAuthn refuses IP addresses as relying party
// IDs, so an issuer on an IP address (http://127.0.0.1:8080) cannot have
// passkeys: NewPasskeys says so, and the caller serves without them.
func NewPasskeys(st store.Store, issuer string, now func() time.Time) (*Passkeys, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("passkeys: issuer %q is not an absolute URL", issuer)
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		return nil, fmt.Errorf("passkeys: the issuer's host %q is an IP address, which WebAuthn does not accept as a relying party ID; use a domain name (localhost in development)", host)
	}
	rp, err := webauthn.New(&webauthn.Config{
		RPID:          host,
		RPDisplayName: host,
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Passkeys{store: st, rp: rp, now: now}, nil
}

// RPID returns the relying party ID the passkeys are registered for.
func (p *Passkeys) RPID() string { return p.rp.Config.RPID }

// passkeyUser is a device as a WebAuthn user. Its handle is derived from
// the device, not the person: two devices of one person that share a
// synced passkey provider would otherwise overwrite each other's passkey.
type passkeyUser struct {
	dev   store.Device
	name  string
	creds []webauthn.Credential
}

func (u passkeyUser) WebAuthnID() []byte {
	h := sha256.Sum256([]byte("backchannel passkey user\x00" + u.dev.ID))
	return h[:]
}
func (u passkeyUser) WebAuthnName() string                       { return u.name }
func (u passkeyUser) WebAuthnDisplayName() string                { return u.name }
func (u passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// user loads device dev's passkeys as a WebAuthn user named name.
func (p *Passkeys) user(ctx context.Context, dev store.Device, name string) (passkeyUser, []store.Passkey, error) {
	stored, err := p.store.Passkeys(ctx, dev.ID)
	if err != nil {
		return passkeyUser{}, nil, &serverError{fmt.Errorf("load passkeys of device %q: %w", dev.ID, err)}
	}
	u := passkeyUser{dev: dev, name: name}
	for _, s := range stored {
		var c webauthn.Credential
		if err := json.Unmarshal(s.Record, &c); err != nil {
			return passkeyUser{}, nil, &serverError{fmt.Errorf("passkey %q: %w", s.ID, err)}
		}
		u.creds = append(u.creds, c)
	}
	return u, stored, nil
}

// BeginRegistration returns the options (the JSON of a
// CredentialCreationOptions, {"publicKey": …}) with which device dev
// creates a passkey for its user, shown as name. The challenge is
// recorded for PasskeyTTL and replaces any earlier one of dev.
func (p *Passkeys) BeginRegistration(ctx context.Context, dev store.Device, name string) (json.RawMessage, error) {
	u, _, err := p.user(ctx, dev, name)
	if err != nil {
		return nil, err
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(u.creds))
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := p.rp.BeginRegistration(u,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationRequired,
		}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithExclusions(exclude),
	)
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	if err := p.store.SavePasskeyChallenge(ctx, dev.ID, challengeHash(session.Challenge), p.now().Add(PasskeyTTL)); err != nil {
		return nil, fmt.Errorf("save passkey challenge: %w", err)
	}
	return json.Marshal(creation)
}

// FinishRegistration verifies the passkey device dev created (body is the
// PublicKeyCredential as JSON, as its toJSON method gives it) against
// dev's outstanding challenge and stores it. Failures are invalid_request
// (400).
func (p *Passkeys) FinishRegistration(ctx context.Context, dev store.Device, body []byte) (store.Passkey, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return store.Passkey{}, webauthnError("the passkey registration is not valid", err)
	}
	u, _, err := p.user(ctx, dev, "")
	if err != nil {
		return store.Passkey{}, err
	}
	// The challenge is checked twice: here against what the browser
	// signed, and in the store against what was issued to this device.
	challenge := parsed.Response.CollectedClientData.Challenge
	session := webauthn.SessionData{
		Challenge:        challenge,
		UserID:           u.WebAuthnID(),
		UserVerification: protocol.VerificationRequired,
		CredParams:       webauthn.CredentialParametersDefault(),
	}
	cred, err := p.rp.CreateCredential(u, session, parsed)
	if err != nil {
		return store.Passkey{}, webauthnError("the passkey registration is not valid", err)
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return store.Passkey{}, fmt.Errorf("encode passkey: %w", err)
	}
	now := p.now()
	pk := store.Passkey{
		ID:        base64.RawURLEncoding.EncodeToString(cred.ID),
		DeviceID:  dev.ID,
		Subject:   dev.Subject,
		Record:    record,
		CreatedAt: now,
	}
	switch err := p.store.CreatePasskey(ctx, pk, challengeHash(challenge), now); {
	case errors.Is(err, store.ErrNotFound):
		return store.Passkey{}, oauth.Errorf(oauth.InvalidRequest, "the passkey's challenge was not issued to this device, was used, or expired; ask for new options")
	case errors.Is(err, store.ErrConflict):
		return store.Passkey{}, oauth.Errorf(oauth.InvalidRequest, "this passkey is already registered")
	case err != nil:
		return store.Passkey{}, fmt.Errorf("store passkey: %w", err)
	}
	return pk, nil
}

// Assertion is what an approval carries to show a passkey verified the
// user: the PublicKeyCredential of navigator.credentials.get as JSON.
type Assertion = json.RawMessage

// verify checks that assertion was made by one of device dev's passkeys,
// with user verification, over challenge summary (the digest of the
// request's summary, base64url), and records the passkey's use.
func (p *Passkeys) verify(ctx context.Context, dev store.Device, summary string, assertion Assertion) error {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(assertion)
	if err != nil {
		return webauthnError("the passkey assertion is not valid", err)
	}
	u, stored, err := p.user(ctx, dev, "")
	if err != nil {
		return err
	}
	if len(u.creds) == 0 {
		return oauth.Errorf(oauth.InvalidRequest, "this device has no passkey; register one first")
	}
	allowed := make([][]byte, 0, len(u.creds))
	for _, c := range u.creds {
		allowed = append(allowed, c.ID)
	}
	session := webauthn.SessionData{
		Challenge:            summary,
		UserID:               u.WebAuthnID(),
		AllowedCredentialIDs: allowed,
		UserVerification:     protocol.VerificationRequired,
	}
	cred, err := p.rp.ValidateLogin(u, session, parsed)
	if err != nil {
		return webauthnError("the passkey assertion is not valid", err)
	}
	if cred.Authenticator.CloneWarning {
		// A counter that went backwards: two copies of the key exist.
		return oauth.Errorf(oauth.InvalidRequest, "the passkey's signature counter went backwards; the passkey may be cloned and is not accepted")
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return &serverError{fmt.Errorf("encode passkey: %w", err)}
	}
	id := base64.RawURLEncoding.EncodeToString(cred.ID)
	for _, s := range stored {
		if s.ID == id {
			if err := p.store.UsePasskey(ctx, id, record, p.now()); err != nil {
				return &serverError{fmt.Errorf("record passkey use: %w", err)}
			}
		}
	}
	return nil
}

// approvedWithPasskey returns the acr and amr of an approval verified
// with a passkey.
func approvedWithPasskey() (string, []string) {
	return ciba.ACRPasskey, append([]string(nil), amrPasskey...)
}

// challengeHash is what the store keeps of a registration challenge.
func challengeHash(challenge string) []byte {
	h := sha256.Sum256([]byte(challenge))
	return h[:]
}

// webauthnError reports a failed WebAuthn check as invalid_request, with
// the library's short reason; its developer details go only to the log.
func webauthnError(desc string, err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return oauth.Errorf(oauth.InvalidRequest, "%s: %s", desc, pe.Details).WithCause(err)
	}
	return oauth.Errorf(oauth.InvalidRequest, "%s", desc).WithCause(err)
}
