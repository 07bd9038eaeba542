package device

import "sync"

// Hub fans wake-ups out to the device streams of a user. A stream
// subscribes to its user's subject and, on each wake-up, re-reads that
// user's pending requests; a wake-up carries no data, so a burst of
// changes coalesces into one re-read.
//
// Hub works inside one process. serve calls Notify for the changes this
// instance makes, and for those of the other instances on one PostgreSQL
// as their wake-ups arrive through LISTEN/NOTIFY (wake, DESIGN.md
// "Scale"); NotifyAll follows a lost connection to them.
//
// The zero value is ready to use. A Hub must not be copied after first
// use. All methods are safe for concurrent use.
type Hub struct {
	mu sync.Mutex
	// subs holds each subject's subscriptions. A subject's set is deleted
	// with its last subscription, so the map holds only live streams.
	subs map[string]map[chan struct{}]struct{}
	n    int // number of subscriptions, for Subscribers
}

// Subscribe registers a wake-up channel for subject. The channel has a
// buffer of one and never blocks Notify: wake-ups that arrive while one is
// already buffered are merged into it. The channel is never closed; the
// subscriber stops listening by its own means (its request's context) and
// must then call cancel, which removes the subscription. cancel may be
// called more than once.
func (h *Hub) Subscribe(subject string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = make(map[string]map[chan struct{}]struct{})
	}
	set := h.subs[subject]
	if set == nil {
		set = make(map[chan struct{}]struct{})
		h.subs[subject] = set
	}
	set[ch] = struct{}{}
	h.n++
	h.mu.Unlock()

	var once sync.Once
	cancel := func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			set := h.subs[subject]
			if _, ok := set[ch]; !ok {
				return
			}
			delete(set, ch)
			h.n--
			if len(set) == 0 {
				delete(h.subs, subject)
			}
		})
	}
	return ch, cancel
}

// Notify wakes every subscriber of subject. It never blocks: a subscriber
// that has not yet taken its previous wake-up keeps that one.
func (h *Hub) Notify(subject string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[subject] {
		select {
		case ch <- struct{}{}:
		default: // already woken; coalesce
		}
	}
}

// Subscribers returns the number of live subscriptions of all subjects,
// for metrics and for tests that check streams clean up after themselves.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// NotifyAll wakes every subscriber of every subject, as after a lost
// connection to the other instances' wake-ups, which may have been
// missed.
func (h *Hub) NotifyAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, set := range h.subs {
		for ch := range set {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}
