package ciba

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/backchannel/backchannel/audit"
	"github.com/backchannel/backchannel/store"
)

// The audit events of the request's life (package audit). Each helper
// records facts an auditor may read and nothing secret: no auth_req_id,
// token or client_notification_token.

// createdEvent records the new request r.
func createdEvent(r store.Request) store.AuditEvent {
	d := map[string]any{
		"delivery_mode": r.DeliveryMode,
		"scopes":        nonNil(r.Scopes),
		"expires_at":    r.ExpiresAt,
	}
	if len(r.ACRValues) > 0 {
		d["acr_values"] = r.ACRValues
	}
	// The binding_message is what the user is shown, not a secret, and
	// tells an auditor which transaction the request was for.
	if r.Binding != "" {
		d["binding_message"] = r.Binding
	}
	if types := detailTypes(r.AuthorizationDetails); len(types) > 0 {
		d["authorization_details_types"] = types
	}
	return audit.Event(audit.RequestCreated, r.CreatedAt, audit.Of(r), d)
}

// decisionEvent records device decision d on r (r.DeviceID, and for an
// approval r.ACR and r.AMR, already set).
func decisionEvent(r store.Request, d Decision, now time.Time) store.AuditEvent {
	if d.Approve {
		return audit.Event(audit.RequestApproved, now, audit.Of(r), map[string]any{"acr": r.ACR, "amr": nonNil(r.AMR)})
	}
	detail := map[string]any{}
	if d.Reason != "" {
		detail["reason"] = d.Reason
	}
	if d.ACR != "" {
		detail["acr"] = d.ACR
	}
	if len(d.AMR) > 0 {
		detail["amr"] = d.AMR
	}
	return audit.Event(audit.RequestDenied, now, audit.Of(r), detail)
}

// redeemedEvent records the tokens of fx issued for r.
func redeemedEvent(r store.Request, fx store.Effects, now time.Time) store.AuditEvent {
	var kinds, bound []string
	for _, t := range fx.Tokens {
		kinds = append(kinds, string(t.Kind))
		if t.JKT != "" && !slices.Contains(bound, "dpop") {
			bound = append(bound, "dpop")
		}
		if t.X5TS256 != "" && !slices.Contains(bound, "mtls") {
			bound = append(bound, "mtls")
		}
	}
	d := map[string]any{"delivery_mode": r.DeliveryMode, "scopes": nonNil(r.Scopes), "tokens": nonNil(kinds)}
	if len(bound) > 0 {
		d["bound"] = bound
	}
	return audit.Event(audit.RequestRedeemed, now, audit.Of(r), d)
}

// queuedEvent records the notification o queued for r, which reports
// r's outcome: approved (a ping, or pushed tokens), denied or expired.
func queuedEvent(r store.Request, o store.Outbound, now time.Time) store.AuditEvent {
	outcome := string(r.State)
	if r.State == store.Redeemed {
		outcome = string(store.Approved)
	}
	return audit.Event(audit.NotificationQueued, now, audit.Of(r), map[string]any{
		"outbound_id": o.ID, "delivery_mode": r.DeliveryMode, "outcome": outcome,
	})
}

// expiredEvent records that r expired unanswered, noticed by the expiry
// loop ("expiry") or by a poll ("poll").
func expiredEvent(r store.Request, noticedBy string, now time.Time) store.AuditEvent {
	return audit.Event(audit.RequestExpired, now, audit.Of(r), map[string]any{"noticed_by": noticedBy})
}

// auditPollExpired records the expiry of poll request r when a poll
// finds it expired. Poll requests are not handled by ExpireDue, and the
// poll saves nothing, so the event is appended on its own, once: its ID
// is derived from the request. It is best effort: the client's answer
// (expired_token) matters more than a repeated or failed record.
func (s *Service) auditPollExpired(ctx context.Context, r store.Request, now time.Time) {
	// store.ErrConflict: already recorded. Any other failure leaves the
	// expiry unrecorded, which request.created's expires_at still shows.
	_ = s.Store.AppendAudit(ctx, audit.Once(expiredEvent(r, "poll", now), r.ID))
}

// detailTypes returns the types of authorization_details, in order.
func detailTypes(details []byte) []string {
	var list []struct {
		Type string `json:"type"`
	}
	if len(details) == 0 || json.Unmarshal(details, &list) != nil {
		return nil
	}
	types := make([]string, 0, len(list))
	for _, d := range list {
		if !slices.Contains(types, d.Type) {
			types = append(types, d.Type)
		}
	}
	return types
}

// How a device was shown a request (Shown).
const (
	ShownList   = "list"   // the device listed its pending requests
	ShownStream = "stream" // a stream sent it when the device connected
	ShownLive   = "live"   // a live stream, woken by the request's creation, sent it
)

// Shown records that device dev was sent the summary of request sum, by
// way of via (ShownList, ShownStream or ShownLive), as request.shown and,
// for ShownLive, device.notified. Each is recorded once per device and
// request, however often the device is sent the summary again; both go
// in one write (Store.AppendAuditIfAbsent).
func (s *Service) Shown(ctx context.Context, dev store.Device, sum Summary, via string) error {
	ref := audit.Ref{RequestID: sum.RequestID, ClientID: sum.ClientID, Subject: dev.Subject, DeviceID: dev.ID}
	now := s.now()
	once := sum.RequestID + ":" + dev.ID
	events := []store.AuditEvent{audit.Once(audit.Event(audit.RequestShown, now, ref, map[string]any{"via": via}), once)}
	if via == ShownLive {
		events = append([]store.AuditEvent{audit.Once(audit.Event(audit.DeviceNotified, now, ref, map[string]any{"channel": "stream"}), once)}, events...)
	}
	if err := s.Store.AppendAuditIfAbsent(ctx, events...); err != nil {
		return fmt.Errorf("audit shown request: %w", err)
	}
	return nil
}
