package audit

import (
	"encoding/json"
	"time"

	"github.com/backchannel/backchannel/store"
)

// Kind is the kind of an audit event, stored as store.AuditEvent.Kind.
type Kind string

// The event kinds, in the order a request's life produces them.
const (
	// RequestCreated: a client started a backchannel request. Detail:
	// delivery_mode, scopes, acr_values, binding_message, expires_at and
	// the authorization_details types.
	RequestCreated Kind = "request.created"
	// DeviceNotified: a live stream of one of the user's devices was
	// woken by the request's creation and sent it.
	DeviceNotified Kind = "device.notified"
	// RequestShown: a device was sent the request's summary, by its
	// request list or its stream; recorded once per device. Detail: via.
	RequestShown Kind = "request.shown"
	// RequestApproved and RequestDenied: a device decided. Detail: acr,
	// amr (approvals), reason (a denial the server made).
	RequestApproved Kind = "request.approved"
	RequestDenied   Kind = "request.denied"
	// RequestRedeemed: tokens were issued for the request, at the token
	// endpoint (poll, ping) or by push. Detail: delivery_mode, scopes,
	// tokens (the kinds issued), bound (dpop or mtls, if bound).
	RequestRedeemed Kind = "request.redeemed"
	// RequestExpired: the request expired unanswered. Detail: noticed_by.
	RequestExpired Kind = "request.expired"
	// NotificationQueued: a ping or push notification was put in the
	// outbox (detail: outbound_id, delivery_mode, outcome), or a Web Push
	// message to the event's device (detail: outbound_id, channel
	// "web_push").
	NotificationQueued Kind = "notification.queued"
	// NotificationAttempt: one delivery attempt ended. Detail:
	// outbound_id, attempt, duration_ms, status or error (a class, never
	// the error text), result.
	NotificationAttempt Kind = "notification.attempt"
	// NotificationDelivered and NotificationFailed: the notification
	// left the outbox. Detail: outbound_id, attempts, reason (failures).
	NotificationDelivered Kind = "notification.delivered"
	NotificationFailed    Kind = "notification.failed"
)

// Kinds lists every kind, in life order.
var Kinds = []Kind{
	RequestCreated, DeviceNotified, RequestShown, RequestApproved, RequestDenied,
	RequestRedeemed, RequestExpired, NotificationQueued, NotificationAttempt,
	NotificationDelivered, NotificationFailed,
}

// Ref names what an event is about. Empty fields are unknown or do
// not apply.
type Ref struct {
	RequestID string // the device-facing request reference, never the auth_req_id
	ClientID  string
	Subject   string // the user's sub
	DeviceID  string
}

// Of returns the Ref of request r.
func Of(r store.Request) Ref {
	return Ref{RequestID: r.ID, ClientID: r.ClientID, Subject: r.Subject, DeviceID: r.DeviceID}
}

// Event returns an event of kind at time at about s, with a random ID.
// detail must hold only non-secret facts that encode as JSON; nil or
// empty means none, and a value that does not encode is dropped rather
// than failing the change it records.
func Event(kind Kind, at time.Time, s Ref, detail map[string]any) store.AuditEvent {
	e := store.AuditEvent{
		ID:        "ev-" + store.NewID(at),
		At:        at.UTC(),
		Kind:      string(kind),
		RequestID: s.RequestID,
		ClientID:  s.ClientID,
		Subject:   s.Subject,
		DeviceID:  s.DeviceID,
	}
	if len(detail) > 0 {
		if b, err := json.Marshal(detail); err == nil {
			e.Detail = b
		}
	}
	return e
}

// Once returns e with an ID derived from its kind and key instead of a
// random one, so that appending the same fact twice fails with
// store.ErrConflict and the trail records it once (a request shown to a
// device, a poll request noticed expired). key must not be secret.
func Once(e store.AuditEvent, key string) store.AuditEvent {
	e.ID = e.Kind + ":" + key
	return e
}
