package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

var (
	// ErrNotFound is returned when a record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned on a duplicate key, including a replayed
	// single-use value passed to UseOnce.
	ErrConflict = errors.New("store: conflict")
)

// DeliveryMode is a client's backchannel_token_delivery_mode (CIBA Core §4).
type DeliveryMode string

// The delivery modes of CIBA Core §5.
const (
	Poll DeliveryMode = "poll"
	Ping DeliveryMode = "ping"
	Push DeliveryMode = "push"
)

// Client is a registered relying party. Its metadata uses the names of
// RFC 7591 and CIBA Core §4.
type Client struct {
	ID   string
	Name string // client_name, shown to the user on the device
	// SecretHash is SHA-256 of the client secret. Secrets are 256-bit
	// random values, so a fast hash is enough and keeps authentication
	// cheap. Empty for clients without a secret.
	SecretHash []byte
	// Secret holds the plain secret only for client_secret_jwt, where the
	// secret is the HMAC key (RFC 7523 §2.2) and so cannot be hashed.
	Secret string

	GrantTypes                  []string
	Scope                       string // space-separated scopes the client may request; empty means any supported
	TokenEndpointAuthMethod     string
	TokenEndpointAuthSigningAlg string
	JWKS                        json.RawMessage // inline JWK Set, or nil
	JWKSURI                     string
	DeliveryMode                DeliveryMode
	NotificationEndpoint        string // backchannel_client_notification_endpoint
	RequestSigningAlg           string // backchannel_authentication_request_signing_alg
	UserCodeParameter           bool   // backchannel_user_code_parameter
	TLSClientAuthSubjectDN      string
	// The RFC 8705 §2.1.2 alternatives to the subject DN: exactly one of
	// these or TLSClientAuthSubjectDN names a tls_client_auth client's
	// certificate.
	TLSClientAuthSANDNS      string
	TLSClientAuthSANURI      string
	TLSClientAuthSANIP       string
	TLSClientAuthSANEmail    string
	IDTokenSignedResponseAlg string
	// CertificateBoundAccessTokens is
	// tls_client_certificate_bound_access_tokens (RFC 8705 §3.4).
	CertificateBoundAccessTokens bool
	// DPoPBoundAccessTokens is dpop_bound_access_tokens (RFC 9449 §5.2):
	// the client must send a DPoP proof at the token endpoint.
	DPoPBoundAccessTokens bool
	// Profile is "" or "fapi-ciba": the client must follow the FAPI-CIBA
	// profile's rules.
	Profile string
	// LogoURI is logo_uri, shown on the authentication device.
	LogoURI string
	// SoftwareID is software_id (RFC 7591 §2), from a software statement.
	SoftwareID string
	// RegistrationAccessTokenHash is SHA-256 of the RFC 7592
	// registration access token of a dynamically registered client; nil
	// for clients registered through the admin API.
	RegistrationAccessTokenHash []byte
	// DefaultACRValues is default_acr_values (OpenID Connect Dynamic
	// Client Registration §2): the acr values of the client's requests
	// that name none.
	DefaultACRValues []string
	CreatedAt        time.Time
}

// User is an end-user who can be named by a login hint.
type User struct {
	Subject           string // sub; unique
	PreferredUsername string // unique when set
	Email             string // unique when set
	PhoneNumber       string // unique when set
	// Claims holds the other OpenID claims (name, given_name, …) as a JSON
	// object.
	Claims json.RawMessage
	// UserCodeHash is SHA-256 of the user's user_code (CIBA Core §7.1),
	// or nil when the user has none.
	UserCodeHash []byte
	// UserCodeFailures counts consecutive wrong user codes; callers lock
	// the code once it reaches their limit and reset it on success.
	UserCodeFailures int
	CreatedAt        time.Time
}

// State is a backchannel request's place in its life.
type State string

// The request states. Pending moves to Approved or Denied once; Approved
// moves to Redeemed once. A Pending or Approved request past ExpiresAt is
// expired whatever its state says; Expired records that the expiry of a
// ping or push request was handled (its notification queued).
const (
	Pending  State = "pending"
	Approved State = "approved"
	Denied   State = "denied"
	Redeemed State = "redeemed"
	Expired  State = "expired"
)

