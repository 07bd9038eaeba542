package httpapi

import (
	"context"
	"sync"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/store"
)

// maxShown bounds a shownSet. Past it the set starts over: forgetting
// costs only a write that the store refuses as a duplicate.
const maxShown = 10000

// shownSet remembers the (device, request) pairs a handler recorded as
// shown, so that a device listing its requests again and again, or
// reconnecting its stream, does not cost a write each time. The store
// records each pair once in any case (ciba.Service.Shown).
type shownSet struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (s *shownSet) has(key string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[key]
}

func (s *shownSet) add(key string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil || len(s.seen) >= maxShown {
		s.seen = make(map[string]bool)
	}
	s.seen[key] = true
}

// recordShown records in the audit trail that dev was sent the requests
// of list, by way of via. A failure is logged: the device is shown its
// requests whether or not the trail could record it.
func (h requestStream) recordShown(ctx context.Context, dev store.Device, list []ciba.Summary, via string) {
	for _, s := range list {
		key := dev.ID + " " + s.RequestID
		if h.shown.has(key) {
			continue
		}
		if err := h.svc.Shown(ctx, dev, s, via); err != nil {
			if ctx.Err() == nil {
				h.log.ErrorContext(ctx, "record shown request", "device_id", dev.ID, "request_id", s.RequestID, "err", err)
			}
			continue
		}
		h.shown.add(key)
	}
}
