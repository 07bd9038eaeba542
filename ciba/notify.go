package ciba

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/backchannel/backchannel/audit"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/token"
)

// pingBody is the ping callback (CIBA Core §10.2).
type pingBody struct {
	AuthReqID string `json:"auth_req_id"`
}

// pushBody is a push-mode token delivery (CIBA Core §10.3.1).
type pushBody struct {
	AuthReqID string `json:"auth_req_id"`
	token.Response
}

// pushErrorBody is the push error payload (CIBA Core §12).
type pushErrorBody struct {
	Error       oauth.Code `json:"error"`
	Description string     `json:"error_description,omitempty"`
	AuthReqID   string     `json:"auth_req_id"`
}

// TransactionFailed is the push error of CIBA Core §12 for a request the
// server could not complete.
const TransactionFailed oauth.Code = "transaction_failed"

// notification returns the effects of a decided or expired ping or push
// request r of client c: the queued notification and, for an approved
// push request, the tokens it delivers, after which r is redeemed. The
// request's copy of the notification token and auth_req_id is cleared:
// from now on only the outbox row holds them, until it is delivered.
// Poll requests have no effects.
func (s *Service) notification(r *store.Request, c store.Client, user store.User, now time.Time) (store.Effects, error) {
	if r.DeliveryMode != store.Ping && r.DeliveryMode != store.Push {
		return store.Effects{}, nil
	}
	if c.NotificationEndpoint == "" {
		return store.Effects{}, fmt.Errorf("client %s has no notification endpoint", c.ID)
	}
	var (
		effects store.Effects
		body    any
	)
	switch {
	case r.DeliveryMode == store.Ping:
		body = pingBody{AuthReqID: r.AuthReqID}
	case r.State == store.Approved && user.Subject == "":
		// The user was deleted between the request and the approval.
		r.State = store.Denied
		effects.Audit = append(effects.Audit, audit.Event(audit.RequestDenied, now, audit.Of(*r), map[string]any{"reason": "the user no longer exists"}))
		body = pushErrorBody{Error: TransactionFailed, Description: "the request could not be completed", AuthReqID: r.AuthReqID}
	case r.State == store.Approved:
		g := grantOf(c, *r, user)
		g.AuthReqID = r.AuthReqID
		resp, tokens, err := s.Tokens.Issue(g)
		if err != nil {
			return store.Effects{}, fmt.Errorf("issue push tokens: %w", err)
		}
		effects = tokens
		r.State = store.Redeemed
		effects.Audit = append(effects.Audit, redeemedEvent(*r, effects, now))
		body = pushBody{AuthReqID: r.AuthReqID, Response: resp}
	case r.State == store.Denied:
		body = pushErrorBody{Error: oauth.AccessDenied, Description: "the user denied the request", AuthReqID: r.AuthReqID}
	default: // expired
		body = pushErrorBody{Error: oauth.ExpiredToken, Description: "the request expired before the user answered", AuthReqID: r.AuthReqID}
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return store.Effects{}, err
	}
	id := store.NewID(now)
	lim := s.Limits.withDefaults()
	until := now.Add(lim.NotificationWindow)
	if r.ExpiresAt.After(until) {
		until = r.ExpiresAt
	}
	effects.Outbound = append(effects.Outbound, store.Outbound{
		ID:            id,
		RequestID:     r.ID,
		ClientID:      c.ID,
		Endpoint:      c.NotificationEndpoint,
		Token:         r.NotificationToken,
		Payload:       payload,
		State:         store.Queued,
		NextAttemptAt: now,
		ExpiresAt:     until,
		CreatedAt:     now,
	})
	effects.Audit = append(effects.Audit, queuedEvent(*r, effects.Outbound[len(effects.Outbound)-1], now))
	r.NotificationToken, r.AuthReqID = "", ""
	return effects, nil
}

// ExpireDue handles ping and push requests that expired unanswered: each
// moves to Expired and, in push mode, queues the expired_token error
// payload (CIBA Core §12); in ping mode it queues a ping, after which the
// client learns expired_token at the token endpoint. It handles up to
// limit requests and returns how many; the server calls it periodically.
func (s *Service) ExpireDue(ctx context.Context, limit int) (int, error) {
	now := s.now()
	reqs, err := s.Store.ExpiringRequests(ctx, now, limit)
	if err != nil {
		return 0, fmt.Errorf("list expiring requests: %w", err)
	}
	n := 0
	for _, r := range reqs {
		c, err := s.Store.Client(ctx, r.ClientID)
		if errors.Is(err, store.ErrNotFound) {
			c = store.Client{ID: r.ClientID} // deleted: nothing to notify
		} else if err != nil {
			return n, fmt.Errorf("load client: %w", err)
		}
		_, err = s.Store.UpdateRequest(ctx, r.ID, func(r *store.Request) (store.Effects, error) {
			if r.State != store.Pending || !Expired(*r, now) {
				return store.Effects{}, errAlreadyHandled
			}
			r.State = store.Expired
			expired := expiredEvent(*r, "expiry", now)
			if c.NotificationEndpoint == "" {
				r.NotificationToken, r.AuthReqID = "", ""
				return store.Effects{Audit: []store.AuditEvent{expired}}, nil
			}
			fx, err := s.notification(r, c, store.User{}, now)
			fx.Audit = append([]store.AuditEvent{expired}, fx.Audit...)
			return fx, err
		})
		if errors.Is(err, errAlreadyHandled) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("expire request: %w", err)
		}
		n++
		s.changed(r.Subject)
		s.observeExpired(r.DeliveryMode)
	}
	if n > 0 {
		s.queued()
	}
	return n, nil
}

var errAlreadyHandled = errors.New("ciba: request already handled")