// Request is one backchannel authentication request (CIBA Core §7).
type Request struct {
	ID          string // the device-facing reference; safe to show
	AuthReqHash []byte // SHA-256 of auth_req_id; the ID itself is never stored
	ClientID    string
	Subject     string
	State       State
	Scopes      []string
	ACRValues   []string
	Binding     string // binding_message, as the user is shown it
	// AuthorizationDetails is the request's authorization_details (RFC
	// 9396), a JSON array validated against the configured types, or nil.
	AuthorizationDetails json.RawMessage
	// NotificationToken is the client_notification_token of ping and
	// push requests, kept in clear because the notification must present
	// it (CIBA Core §10.2). It moves to the Outbound row when the
	// notification is queued and is cleared from the request then.
	NotificationToken string
	// AuthReqID is the auth_req_id of ping and push requests only, which
	// the notification carries (CIBA Core §10.2, §10.3); like
	// NotificationToken it is cleared once the notification is queued.
	// Poll requests keep only AuthReqHash.
	AuthReqID    string
	DeliveryMode DeliveryMode
	CreatedAt    time.Time
	ExpiresAt    time.Time     // always UTC
	Interval     time.Duration // minimum polling interval; grows on slow_down
	NextPollAt   time.Time     // earliest allowed poll; earlier polls get slow_down

	// Set by the decision.
	DecidedAt time.Time
	DeviceID  string   // the device that decided
	ACR       string   // acr achieved at approval
	AMR       []string // methods used at approval
	// Decision is the device's signed decision (a compact JWS), kept as
	// evidence of what the user approved or denied.
	Decision string
}

// Token is an access token (opaque, or the record of a JWT access token)
// or a refresh token, stored hashed.
type Token struct {
	Hash      []byte // SHA-256 of the token as sent to the client
	Kind      TokenKind
	ClientID  string
	Subject   string
	Scopes    []string
	RequestID string // the backchannel request it came from
	// FamilyID is shared by the tokens of one grant and all their
	// refreshes, so that a replayed refresh token revokes them together.
	FamilyID string
	AuthTime time.Time // the user's authentication, carried across refreshes
	ACR      string
	AMR      []string
	// AuthorizationDetails are the granted authorization_details (RFC
	// 9396 §7), or nil.
	AuthorizationDetails json.RawMessage
	// JKT is the DPoP key thumbprint an access token is bound to (RFC
	// 9449 §6, cnf.jkt); X5TS256 the client certificate thumbprint (RFC
	// 8705 §3.1, cnf.x5t#S256). Empty for unbound (Bearer) tokens.
	JKT       string
	X5TS256   string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// UsedAt is when a refresh token was exchanged (rotated); zero while
	// unused. A second use is a replay.
	UsedAt    time.Time
	RevokedAt time.Time // zero while not revoked
}

// TokenKind says what a Token is.
type TokenKind string

// The token kinds.
const (
	AccessToken  TokenKind = "access_token"
	RefreshToken TokenKind = "refresh_token"
)

// Effects are the records an UpdateRequest decision creates in the same
// transaction as the request change, so that, for example, a redemption
// and the tokens it issues are saved together or not at all.
type Effects struct {
	Tokens   []Token
	Outbound []Outbound
	Audit    []AuditEvent
	// Once are single-use values (a signed decision's jti, say) recorded
	// with the change, as UseOnce records them: if one of them is
	// recorded already and has not expired, the change fails with
	// ErrConflict and nothing is saved. Recording them with the change
	// saves the write transaction of a separate UseOnce.
	Once []Once
}

// Once is a single-use value and the time until which it is kept
// (Effects.Once, Store.UseOnce).
type Once struct {
	Key       string
	ExpiresAt time.Time
}

// AuditEvent is one step in the life of a backchannel request (created,
// shown, approved, redeemed, delivered, expired, …), kept for operators
// and auditors. It never holds a secret: no auth_req_id, token,
// client_notification_token or enrolment code.
type AuditEvent struct {
	ID        string // unique; assigned by the caller
	At        time.Time
	Kind      string // e.g. "request.created"; see package audit for the list
	RequestID string // the device-facing request reference, if any
	ClientID  string
	Subject   string
	DeviceID  string
	// Detail holds further non-secret facts as a JSON object, or nil.
	Detail json.RawMessage
}

