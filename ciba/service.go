package ciba

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/token"
)

// Started is the successful response of the backchannel authentication
// endpoint (CIBA Core §7.3).
type Started struct {
	AuthReqID string `json:"auth_req_id"`
	ExpiresIn int64  `json:"expires_in"`
	Interval  int64  `json:"interval,omitempty"` // poll and ping only
	// MatchingNumber is the number-matching code (Fatigue.NumberMatching),
	// an extension member: the client shows it, and the user picks it on
	// the device among decoys.
	MatchingNumber string `json:"matching_number,omitempty"`
}

// Decision is an authentication device's answer to one request, already
// verified against the device's key by the device package.
type Decision struct {
	RequestID string
	Approve   bool
	// Summary is the digest of the Summary the device showed (Summary.Digest).
	Summary string
	// Signed is the device's compact JWS, kept as evidence.
	Signed string
	ACR    string   // the acr the device achieved; empty means ACRDeviceKey
	AMR    []string // the methods the device used (RFC 8176), e.g. ["hwk"]
	// Reason qualifies a denial: ReasonNotMe reports a request the user
	// did not start. Empty otherwise.
	Reason string
	// Number is the number the user picked under number matching.
	Number string
	// Once are the decision's single-use values (its jti), recorded in
	// the transaction that records the decision: a replayed decision
	// fails there, and no write of its own is needed.
	Once []store.Once
}

// ACRDeviceKey is the acr of an approval signed by an enrolled device's
// key: possession of the user's authentication device.
const ACRDeviceKey = "urn:backchannel:acr:device-key"

// ACRPasskey is the acr of an approval signed by an enrolled device's
// key that the user also verified with a passkey registered on that
// device (WebAuthn with user verification).
const ACRPasskey = "urn:backchannel:acr:passkey"

// NeedsPasskey reports whether a request with acrValues can be approved
// only with a passkey: it asks for ACRPasskey and does not also accept
// ACRDeviceKey. Other values are voluntary (OpenID Connect Core §3.1.2.1)
// and do not change what an approval needs.
func NeedsPasskey(acrValues []string) bool {
	return slices.Contains(acrValues, ACRPasskey) && !slices.Contains(acrValues, ACRDeviceKey)
}

// PasskeyRequired is the error code of an approval without a passkey of
// a request that needs one (NeedsPasskey). The request stays pending, so
// the device can approve again with a passkey.
const PasskeyRequired oauth.Code = "passkey_required"

// KeySource resolves a client's public keys (keys.ClientKeys).
type KeySource interface {
	Keys(ctx context.Context, c store.Client) (*jose.JSONWebKeySet, error)
	Refresh(ctx context.Context, c store.Client) (*jose.JSONWebKeySet, error)
}

// TrustedIssuer is an issuer whose login_hint_tokens the server accepts
// for any client.
type TrustedIssuer struct {
	Issuer string
	Keys   *jose.JSONWebKeySet
}

// Limits are the protocol's tunable bounds. Zero fields take the defaults
// named in their comments.
type Limits struct {
	DefaultExpiry        time.Duration // expires_in without requested_expiry; 5 minutes
	MaxExpiry            time.Duration // cap on requested_expiry; 30 minutes
	Interval             time.Duration // initial polling interval; 5 s (CIBA Core §7.3)
	SlowDownStep         time.Duration // interval increase on slow_down; 5 s (RFC 8628 §3.5)
	MaxBindingMessage    int           // in characters; 64
	MaxNotificationToken int           // in bytes; 1024
	MaxUserCodeFailures  int           // wrong user codes before the code locks; 5
	Skew                 time.Duration // clock skew allowed on JWT times; 60 s
	// NotificationWindow is how long a ping or push notification is
	// retried; 10 minutes, and never less than the request's lifetime.
	NotificationWindow time.Duration
}

func (l Limits) withDefaults() Limits {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.DefaultExpiry, 5*time.Minute)
	def(&l.MaxExpiry, 30*time.Minute)
	def(&l.Interval, 5*time.Second)
	def(&l.SlowDownStep, 5*time.Second)
	def(&l.Skew, time.Minute)
	def(&l.NotificationWindow, 10*time.Minute)
	if l.MaxBindingMessage <= 0 {
		l.MaxBindingMessage = 64
	}
	if l.MaxNotificationToken <= 0 {
		l.MaxNotificationToken = 1024
	}
	if l.MaxUserCodeFailures <= 0 {
		l.MaxUserCodeFailures = 5
	}
	if l.DefaultExpiry > l.MaxExpiry {
		l.DefaultExpiry = l.MaxExpiry
	}
	return l
}

