package ciba

import (
	"time"

	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/webpush"
)

// webPushOutbound returns the Web Push rows of new request r of client c:
// one for each of devices (the user's, which Start has already loaded)
// that is active and has a push subscription. Users without one cost
// nothing more: the subscription comes with the device list.
func (s *Service) webPushOutbound(r store.Request, c store.Client, devices []store.Device, now time.Time) ([]store.Outbound, error) {
	if !s.WebPush {
		return nil, nil
	}
	var rows []store.Outbound
	for _, d := range devices {
		if !d.RevokedAt.IsZero() || d.Push.Endpoint == "" {
			continue
		}
		id, err := randomString(16)
		if err != nil {
			return nil, err
		}
		sum := NewSummary(r, c)
		m := webpush.Message{RequestID: r.ID, ClientName: sum.ClientName, BindingMessage: sum.BindingMessage, ExpiresAt: sum.ExpiresAt}
		row, err := webpush.Outbound(id, c.ID, d.ID, m, r.ExpiresAt, now)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}