// AuditQuery selects audit events. Empty fields match everything; at
// least one of RequestID, Subject and ClientID should be set.
type AuditQuery struct {
	RequestID string
	Subject   string
	ClientID  string
	Since     time.Time // events at or after Since; zero: from the start
	Limit     int       // at most this many, oldest first; 0 means 1000
}

// PurgeCounts says how many records a Purge removed, by kind.
type PurgeCounts struct {
	Requests, Tokens, UsedOnce, Enrolments, Outbound, Audit int
}

// Total is the number of records removed.
func (c PurgeCounts) Total() int {
	return c.Requests + c.Tokens + c.UsedOnce + c.Enrolments + c.Outbound + c.Audit
}

// OutboundState is where a notification is in its delivery.
type OutboundState string

// The outbound states. Queued moves once to Delivered or Failed.
const (
	Queued    OutboundState = "queued"
	Delivered OutboundState = "delivered"
	Failed    OutboundState = "failed"
)

// Outbound is a notification to a client's
// backchannel_client_notification_endpoint (CIBA Core §10.2, §10.3),
// written in the same transaction as the decision it reports, so that a
// crash cannot lose it. The notify package delivers it.
type Outbound struct {
	ID        string
	RequestID string
	ClientID  string
	// Endpoint is the URL to POST to; for a Web Push row it is
	// "webpush:" and the device ID, whose subscription is read when
	// the row is sent.
	Endpoint string
	// Token is the client_notification_token, sent as a Bearer token.
	// Token and Payload are cleared when the row leaves Queued: a push
	// payload holds tokens, which must not outlive their delivery.
	Token         string
	Payload       json.RawMessage // the JSON body to POST
	State         OutboundState
	Attempts      int       // attempts started so far
	NextAttemptAt time.Time // when the next attempt may start
	ExpiresAt     time.Time // no attempt starts after this
	LastError     string    // the last failure, for operators; never a secret
	CreatedAt     time.Time
	DoneAt        time.Time // when it left Queued
}

// Device is an enrolled authentication device of a user.
type Device struct {
	ID        string
	Subject   string
	Name      string
	PublicKey json.RawMessage // the device's public JWK (P-256)
	CreatedAt time.Time
	RevokedAt time.Time // zero while the device is active
	// Push is the device's Web Push subscription (RFC 8030), or the zero
	// value. Devices (which the initiation path already loads) returns it
	// too, so knowing whom to push costs no extra query.
	Push PushSubscription
}

// PushSubscription is a browser's PushSubscription (RFC 8030 §5, RFC 8291
// §3.2): where to send and how to encrypt. Auth is a secret shared with
// the device: never log it.
type PushSubscription struct {
	Endpoint string // the push resource URL; empty: no subscription
	P256DH   []byte // the user agent's public key, an uncompressed P-256 point
	Auth     []byte // the 16-byte authentication secret
}

// Passkey is a WebAuthn credential that an enrolled device registered for
// its user, so that the user can verify themselves on that device when
// they approve a request.
type Passkey struct {
	ID       string // the credential ID, base64url without padding
	DeviceID string
	Subject  string
	// Record is the credential as package device keeps it: public key,
	// signature counter, flags. The store does not read it.
	Record     json.RawMessage
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until the passkey approves a request
}