// Service runs the CIBA protocol. Its exported fields are its
// dependencies and settings; Store, Tokens, Keys, ClientKeys and Issuer
// are required.
type Service struct {
	Store      store.Store
	Tokens     *token.Issuer
	Keys       *keys.Set // verifies id_token_hints: ID tokens this server issued
	ClientKeys KeySource // verifies request objects and clients' login_hint_tokens
	Issuer     string
	// LoginHintTokenIssuers are the other issuers whose login_hint_tokens
	// are accepted.
	LoginHintTokenIssuers []TrustedIssuer
	Limits                Limits
	Now                   func() time.Time // defaults to time.Now
	// Changed is called after a request of subject is created or
	// decided, to wake that user's device streams. Optional.
	Changed func(subject string)
	// Queued is called after a notification was queued in the outbox, to
	// wake the delivery worker at once. Optional.
	Queued func()
	// Handoff, if set, is given the notifications a decision queued as
	// soon as the decision commits, to deliver them at once
	// (notify.Worker.Handoff); they are stored already claimed by this
	// process for HandoffLease, so no worker claims them meanwhile, and
	// if the process dies they become due when the lease lapses. It saves
	// a claim's write and its wait between an approval and its ping.
	Handoff      func([]store.Outbound)
	HandoffLease time.Duration
	// Observer is told of requests started, decided and expired, for
	// metrics. Optional.
	Observer Observer
	// AuthorizationDetailTypes are the authorization_details types (RFC
	// 9396) the server accepts; none means authorization_details is
	// refused.
	AuthorizationDetailTypes []string
	// RequireFAPI applies the FAPI-CIBA profile to every client, not only
	// to those registered with Profile "fapi-ciba".
	RequireFAPI bool
	// Fatigue caps and rate-limits requests against approval fatigue.
	Fatigue Fatigue
	// HideUnknownUsers answers a hint that names no user, or a user who
	// has no authentication device, as it answers any other: with an
	// auth_req_id, which stays authorization_pending until it expires.
	// The response then no longer tells a client whether the user exists
	// (CIBA Core §13 would answer unknown_user_id or access_denied).
	HideUnknownUsers bool
	// WebhookURL, when set, receives every new and decided request as a
	// signed notification (docs/webhook.md); users then need no enrolled
	// device, as the deployment's own app is their device.
	WebhookURL string
	// WebPush queues, with each new request, a Web Push message (package
	// webpush) for each of the user's active devices with a push
	// subscription.
	WebPush bool

	// PollScheduleInMemory keeps the poll schedule of pending requests
	// (when the next poll is due) in this process's memory, so that a
	// poll on time writes nothing; only an early poll saves its grown
	// interval. Set it only when this Service alone uses the Store, as
	// with embedded SQLite: with a store that other instances share, each
	// sees only its own polls. Off, every authorization_pending poll
	// saves its NextPollAt, and slow_down holds across every instance.
	PollScheduleInMemory bool
	// LongPoll, when positive, holds a poll-mode token request that is
	// on time and finds the request pending open until the request is
	// decided, expires, or LongPoll has passed, whichever comes first,
	// and only then answers (CIBA Core §10.1 lets the OP hold a poll
	// this way). The client's interval still counts from its previous
	// poll: an early poll gets slow_down at once, never held. Zero, the
	// default, answers authorization_pending at once. It needs Subscribe.
	LongPoll time.Duration
	// Subscribe returns a channel that receives a value after any
	// request of subject changed (on this instance or, through the
	// wake-up bus, another), and a function that ends the subscription:
	// held polls wait on it. device.Hub.Subscribe fits.
	Subscribe func(subject string) (<-chan struct{}, func())

	clientLimits, hintLimits, pollLimits limiters
	polls                                pollSchedule
}

