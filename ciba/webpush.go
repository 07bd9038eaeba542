package ciba

import (
	"time"

	"github.com/backchannel/backchannel/audit"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/webpush"
)

// webPushOutbound returns the Web Push rows of new request r of client c,
// with their notification.queued audit events: one for each of devices
// (the user's, which Start has already loaded) that is active and has a
// push subscription. Users without one cost nothing more: the
// subscription comes with the device list.
func (s *Service) webPushOutbound(r store.Request, c store.Client, devices []store.Device, now time.Time) ([]store.Outbound, []store.AuditEvent, error) {
	if !s.WebPush {
		return nil, nil, nil
	}
	var rows []store.Outbound
	var events []store.AuditEvent
	var m webpush.Message
	for _, d := range devices {
		if !d.RevokedAt.IsZero() || d.Push.Endpoint == "" {
			continue
		}
		if m.RequestID == "" { // built only for users who have a subscription
			sum := NewSummary(r, c)
			m = webpush.Message{RequestID: r.ID, ClientName: sum.ClientName, BindingMessage: sum.BindingMessage, ExpiresAt: sum.ExpiresAt}
		}
		row, err := webpush.Outbound(store.NewID(now), c.ID, d.ID, m, r.ExpiresAt, now)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, row)
		ref := audit.Of(r)
		ref.DeviceID = d.ID
		events = append(events, audit.Event(audit.NotificationQueued, now, ref, map[string]any{
			"outbound_id": row.ID, "channel": "web_push",
		}))
	}
	return rows, events, nil
}
