package ciba

import (
	"time"

	"github.com/backchannel/backchannel/store"
)

// Observer is told how requests move through their lifecycle, for
// metrics (package metrics implements it). Its methods must be cheap and
// safe for concurrent use; they are called after the change committed.
type Observer interface {
	// RequestStarted: a request was accepted and stored.
	RequestStarted(mode store.DeliveryMode)
	// RequestDecided: the user approved or denied a request, elapsed
	// after it started.
	RequestDecided(mode store.DeliveryMode, approved bool, elapsed time.Duration)
	// RequestExpired: ExpireDue marked an unanswered ping or push request
	// expired. Poll-mode requests are never marked: the client learns
	// expired_token at its next poll.
	RequestExpired(mode store.DeliveryMode)
}

func (s *Service) observeStarted(mode store.DeliveryMode) {
	if s.Observer != nil {
		s.Observer.RequestStarted(mode)
	}
}

func (s *Service) observeDecided(r store.Request, approved bool, now time.Time) {
	if s.Observer != nil {
		s.Observer.RequestDecided(r.DeliveryMode, approved, now.Sub(r.CreatedAt))
	}
}

func (s *Service) observeExpired(mode store.DeliveryMode) {
	if s.Observer != nil {
		s.Observer.RequestExpired(mode)
	}
}