// claimForHandoff marks rows as claimed by this process (one attempt,
// leased for HandoffLease from now) when a Handoff takes them after the
// commit, and returns them; without a Handoff it returns nil and the rows
// stay due at once for the delivery worker's claim.
func (s *Service) claimForHandoff(rows []store.Outbound, now time.Time) []store.Outbound {
	if s.Handoff == nil || s.HandoffLease <= 0 || len(rows) == 0 {
		return nil
	}
	for i := range rows {
		rows[i].Attempts = 1
		rows[i].NextAttemptAt = now.Add(s.HandoffLease)
	}
	return slices.Clone(rows)
}

func (s *Service) queued() {
	if s.Queued != nil {
		s.Queued()
	}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) changed(subject string) {
	if s.Changed != nil {
		s.Changed(subject)
	}
}

// Start validates a backchannel authentication request of client c and
// stores it (CIBA Core §7). form is the request body; client
// authentication parameters in it are ignored.
func (s *Service) Start(ctx context.Context, c store.Client, form oauth.Form) (Started, error) {
	if !slices.Contains(c.GrantTypes, oauth.GrantCIBA) {
		return Started{}, oauth.Errorf(oauth.UnauthorizedClient, "the client is not registered for the CIBA grant")
	}
	if err := s.checkFAPIClient(c); err != nil {
		return Started{}, err
	}
	now := s.now()
	p, err := s.parseParams(ctx, c, form, now)
	if err != nil {
		return Started{}, err
	}
	// The client's rate limit counts every request, so that probing for
	// unknown users costs as much as asking known ones.
	if err := s.checkClientRate(c, now); err != nil {
		return Started{}, err
	}
	user, err := s.resolveUser(ctx, c, p, now)
	if err != nil {
		if oe, ok := errors.AsType[*oauth.Error](err); !ok || oe.Code != oauth.UnknownUserID || !s.HideUnknownUsers {
			return Started{}, err
		}
		return s.startDecoy(ctx, c, p, true, now)
	}
	if c.UserCodeParameter {
		if err := s.checkUserCode(ctx, user, p.userCode); err != nil {
			return Started{}, err
		}
	}
	devices, err := s.Store.Devices(ctx, user.Subject)
	if err != nil {
		return Started{}, fmt.Errorf("load devices of user: %w", err)
	}
	if s.WebhookURL == "" && !slices.ContainsFunc(devices, func(d store.Device) bool { return d.RevokedAt.IsZero() }) {
		if s.HideUnknownUsers {
			return s.startDecoy(ctx, c, p, false, now)
		}
		// Nobody could approve: refuse now rather than leave the client
		// polling until expiry (CIBA Core §13, access_denied).
		return Started{}, oauth.Errorf(oauth.AccessDenied, "the user has no authentication device").WithStatus(http.StatusForbidden)
	}
	if err := s.checkFatigue(ctx, c, user.Subject, now); err != nil {
		return Started{}, err
	}

	r, started, err := s.createRequest(ctx, c, p, user, devices, now)
	if err != nil {
		return Started{}, err
	}
	s.changed(user.Subject)
	s.observeStarted(r.DeliveryMode)
	return started, nil
}

