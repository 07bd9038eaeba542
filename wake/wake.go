package wake

import (
	"context"
	"sync"
)

// Resync is the key of a wake-up that stands for every key of its topic:
// "anything may have changed". A Bus that may have missed wake-ups (after
// its connection to the database was lost) delivers Resync to every
// subscriber. Publishing "" has the same meaning, so no subject, id or
// other real key may be empty.
const Resync = ""

// The topics backchannel uses.
const (
	Device = "device" // key: the subject whose requests changed
	Outbox = "outbox" // key: ""; a notification was queued
	Keys   = "keys"   // key: ""; the signing keys changed
)

// Bus publishes wake-ups and delivers them to subscribers. Wake-ups may
// be merged, repeated or replaced by a Resync, but one published after a
// Subscribe returns is never lost without a later Resync.
type Bus interface {
	// Publish wakes the subscribers of topic with key. Callers publish
	// after the transaction that made the change has committed.
	Publish(ctx context.Context, topic, key string) error
	// Subscribe returns a channel of the keys published on topic and a
	// cancel func that ends the subscription; cancel may be called more
	// than once. The channel is never closed.
	Subscribe(topic string) (<-chan string, func())
}

// maxPending is how many distinct keys a subscription holds undelivered
// before it collapses them into one Resync.
const maxPending = 1024

// Local is a Bus inside one process. The zero value is ready to use. A
// Local must not be copied after first use; its methods are safe for
// concurrent use.
type Local struct {
	mu   sync.Mutex
	subs map[string]map[*subscription]struct{}
}

var _ Bus = (*Local)(nil)

// subscription queues the distinct keys not yet taken by its subscriber
// and hands them over one at a time, so a slow subscriber never blocks a
// publisher.
type subscription struct {
	out  chan string
	done chan struct{}

	mu      sync.Mutex
	pending []string
	seen    map[string]bool
	signal  chan struct{} // buffer of one: pending is not empty
}

// Publish delivers key to every subscriber of topic. It never blocks and
// never fails.
func (l *Local) Publish(_ context.Context, topic, key string) error {
	l.Deliver(topic, key)
	return nil
}

// Deliver is Publish without a context, for Buses that receive wake-ups
// from elsewhere and fan them out through a Local.
func (l *Local) Deliver(topic, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range l.subs[topic] {
		s.add(key)
	}
}

// ResyncAll delivers Resync to every subscriber of every topic.
func (l *Local) ResyncAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, set := range l.subs {
		for s := range set {
			s.add(Resync)
		}
	}
}

// Subscribe implements Bus.
func (l *Local) Subscribe(topic string) (<-chan string, func()) {
	s := &subscription{
		out:    make(chan string),
		done:   make(chan struct{}),
		seen:   map[string]bool{},
		signal: make(chan struct{}, 1),
	}
	l.mu.Lock()
	if l.subs == nil {
		l.subs = map[string]map[*subscription]struct{}{}
	}
	if l.subs[topic] == nil {
		l.subs[topic] = map[*subscription]struct{}{}
	}
	l.subs[topic][s] = struct{}{}
	l.mu.Unlock()
	go s.pump()

	var once sync.Once
	return s.out, func() {
		once.Do(func() {
			l.mu.Lock()
			delete(l.subs[topic], s)
			if len(l.subs[topic]) == 0 {
				delete(l.subs, topic)
			}
			l.mu.Unlock()
			close(s.done)
		})
	}
}

// add queues key unless it is already queued. Past maxPending keys, or
// once a Resync is queued, the queue holds only a Resync, which covers
// them all.
func (s *subscription) add(key string) {
	s.mu.Lock()
	switch {
	case s.seen[Resync] || s.seen[key]:
	case key == Resync || len(s.pending) >= maxPending:
		s.pending = append(s.pending[:0], Resync)
		clear(s.seen)
		s.seen[Resync] = true
	default:
		s.pending = append(s.pending, key)
		s.seen[key] = true
	}
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// next takes the oldest queued key.
func (s *subscription) next() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return "", false
	}
	key := s.pending[0]
	s.pending = s.pending[1:]
	delete(s.seen, key)
	return key, true
}

// pump hands queued keys to the subscriber until the subscription ends.
func (s *subscription) pump() {
	for {
		key, ok := s.next()
		if !ok {
			select {
			case <-s.signal:
				continue
			case <-s.done:
				return
			}
		}
		select {
		case s.out <- key:
		case <-s.done:
			return
		}
	}
}