// Enrolment is a single-use code that lets a device enrol for a user.
type Enrolment struct {
	CodeHash  []byte // SHA-256 of the code
	Subject   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SigningKey is one of the server's signing keys.
type SigningKey struct {
	ID         string          // kid
	Alg        string          // ES256, PS256, RS256 or EdDSA
	PrivateJWK json.RawMessage // the private key as a JWK
	CreatedAt  time.Time
	// RetiredAt is when the key stopped signing; zero for the active key.
	// A retired key stays published until every token it signed expired.
	RetiredAt time.Time
}

// Store is implemented by every backend and checked by store/storetest.
// Every method honours ctx. Times are returned in UTC.
type Store interface {
	// Clients.
	CreateClient(ctx context.Context, c Client) error // ErrConflict if the ID exists
	Client(ctx context.Context, id string) (Client, error)
	Clients(ctx context.Context) ([]Client, error) // ordered by ID
	DeleteClient(ctx context.Context, id string) error
	// UpdateClient loads client id, calls change with it and saves the
	// result atomically, as UpdateUser does. change must not alter ID.
	UpdateClient(ctx context.Context, id string, change func(*Client) error) (Client, error)

	// Users. CreateUser returns ErrConflict when the subject, or a set
	// preferred_username, email or phone_number, is already taken.
	CreateUser(ctx context.Context, u User) error
	User(ctx context.Context, sub string) (User, error)
	// UserByHint returns the user whose subject, preferred_username,
	// email or phone_number equals hint exactly.
	UserByHint(ctx context.Context, hint string) (User, error)
	Users(ctx context.Context) ([]User, error) // ordered by subject
	DeleteUser(ctx context.Context, sub string) error
	// UpdateUser loads user sub, calls change with it and saves the
	// result atomically. If change returns an error, nothing is saved
	// and that error is returned.
	UpdateUser(ctx context.Context, sub string, change func(*User) error) (User, error)

	// Requests.
	// CreateRequest adds r and creates the effects fx (at most one; its
	// audit event, say) in one transaction: ErrConflict if r.ID or a set
	// r.AuthReqHash exists, and then nothing is saved.
	CreateRequest(ctx context.Context, r Request, fx ...Effects) error
	Request(ctx context.Context, id string) (Request, error)
	RequestByAuthReqHash(ctx context.Context, h []byte) (Request, error)
	// PendingRequests lists the user's pending requests that expire after
	// now, oldest first.
	PendingRequests(ctx context.Context, sub string, now time.Time) ([]Request, error)
	// UpdateRequest loads request id and calls decide with it. If decide
	// returns nil, UpdateRequest saves the request and creates the effects
	// in one transaction and returns the saved request. If decide returns
	// an error, nothing is saved and UpdateRequest returns the request as
	// decide left it together with that error. Concurrent updates of one
	// request are serialized: each decide sees the previous one's result.
	UpdateRequest(ctx context.Context, id string, decide func(*Request) (Effects, error)) (Request, error)

	// ExpiringRequests lists up to limit requests in state Pending whose
	// ExpiresAt is at or before now and whose DeliveryMode is ping or
	// push, oldest expiry first: those whose expiry must be notified.
	// A zero ExpiresAt counts as before every time. A limit of 0 or less
	// lists nothing.
	ExpiringRequests(ctx context.Context, now time.Time, limit int) ([]Request, error)

	// Tokens.
	Token(ctx context.Context, hash []byte) (Token, error)
	// UpdateToken loads token hash and calls decide with it, with the
	// semantics of UpdateRequest: on nil the token and the effects are
	// saved in one transaction; on an error nothing is saved and the
	// error is returned as it is.
	UpdateToken(ctx context.Context, hash []byte, decide func(*Token) (Effects, error)) (Token, error)
	// RevokeFamily sets RevokedAt to at on every token of the family that
	// is not revoked yet. A family without tokens is not an error. An
	// empty familyID names no family and changes nothing.
	RevokeFamily(ctx context.Context, familyID string, at time.Time) error

	// Outbox.
	// ClaimOutbound atomically takes up to limit Queued rows whose
	// NextAttemptAt is at or before now, oldest first, increments their
	// Attempts and sets their NextAttemptAt to now+lease so no other
	// worker takes them meanwhile, and returns them as updated. Oldest
	// first means by NextAttemptAt, then by CreatedAt; a zero
	// NextAttemptAt counts as before every time. A limit of 0 or less
	// takes nothing. Rows past their ExpiresAt are claimed like the
	// others, so that the worker can finish them as Failed.
	ClaimOutbound(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Outbound, error)
	// RetryOutbound schedules the next attempt of a Queued row at next,
	// records lastError and appends the audit events, in one transaction.
	// ErrNotFound, and nothing saved, if the row is not Queued.
	RetryOutbound(ctx context.Context, id string, next time.Time, lastError string, audit ...AuditEvent) error
	// FinishOutbound moves a Queued row to state (Delivered or Failed) at
	// at, records lastError, clears its Token and Payload and appends the
	// audit events, in one transaction. ErrNotFound, and nothing saved,
	// if the row is not Queued.
	FinishOutbound(ctx context.Context, id string, state OutboundState, at time.Time, lastError string, audit ...AuditEvent) error
	// Outbound returns one row, for tests and operators.
	Outbound(ctx context.Context, id string) (Outbound, error)
	// OutboundByRequest lists a request's rows, oldest first.
	OutboundByRequest(ctx context.Context, requestID string) ([]Outbound, error)

	// Devices.
	CreateEnrolment(ctx context.Context, e Enrolment) error
	// RedeemEnrolment consumes the enrolment code and creates the device
	// in one transaction. It returns ErrNotFound if the code does not
	// exist, was used or expired before now.
	RedeemEnrolment(ctx context.Context, codeHash []byte, now time.Time, d Device) error
	Device(ctx context.Context, id string) (Device, error)
	Devices(ctx context.Context, sub string) ([]Device, error) // ordered by creation
	// RevokeDevice sets RevokedAt and removes the device's push
	// subscription: a revoked device is never pushed to.
	RevokeDevice(ctx context.Context, id string, at time.Time) error
	// SetPushSubscription saves p as the push subscription of device id,
	// replacing any other (one per device). ErrNotFound if the device
	// does not exist or is revoked.
	SetPushSubscription(ctx context.Context, id string, p PushSubscription) error
	// DeletePushSubscription removes the push subscription of device id
	// if its endpoint is endpoint, or whatever it is when endpoint is
	// empty: a push service's "gone" for an old endpoint must not remove
	// the newer subscription that replaced it. Nothing to remove is not
	// an error.
	DeletePushSubscription(ctx context.Context, id, endpoint string) error

	// ServerSecret returns the value stored under name, storing value
	// there first if name has none: of several instances starting at
	// once, all get the first value stored. For keys the server makes
	// once and every instance shares (the VAPID key).
	ServerSecret(ctx context.Context, name string, value []byte) ([]byte, error)

	// Passkeys.
	// SavePasskeyChallenge records hash (SHA-256 of a WebAuthn
	// registration challenge) as device deviceID's outstanding challenge
	// until expiresAt, replacing any earlier one.
	SavePasskeyChallenge(ctx context.Context, deviceID string, hash []byte, expiresAt time.Time) error
	// CreatePasskey consumes the outstanding challenge of device
	// p.DeviceID, which must equal challengeHash and expire after now, and
	// adds p, in one transaction. It returns ErrNotFound if there is no
	// such challenge and ErrConflict if p.ID exists; then nothing changes.
	CreatePasskey(ctx context.Context, p Passkey, challengeHash []byte, now time.Time) error
	Passkeys(ctx context.Context, deviceID string) ([]Passkey, error) // ordered by creation
	// UsePasskey saves passkey id's record (its new signature counter)
	// and LastUsedAt. ErrNotFound if it does not exist.
	UsePasskey(ctx context.Context, id string, record json.RawMessage, at time.Time) error
	// DeletePasskey removes device deviceID's passkey id, or returns
	// ErrNotFound.
	DeletePasskey(ctx context.Context, deviceID, id string) error

	// Signing keys.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	// SigningKeys returns every key, newest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// RotateSigningKey retires the active key of k.Alg (if any) at
	// k.CreatedAt and adds k as the active key of that alg, in one
	// transaction. There is at most one active key per alg.
	RotateSigningKey(ctx context.Context, k SigningKey) error

	// UseOnce records a single-use value (a JWT's jti, say) until
	// expiresAt. It returns ErrConflict if key is already recorded and
	// has not expired.
	UseOnce(ctx context.Context, key string, expiresAt time.Time) error

	// AppendAudit records events outside any other change (for example a
	// device being shown a request). Events that accompany a state change
	// go in its Effects instead, so they commit with it.
	AppendAudit(ctx context.Context, events ...AuditEvent) error
	// AppendAuditIfAbsent records, in one transaction, those of events
	// whose ID is not recorded yet, and keeps the recorded ones as they
	// are: for events recorded once per fact (audit.Once IDs) however
	// often the fact recurs, as one write instead of one per event.
	AppendAuditIfAbsent(ctx context.Context, events ...AuditEvent) error
	// AuditEvents returns the events q selects, oldest first.
	AuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error)

	// Purge deletes, in one bounded batch of at most limit records of each
	// kind, what is no longer needed at before: requests that expired
	// before it (whatever their state), tokens that expired before it,
	// expired UseOnce keys and enrolments, outbound rows that left Queued
	// before it, and audit events older than auditBefore (zero keeps
	// them all). Callers repeat it until the counts are below limit, so no
	// transaction holds locks for long.
	Purge(ctx context.Context, before, auditBefore time.Time, limit int) (PurgeCounts, error)

	// Ping reports whether the database is reachable.
	Ping(ctx context.Context) error
	Close() error
}