// createRequest stores a new pending request of client c for user (the
// zero User for a decoy) with the validated parameters p, together with
// its audit event and, with a webhook channel, the notification of the
// bank's app, and the Web Push messages to the user's devices: one
// transaction, so a crash cannot leave a request nobody hears of. It
// returns the request and the response the client gets.
func (s *Service) createRequest(ctx context.Context, c store.Client, p params, user store.User, devices []store.Device, now time.Time) (store.Request, Started, error) {
	lim := s.Limits.withDefaults()
	expiry := lim.DefaultExpiry
	if p.requestedExpiry > 0 {
		expiry = min(p.requestedExpiry, lim.MaxExpiry)
	}
	authReqID, err := randomString(32)
	if err != nil {
		return store.Request{}, Started{}, err
	}
	id := store.NewID(now)
	mode := c.DeliveryMode
	if mode == "" {
		mode = store.Poll
	}
	r := store.Request{
		ID:                   id,
		AuthReqHash:          hashString(authReqID),
		ClientID:             c.ID,
		Subject:              user.Subject,
		State:                store.Pending,
		Scopes:               p.scopes,
		ACRValues:            p.acrValues,
		Binding:              p.bindingMessage,
		AuthorizationDetails: p.authorizationDetails,
		DeliveryMode:         mode,
		CreatedAt:            now,
		ExpiresAt:            now.Add(expiry),
		Interval:             lim.Interval,
		NextPollAt:           now.Add(lim.Interval),
	}
	if r.ACRValues == nil {
		// default_acr_values stand in for acr_values the request left out.
		r.ACRValues = slices.Clone(c.DefaultACRValues)
	}
	if p.notificationToken != "" {
		r.NotificationToken = p.notificationToken
		r.AuthReqID = authReqID
	}
	fx := store.Effects{Audit: []store.AuditEvent{createdEvent(r)}}
	if user.Subject != "" {
		if fx.Outbound, err = s.webhookOutbound(WebhookRequestCreated, r, c, user, now); err != nil {
			return store.Request{}, Started{}, err
		}
		pushes, queued, err := s.webPushOutbound(r, c, devices, now)
		if err != nil {
			return store.Request{}, Started{}, err
		}
		fx.Outbound = append(fx.Outbound, pushes...)
		fx.Audit = append(fx.Audit, queued...)
	}
	if err := s.Store.CreateRequest(ctx, r, fx); err != nil {
		return store.Request{}, Started{}, fmt.Errorf("create request: %w", err)
	}
	if len(fx.Outbound) > 0 {
		s.queued()
	}
	started := Started{AuthReqID: authReqID, ExpiresIn: int64(expiry / time.Second)}
	if s.Fatigue.NumberMatching {
		started.MatchingNumber, _ = numberChoices(r.AuthReqHash)
	}
	if mode != store.Push {
		started.Interval = int64(lim.Interval / time.Second)
	}
	return r, started, nil
}

// Redeem answers one token request of client c for auth_req_id with the
// CIBA grant (CIBA Core §10.1, §11): tokens once the request is approved,
// and authorization_pending, slow_down, access_denied, expired_token or
// invalid_grant otherwise. Each request is redeemed at most once.
//
// bind is the binding of the token request (its DPoP key and client
// certificate), which the access token gets (RFC 9449 §5, RFC 8705 §3).
func (s *Service) Redeem(ctx context.Context, c store.Client, authReqID string, bind token.Binding) (token.Response, error) {
	lim := s.Limits.withDefaults()
	if !slices.Contains(c.GrantTypes, oauth.GrantCIBA) {
		return token.Response{}, oauth.Errorf(oauth.UnauthorizedClient, "the client is not registered for the CIBA grant")
	}
	if c.DeliveryMode == store.Push {
		// CIBA Core §10.3: push-mode tokens are delivered, never polled.
		return token.Response{}, oauth.Errorf(oauth.UnauthorizedClient, "push-mode clients receive tokens at their notification endpoint")
	}
	if authReqID == "" {
		return token.Response{}, oauth.Errorf(oauth.InvalidRequest, "auth_req_id is required")
	}
	h := hashString(authReqID)
	if err := s.checkPollRate(c, h, s.now()); err != nil {
		return token.Response{}, err
	}
	r, err := s.Store.RequestByAuthReqHash(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return token.Response{}, oauth.Errorf(oauth.InvalidGrant, "auth_req_id is unknown")
	}
	if err != nil {
		return token.Response{}, fmt.Errorf("load request: %w", err)
	}
	if r.ClientID != c.ID {
		// The same answer as an unknown ID: another client's auth_req_id
		// must not be confirmed to exist.
		return token.Response{}, oauth.Errorf(oauth.InvalidGrant, "auth_req_id is unknown")
	}
	resp, err := s.answer(ctx, c, r, bind, lim)
	if s.LongPoll > 0 && s.Subscribe != nil && isCode(err, oauth.AuthorizationPending) {
		return s.hold(ctx, c, h, r.Subject, bind, lim, err)
	}
	return resp, err
}

// isCode reports whether err is an *oauth.Error with code.
func isCode(err error, code oauth.Code) bool {
	oe, ok := errors.AsType[*oauth.Error](err)
	return ok && oe.Code == code
}

