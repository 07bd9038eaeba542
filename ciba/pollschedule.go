package ciba

import (
	"sync"
	"time"

	"github.com/backchannel/backchannel/store"
)

// pollSweepEvery is how often a pollSchedule drops the entries of
// requests that have expired.
const pollSweepEvery = time.Minute

// pollSchedule is the poll schedule of pending requests in memory
// (Service.PollScheduleInMemory): for each request polled on time, when
// its next poll is due and its interval. A poll on time then needs no
// write; only an early poll (slow_down) saves its grown interval.
//
// Its guarantee: the polls of one request that reach this process are
// decided one at a time, each against the later of the stored NextPollAt
// and the schedule the previous one left, so of two polls within one
// interval exactly one is on time, even when they arrive together. It
// holds for the polls one process sees, which is all of them when the
// process alone uses the store (embedded SQLite). A restart forgets the
// schedule of on-time polls: the first poll after it is judged by the
// stored NextPollAt, which an early poll or the creation set.
type pollSchedule struct {
	mu      sync.Mutex
	due     map[string]pollSlot // by request ID
	sweptAt time.Time
}

// pollSlot is the schedule of one request.
type pollSlot struct {
	next     time.Time     // the earliest poll that is on time
	interval time.Duration // the interval, grown by slow_down
	expires  time.Time     // the request's expiry, after which the slot is dropped
}

// poll decides a poll at now of pending request r, as loaded from the
// store: early, and the interval grows by step, if now is before the
// later of r.NextPollAt and the schedule. Either way the next poll is due
// an interval after now. It returns whether the poll was early and the
// interval after it.
func (ps *pollSchedule) poll(r store.Request, now time.Time, step time.Duration) (early bool, interval time.Duration) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	next, interval := r.NextPollAt, r.Interval
	if slot, ok := ps.due[r.ID]; ok {
		if slot.next.After(next) {
			next = slot.next
		}
		interval = max(interval, slot.interval)
	}
	early = now.Before(next)
	if early {
		interval += step
	}
	if ps.due == nil {
		ps.due = make(map[string]pollSlot)
	}
	ps.due[r.ID] = pollSlot{next: now.Add(interval), interval: interval, expires: r.ExpiresAt}
	if now.Sub(ps.sweptAt) >= pollSweepEvery {
		ps.sweptAt = now
		for id, s := range ps.due {
			if !now.Before(s.expires) {
				delete(ps.due, id)
			}
		}
	}
	return early, interval
}

// forget drops the schedule of request id, which is no longer pending.
func (ps *pollSchedule) forget(id string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.due, id)
}
