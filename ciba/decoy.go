package ciba

import (
	"context"
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
	if unknown && c.UserCodeParameter {
		// As checkUserCode answers: no user_code is right for a user the
		// server does not know.
		if p.userCode == "" {
			return Started{}, oauth.Errorf(oauth.MissingUserCode, "user_code is required for this client")
		}
		return Started{}, oauth.Errorf(oauth.InvalidUserCode, "user_code is not valid")
	}
	// Ping and push clients learn of the decoy's expiry as of any other.
	_, started, err := s.createRequest(ctx, c, p, store.User{}, nil, now)
	return started, err
}