// hold holds an on-time poll that was answered pending (the answer
// pending) until the request whose auth_req_id hashes to h, of subject,
// leaves Pending or expires, and then answers as a poll would; or until
// s.LongPoll has passed, and then answers pending. The poll was counted
// when it arrived: what follows is not another poll, so it never draws
// slow_down. If ctx ends (the client went away), it returns at once, and
// the subscription and timer go with it.
func (s *Service) hold(ctx context.Context, c store.Client, h []byte, subject string, bind token.Binding, lim Limits, pending error) (token.Response, error) {
	wake, cancel := s.Subscribe(subject)
	defer cancel()
	bound := time.NewTimer(s.LongPoll)
	defer bound.Stop()
	for {
		// Read after subscribing, so that a decision between the first
		// answer and the subscription is not missed.
		r, err := s.Store.RequestByAuthReqHash(ctx, h)
		if err != nil {
			if ctx.Err() != nil {
				return token.Response{}, pending // nobody is listening any more
			}
			return token.Response{}, fmt.Errorf("load request: %w", err)
		}
		if r.State != store.Pending || Expired(r, s.now()) {
			return s.answer(ctx, c, r, bind, lim)
		}
		// Wake at the expiry too, to answer expired_token then.
		expiry := time.NewTimer(max(r.ExpiresAt.Sub(s.now()), 0) + time.Millisecond)
		select {
		case <-wake:
		case <-expiry.C:
		case <-bound.C:
			expiry.Stop()
			return token.Response{}, pending
		case <-ctx.Done():
			expiry.Stop()
			return token.Response{}, pending // nobody is listening any more
		}
		expiry.Stop()
	}
}

// answer answers a poll of client c for request r, as just loaded.
func (s *Service) answer(ctx context.Context, c store.Client, r store.Request, bind token.Binding, lim Limits) (token.Response, error) {
	var err error
	if s.PollScheduleInMemory && r.State == store.Pending && !Expired(r, s.now()) {
		return token.Response{}, s.pollInMemory(ctx, r, lim)
	}
	var user store.User
	if r.State == store.Approved {
		if user, err = s.Store.User(ctx, r.Subject); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return token.Response{}, oauth.Errorf(oauth.InvalidGrant, "the user no longer exists")
			}
			return token.Response{}, fmt.Errorf("load user: %w", err)
		}
	}
	now := s.now()
	var (
		resp        token.Response
		outcome     error
		pollExpired bool
	)
	issue := func(r store.Request) (token.Response, store.Effects, error) {
		g := grantOf(s.fapiIDTokenClient(c), r, user)
		g.Binding = bind
		return s.Tokens.Issue(g)
	}
	// Sign the tokens of an approved request before the write, not in
	// it: the store runs its writes one at a time, and the signatures
	// would hold up every other. An approved request changes only to
	// redeemed, so the tokens match it if it is still approved then;
	// if a concurrent poll redeemed it first, they are thrown away.
	var signed *token.Response
	var signedFx store.Effects
	if r.State == store.Approved && !Expired(r, now) {
		resp2, fx, err := issue(r)
		if err != nil {
			return token.Response{}, fmt.Errorf("issue tokens: %w", err)
		}
		signed, signedFx = &resp2, fx
	}
	_, err = s.Store.UpdateRequest(ctx, r.ID, func(r *store.Request) (store.Effects, error) {
		outcome, pollExpired = nil, false
		switch {
		case r.State == store.Redeemed:
			return store.Effects{}, oauth.Errorf(oauth.InvalidGrant, "auth_req_id was already redeemed")
		case r.State == store.Denied:
			return store.Effects{}, oauth.Errorf(oauth.AccessDenied, "the user denied the request")
		case r.State == store.Expired, Expired(*r, now):
			pollExpired = r.DeliveryMode == store.Poll
			return store.Effects{}, oauth.Errorf(oauth.ExpiredToken, "the request expired before it was approved")
		case r.State == store.Pending:
			// CIBA Core §7.3, RFC 8628 §3.5: a client polling before the
			// interval has passed gets slow_down, and the interval grows
			// for all later polls.
			if now.Before(r.NextPollAt) {
				r.Interval += lim.SlowDownStep
				outcome = oauth.Errorf(oauth.SlowDown, "poll no more often than every %d seconds", int64(r.Interval/time.Second))
			} else {
				outcome = oauth.Errorf(oauth.AuthorizationPending, "the user has not answered yet")
			}
			r.NextPollAt = now.Add(r.Interval)
			return store.Effects{}, nil
		case r.State == store.Approved:
			resp2, effects := token.Response{}, store.Effects{}
			if signed != nil {
				resp2, effects = *signed, signedFx
			} else {
				// Approved after it was loaded, a rare race: load its
				// user (a read, which decide may do) and sign now.
				var err error
				if user, err = s.Store.User(ctx, r.Subject); err != nil {
					if errors.Is(err, store.ErrNotFound) {
						return store.Effects{}, oauth.Errorf(oauth.InvalidGrant, "the user no longer exists")
					}
					return store.Effects{}, fmt.Errorf("load user: %w", err)
				}
				if resp2, effects, err = issue(*r); err != nil {
					return store.Effects{}, fmt.Errorf("issue tokens: %w", err)
				}
			}
			resp = resp2
			r.State = store.Redeemed
			effects.Audit = append(effects.Audit, redeemedEvent(*r, effects, now))
			return effects, nil
		}
		return store.Effects{}, fmt.Errorf("request in unknown state %q", r.State)
	})
	if pollExpired {
		s.auditPollExpired(ctx, r, now)
	}
	if s.PollScheduleInMemory {
		s.polls.forget(r.ID) // no longer pending, or just decided
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return token.Response{}, oauth.Errorf(oauth.InvalidGrant, "auth_req_id is unknown")
		}
		return token.Response{}, err
	}
	if outcome != nil {
		return token.Response{}, outcome
	}
	return resp, nil
}

