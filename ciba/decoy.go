package ciba

import (
	"context"
	"fmt"
	"time"

	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// startDecoy answers a request for a user who does not exist, or who has
// no authentication device, when HideUnknownUsers is set. It stores a
// request that names no user, so no device is ever asked and it can only
// expire, and answers as Start answers any request; the token endpoint
// then says authorization_pending, slow_down and expired_token as for
// any other. The decoy is audited like any request, so an operator can
// see the probes. TestHideUnknownUsers (httpapi) checks the two answers
// have the same shape.
//
// unknown reports that no user matched; otherwise the user exists, has
// no device, and already passed checkUserCode.
func (s *Service) startDecoy(ctx context.Context, c store.Client, p params, unknown bool, now time.Time) (Started, error) {
	lim := s.Limits.withDefaults()
	if unknown && c.UserCodeParameter {
		// As checkUserCode answers: no user_code is right for a user the
		// server does not know.
		if p.userCode == "" {
			return Started{}, oauth.Errorf(oauth.MissingUserCode, "user_code is required for this client")
		}
		return Started{}, oauth.Errorf(oauth.InvalidUserCode, "user_code is not valid")
	}
	expiry := lim.DefaultExpiry
	if p.requestedExpiry > 0 {
		expiry = min(p.requestedExpiry, lim.MaxExpiry)
	}
	authReqID, err := randomString(32)
	if err != nil {
		return Started{}, err
	}
	id, err := randomString(16)
	if err != nil {
		return Started{}, err
	}
	mode := c.DeliveryMode
	if mode == "" {
		mode = store.Poll
	}
	r := store.Request{
		ID:           id,
		AuthReqHash:  hashString(authReqID),
		ClientID:     c.ID,
		State:        store.Pending,
		Scopes:       p.scopes,
		ACRValues:    p.acrValues,
		Binding:      p.bindingMessage,
		DeliveryMode: mode,
		CreatedAt:    now,
		ExpiresAt:    now.Add(expiry),
		Interval:     lim.Interval,
		NextPollAt:   now.Add(lim.Interval),

		AuthorizationDetails: p.authorizationDetails,
	}
	if p.notificationToken != "" {
		// Ping and push clients learn of the expiry as of any other.
		r.NotificationToken = p.notificationToken
		r.AuthReqID = authReqID
	}
	if err := s.Store.CreateRequest(ctx, r); err != nil {
		return Started{}, fmt.Errorf("create decoy request: %w", err)
	}
	if err := s.Store.AppendAudit(ctx, createdEvent(r)); err != nil {
		return Started{}, fmt.Errorf("audit decoy request: %w", err)
	}
	started := Started{AuthReqID: authReqID, ExpiresIn: int64(expiry / time.Second)}
	if s.Fatigue.NumberMatching {
		started.MatchingNumber, _ = numberChoices(r.AuthReqHash)
	}
	if mode != store.Push {
		started.Interval = int64(lim.Interval / time.Second)
	}
	return started, nil
}
