package ciba

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/webhook"
)

// The webhook channel (docs/webhook.md) hands requests to a deployment's
// own authentication system (its mobile app's backend) instead of, or as
// well as, enrolled devices. Each notification is an outbox row
// (store.Outbound) whose ID starts with WebhookOutboundPrefix; the
// delivery worker signs those rows rather than sending a Bearer token.

// WebhookOutboundPrefix starts the ID of every webhook outbox row.
const WebhookOutboundPrefix = "webhook-"

// WebhookDeviceID is the DeviceID recorded on a request the webhook
// channel's callback decided.
const WebhookDeviceID = "webhook"

// ACRWebhook is the acr of an approval reported by the webhook channel
// without an acr of its own: the deployment's own authentication.
const ACRWebhook = "urn:backchannel:acr:webhook"

// The events a webhook notification reports.
const (
	WebhookRequestCreated = "request.created"
	WebhookRequestDecided = "request.decided"
)

// WebhookNotification is the JSON body of a webhook notification. It
// never holds the auth_req_id: RequestID is the device-facing reference.
type WebhookNotification struct {
	Event     string        `json:"event"` // WebhookRequestCreated or WebhookRequestDecided
	RequestID string        `json:"request_id"`
	User      WebhookUser   `json:"user"`
	Client    WebhookClient `json:"client"`
	// The request as the user must be shown it (Summary).
	BindingMessage       string          `json:"binding_message"`
	Scopes               []string        `json:"scopes"`
	ACRValues            []string        `json:"acr_values"`
	AuthorizationDetails json.RawMessage `json:"authorization_details"`
	ExpiresAt            int64           `json:"expires_at"` // Unix seconds
	// NumberChoices are the numbers offered for number matching, if on.
	NumberChoices []string `json:"number_choices,omitempty"`
	// Summary is the Summary.Digest a decision must carry.
	Summary string `json:"summary"`
	// State is the outcome of a decided request: approved or denied.
	State string `json:"state,omitempty"`
}

// WebhookUser names the user a request is for.
type WebhookUser struct {
	Subject           string `json:"sub"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
	PhoneNumber       string `json:"phone_number,omitempty"`
}

// WebhookClient is the relying party that asked.
type WebhookClient struct {
	ID      string `json:"client_id"`
	Name    string `json:"client_name"`
	LogoURI string `json:"logo_uri,omitempty"`
}

// webhookOutbound returns the outbox row of a webhook notification of
// event for request r of client c and user u, or nothing without a
// webhook.
func (s *Service) webhookOutbound(event string, r store.Request, c store.Client, u store.User, now time.Time) ([]store.Outbound, error) {
	if s.WebhookURL == "" {
		return nil, nil
	}
	sum := s.summary(r, c)
	n := WebhookNotification{
		Event:     event,
		RequestID: r.ID,
		User: WebhookUser{Subject: r.Subject, PreferredUsername: u.PreferredUsername,
			Email: u.Email, PhoneNumber: u.PhoneNumber},
		Client:               WebhookClient{ID: c.ID, Name: sum.ClientName, LogoURI: c.LogoURI},
		BindingMessage:       sum.BindingMessage,
		Scopes:               sum.Scopes,
		ACRValues:            sum.ACRValues,
		AuthorizationDetails: sum.AuthorizationDetails,
		ExpiresAt:            sum.ExpiresAt,
		NumberChoices:        sum.NumberChoices,
		Summary:              sum.Digest(),
	}
	if event == WebhookRequestDecided {
		n.State = string(r.State)
		if r.State == store.Redeemed {
			n.State = string(store.Approved)
		}
	}
	payload, err := json.Marshal(n)
	if err != nil {
		return nil, err
	}
	id := store.NewID(now)
	lim := s.Limits.withDefaults()
	until := now.Add(lim.NotificationWindow)
	if r.ExpiresAt.After(until) {
		until = r.ExpiresAt
	}
	return []store.Outbound{{
		ID:            WebhookOutboundPrefix + id,
		RequestID:     r.ID,
		ClientID:      c.ID,
		Endpoint:      s.WebhookURL,
		Payload:       payload,
		State:         store.Queued,
		NextAttemptAt: now,
		ExpiresAt:     until,
		CreatedAt:     now,
	}}, nil
}

// DecideExternal records decision d that the webhook channel's callback
// reported (already authenticated by its signature or certificate), as
// the pseudo-device WebhookDeviceID of the request's user. Its refusals
// are those of Decide.
func (s *Service) DecideExternal(ctx context.Context, d Decision) error {
	if s.WebhookURL == "" {
		return oauth.Errorf(oauth.NotFound, "no such request")
	}
	r, err := s.Store.Request(ctx, d.RequestID)
	if errors.Is(err, store.ErrNotFound) {
		return oauth.Errorf(oauth.NotFound, "no such request")
	}
	if err != nil {
		return fmt.Errorf("load request: %w", err)
	}
	if d.Approve && d.ACR == "" {
		d.ACR = ACRWebhook
	}
	return s.Decide(ctx, store.Device{ID: WebhookDeviceID, Subject: r.Subject}, d)
}

// WebhookSigner returns the notify.Worker Authorize function of the
// webhook channel: it signs webhook rows with secret at the time now
// gives (webhook.Sign) and declines every other row.
func WebhookSigner(secret []byte, now func() time.Time) func(store.Outbound, *http.Request) bool {
	if now == nil {
		now = time.Now
	}
	return func(row store.Outbound, req *http.Request) bool {
		if !strings.HasPrefix(row.ID, WebhookOutboundPrefix) {
			return false
		}
		req.Header.Set(webhook.Header, webhook.Sign(secret, now(), row.Payload))
		return true
	}
}