// grantOf is the grant of approved request r of client c to user.
func grantOf(c store.Client, r store.Request, user store.User) token.Grant {
	return token.Grant{
		Client:               c,
		Subject:              r.Subject,
		Scopes:               r.Scopes,
		RequestID:            r.ID,
		AuthTime:             r.DecidedAt,
		ACR:                  r.ACR,
		AMR:                  r.AMR,
		Claims:               token.ReleasedClaims(user, r.Scopes),
		AuthorizationDetails: r.AuthorizationDetails,
	}
}

// errNotPending stops the save of a poll's interval when the request was
// decided meanwhile.
var errNotPending = errors.New("the request is no longer pending")

// pollInMemory answers a poll of pending request r by the schedule in
// memory (PollScheduleInMemory): authorization_pending, writing nothing,
// when the poll is on time; slow_down when it is early (CIBA Core §7.3,
// RFC 8628 §3.5), with the grown interval saved so that it outlives the
// process.
func (s *Service) pollInMemory(ctx context.Context, r store.Request, lim Limits) error {
	now := s.now()
	early, interval := s.polls.poll(r, now, lim.SlowDownStep)
	if !early {
		return oauth.Errorf(oauth.AuthorizationPending, "the user has not answered yet")
	}
	_, err := s.Store.UpdateRequest(ctx, r.ID, func(r *store.Request) (store.Effects, error) {
		if r.State != store.Pending {
			// Decided meanwhile: the poll came first, and its answer
			// stands; the next one finds the decision.
			return store.Effects{}, errNotPending
		}
		r.Interval = max(r.Interval, interval)
		if next := now.Add(r.Interval); next.After(r.NextPollAt) {
			r.NextPollAt = next
		}
		return store.Effects{}, nil
	})
	if err != nil && !errors.Is(err, errNotPending) && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("save poll interval: %w", err)
	}
	return oauth.Errorf(oauth.SlowDown, "poll no more often than every %d seconds", int64(interval/time.Second))
}

// Pending returns the summaries of subject's pending requests, oldest
// first, as the authentication device shows them.
func (s *Service) Pending(ctx context.Context, subject string) ([]Summary, error) {
	reqs, err := s.Store.PendingRequests(ctx, subject, s.now())
	if err != nil {
		return nil, fmt.Errorf("list pending requests: %w", err)
	}
	clients := map[string]store.Client{}
	out := make([]Summary, 0, len(reqs))
	for _, r := range reqs {
		c, ok := clients[r.ClientID]
		if !ok {
			c, err = s.Store.Client(ctx, r.ClientID)
			if errors.Is(err, store.ErrNotFound) {
				continue // the client was deleted; its requests are void
			}
			if err != nil {
				return nil, fmt.Errorf("load client: %w", err)
			}
			clients[r.ClientID] = c
		}
		out = append(out, s.summary(r, c))
	}
	return out, nil
}

