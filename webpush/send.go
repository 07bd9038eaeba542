package webpush

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	webpushgo "github.com/SherClockHolmes/webpush-go"

	"github.com/backchannel/backchannel/notify"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// OutboundPrefix starts the ID of every Web Push outbox row.
const OutboundPrefix = "webpush-"

// Topic is the Topic of every message (RFC 8030 §5.4): a push service
// holding messages for a device that is offline keeps only the newest,
// and the app lists every pending request when it opens.
const Topic = "pending-request"

// ttlMargin is how much shorter than the request's remaining life a
// message's TTL is (RFC 8030 §5.2), so that a phone never shows a
// request that has already expired.
const ttlMargin = 5 * time.Second

// Message is the JSON a device's service worker receives: what the
// notification shows, and no secret.
type Message struct {
	RequestID      string `json:"request_id"` // the device-facing reference
	ClientName     string `json:"client_name"`
	BindingMessage string `json:"binding_message,omitempty"`
	ExpiresAt      int64  `json:"expires_at"` // Unix seconds
}

// maxField bounds each text of a message in bytes, so that a message
// always fits the one 4096-byte record push services must accept (RFC
// 8291 §4) whatever a client calls itself.
const maxField = 512

// Outbound returns the outbox row, with ID OutboundPrefix+id, that pushes
// m (about request m.RequestID of client clientID) to device deviceID. It
// is given up at expiresAt, the request's expiry.
func Outbound(id, clientID, deviceID string, m Message, expiresAt, now time.Time) (store.Outbound, error) {
	m.ClientName = oauth.Truncate(m.ClientName, maxField)
	m.BindingMessage = oauth.Truncate(m.BindingMessage, maxField)
	payload, err := json.Marshal(m)
	if err != nil {
		return store.Outbound{}, err
	}
	return store.Outbound{
		ID:            OutboundPrefix + id,
		RequestID:     m.RequestID,
		ClientID:      clientID,
		Endpoint:      notify.WebPushScheme + deviceID,
		Payload:       payload,
		State:         store.Queued,
		NextAttemptAt: now,
		ExpiresAt:     expiresAt,
		CreatedAt:     now,
	}, nil
}

// Sender sends Web Push rows; its Send is a notify.Worker's WebPush.
type Sender struct {
	Store store.Store
	Key   *Key
	// Subject is the VAPID contact (RFC 8292 §2.1): a mailto: or https:
	// URI. Required.
	Subject string
	Log     *slog.Logger     // default: discard
	Now     func() time.Time // default: time.Now

	sent, gone, failed atomic.Int64
}

// Stats counts a Sender's messages by the push service's answer.
type Stats struct {
	Sent   int64 // accepted (2xx)
	Gone   int64 // 404 or 410: the subscription was removed
	Failed int64 // other answers, transport errors and messages not built
}

// Stats returns the counters; it is safe to call at any time.
func (s *Sender) Stats() Stats {
	return Stats{Sent: s.sent.Load(), Gone: s.gone.Load(), Failed: s.failed.Load()}
}

// Send pushes row's message to its device's current subscription through
// client (an egress client: the endpoint came from a device). A 404 or 410
// answer (RFC 8030 §7.3) removes that subscription. It returns
// notify.ErrGone when the device is revoked or has no subscription, or
// the request has expired.
func (s *Sender) Send(ctx context.Context, row store.Outbound, client *http.Client) (*http.Response, error) {
	resp, err := s.send(ctx, row, client)
	switch {
	case err != nil:
		s.failed.Add(1)
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		s.sent.Add(1)
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		s.gone.Add(1)
	default:
		s.failed.Add(1)
	}
	return resp, err
}

func (s *Sender) send(ctx context.Context, row store.Outbound, client *http.Client) (*http.Response, error) {
	deviceID, ok := strings.CutPrefix(row.Endpoint, notify.WebPushScheme)
	if !ok || deviceID == "" {
		return nil, fmt.Errorf("%w: not a Web Push row", notify.ErrGone)
	}
	dev, err := s.Store.Device(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: device deleted", notify.ErrGone)
	} else if err != nil {
		return nil, fmt.Errorf("load device: %w", err) // retried
	}
	if !dev.RevokedAt.IsZero() {
		return nil, fmt.Errorf("%w: device revoked", notify.ErrGone)
	}
	if dev.Push.Endpoint == "" {
		return nil, fmt.Errorf("%w: device has no push subscription", notify.ErrGone)
	}
	var m Message
	if err := json.Unmarshal(row.Payload, &m); err != nil {
		return nil, fmt.Errorf("%w: bad message: %w", notify.ErrGone, err)
	}
	ttl := time.Unix(m.ExpiresAt, 0).Sub(s.now()) - ttlMargin
	if ttl < time.Second {
		return nil, fmt.Errorf("%w: the request expires before a message could be read", notify.ErrGone)
	}
	sub := &webpushgo.Subscription{
		Endpoint: dev.Push.Endpoint,
		Keys: webpushgo.Keys{
			P256dh: base64.RawURLEncoding.EncodeToString(dev.Push.P256DH),
			Auth:   base64.RawURLEncoding.EncodeToString(dev.Push.Auth),
		},
	}
	resp, err := webpushgo.SendNotificationWithContext(ctx, row.Payload, sub, &webpushgo.Options{
		HTTPClient: client,
		// webpush-go prefixes "mailto:" to any subject not starting
		// with "https:", so a mailto: subject goes without it.
		Subscriber:      strings.TrimPrefix(s.Subject, "mailto:"),
		VAPIDPublicKey:  s.Key.ApplicationServerKey(),
		VAPIDPrivateKey: s.Key.private(),
		TTL:             int(ttl / time.Second),
		Urgency:         webpushgo.UrgencyHigh, // RFC 8030 §5.3: a person is waiting
		Topic:           Topic,
	})
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		// The endpoint is a capability of the push service: keep it out
		// of logs and the outbox's last error, keep the cause's class.
		return nil, fmt.Errorf("%s to the push service: %w", ue.Op, ue.Err)
	} else if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		// Only this endpoint: the device may have subscribed anew since.
		if err := s.Store.DeletePushSubscription(ctx, dev.ID, dev.Push.Endpoint); err != nil {
			s.log().ErrorContext(ctx, "remove expired push subscription", "device_id", dev.ID, "err", err)
		} else {
			s.log().InfoContext(ctx, "push subscription expired; removed", "device_id", dev.ID, "status", resp.StatusCode)
		}
	}
	return resp, nil
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}