// Decide records device dev's decision d. It refuses a decision on a
// request that has expired, was already decided, belongs to another user,
// or whose summary differs from what the device signed.
func (s *Service) Decide(ctx context.Context, dev store.Device, d Decision) error {
	notFound := oauth.Errorf(oauth.NotFound, "no such request")
	r, err := s.Store.Request(ctx, d.RequestID)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("load request: %w", err)
	}
	if r.Subject != dev.Subject {
		return notFound // another user's request is not confirmed to exist
	}
	c, err := s.Store.Client(ctx, r.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("load client: %w", err)
	}
	var user store.User
	if c.DeliveryMode == store.Push && d.Approve {
		// Push mode delivers the tokens, and the ID token carries the
		// user's claims (CIBA Core §10.3.1).
		user, err = s.Store.User(ctx, r.Subject)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("load user: %w", err)
		}
	}
	// Number matching: an approval with the wrong number is a denial,
	// recorded as such, and the device is told.
	wrongNumber := false
	if code, _ := numberChoices(r.AuthReqHash); s.Fatigue.NumberMatching && d.Approve && d.Number != code {
		d.Approve, d.Reason, wrongNumber = false, ReasonWrongNumber, true
	}
	now := s.now()
	var handed []store.Outbound // the notifications to deliver at once
	_, err = s.Store.UpdateRequest(ctx, r.ID, func(r *store.Request) (store.Effects, error) {
		switch {
		case r.State != store.Pending:
			return store.Effects{}, oauth.Errorf(oauth.InvalidRequest, "the request was already decided").WithStatus(http.StatusConflict)
		case Expired(*r, now):
			return store.Effects{}, oauth.Errorf(oauth.InvalidRequest, "the request has expired").WithStatus(http.StatusGone)
		case s.summary(*r, c).Digest() != d.Summary:
			return store.Effects{}, oauth.Errorf(oauth.InvalidRequest, "the decision does not cover the request as the server holds it")
		case d.Approve && NeedsPasskey(r.ACRValues) && d.ACR != ACRPasskey:
			return store.Effects{}, oauth.Errorf(PasskeyRequired, "this request must be approved with a passkey (acr %s)", ACRPasskey).WithStatus(http.StatusForbidden)
		}
		r.State = store.Denied
		if d.Approve {
			r.State = store.Approved
			r.ACR = d.ACR
			if r.ACR == "" {
				r.ACR = ACRDeviceKey
			}
			r.AMR = d.AMR
		}
		r.DecidedAt = now
		r.DeviceID = dev.ID
		r.Decision = d.Signed
		decided := decisionEvent(*r, d, now)
		fx, err := s.notification(r, c, user, now)
		fx.Audit = append([]store.AuditEvent{decided}, fx.Audit...)
		if err != nil {
			return fx, err
		}
		wh, err := s.webhookOutbound(WebhookRequestDecided, *r, c, user, now)
		fx.Outbound = append(fx.Outbound, wh...)
		fx.Once = d.Once
		handed = s.claimForHandoff(fx.Outbound, now)
		return fx, err
	})
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if errors.Is(err, store.ErrConflict) && len(d.Once) > 0 {
		return oauth.Errorf(oauth.InvalidRequest, "the decision is not valid").WithCause(fmt.Errorf("replayed decision: %w", err))
	}
	if err != nil {
		return err
	}
	s.changed(r.Subject)
	s.observeDecided(r, d.Approve, now)
	if !d.Approve && d.Reason == ReasonNotMe {
		s.observeNotMe(c.ID)
	}
	if len(handed) > 0 {
		s.Handoff(handed)
	} else if c.DeliveryMode == store.Ping || c.DeliveryMode == store.Push || s.WebhookURL != "" {
		s.queued()
	}
	if wrongNumber {
		return oauth.Errorf(oauth.InvalidRequest, "the number picked is not the one the client showed; the request was denied")
	}
	return nil
}

// summary returns the Summary of request r of client c as the device
// shows it, with the number-matching choices when they are on.
func (s *Service) summary(r store.Request, c store.Client) Summary {
	sum := NewSummary(r, c)
	if s.Fatigue.NumberMatching {
		_, sum.NumberChoices = numberChoices(r.AuthReqHash)
	}
	return sum
}

// randomString returns n random bytes, base64url encoded.
func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hashString(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func base64RawURL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
