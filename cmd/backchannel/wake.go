package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/notify"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/store/postgres"
	"github.com/backchannel/backchannel/wake"
)

// publishTimeout bounds one wake-up NOTIFY. A wake-up that cannot be
// sent in time is logged and dropped: the others then notice the change
// at their next poll or reload.
const publishTimeout = 2 * time.Second

// wakeBus returns the wake-up bus of st: LISTEN/NOTIFY between every
// instance on a PostgreSQL database (DESIGN.md, "Scale"), or an
// in-process bus for SQLite, which one instance owns alone. run, not nil
// for PostgreSQL, listens until its context ends.
func wakeBus(st store.Store, log *slog.Logger) (bus wake.Bus, run func(context.Context) error) {
	if pg, ok := st.(*postgres.Store); ok {
		b := pg.Bus(log)
		return b, b.Run
	}
	return &wake.Local{}, nil
}

// hubs are the hubs woken when a user's requests change: the device
// streams' and the held polls'.
type hubs []*device.Hub

// Notify wakes the subscribers of subject in every hub.
func (hs hubs) Notify(subject string) {
	for _, h := range hs {
		h.Notify(subject)
	}
}

// NotifyAll wakes every subscriber of every hub.
func (hs hubs) NotifyAll() {
	for _, h := range hs {
		h.NotifyAll()
	}
}

// wireWake connects the services of one instance to bus. A change this
// instance makes wakes its own waiters at once and is published for the
// others. It replaces svc.Changed and svc.Queued, and returns the hook
// for key rotations through the admin API.
func wireWake(bus wake.Bus, svc *ciba.Service, hub hubs, worker *notify.Worker, log *slog.Logger) (keysRotated func()) {
	publish := func(topic, key string) {
		// Called after the change committed, from the request that made
		// it; the request's context may already be ending.
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		defer cancel()
		if err := bus.Publish(ctx, topic, key); err != nil {
			log.Error("publish wake-up", "topic", topic, "err", err)
		}
	}
	svc.Changed = func(subject string) {
		hub.Notify(subject)
		publish(wake.Device, subject)
	}
	svc.Queued = func() {
		worker.Wake()
		publish(wake.Outbox, "")
	}
	// A decision's notifications are this instance's to deliver at once:
	// stored leased to it, so the others need no wake-up.
	svc.Handoff, svc.HandoffLease = worker.Handoff, worker.Lease()
	return func() { publish(wake.Keys, "") }
}

// listenWake starts, in bg, the subscribers that turn what bus delivers
// into wake-ups of this instance's waiters, and run (the bus's listener)
// if not nil. What arrives is the others' changes, this instance's own
// echoed back (one spare re-read) and resyncs after a lost connection.
// All stop when ctx ends.
func listenWake(ctx context.Context, bg *sync.WaitGroup, bus wake.Bus, run func(context.Context) error,
	hub hubs, worker *notify.Worker, ks *keys.Set, log *slog.Logger) {
	subscribe := func(topic string, fn func(key string)) {
		ch, cancel := bus.Subscribe(topic)
		bg.Go(func() {
			defer cancel()
			for {
				select {
				case <-ctx.Done():
					return
				case key := <-ch:
					fn(key)
				}
			}
		})
	}
	subscribe(wake.Device, func(subject string) {
		if subject == wake.Resync {
			hub.NotifyAll()
			return
		}
		hub.Notify(subject)
	})
	subscribe(wake.Outbox, func(string) { worker.Wake() })
	subscribe(wake.Keys, func(string) {
		if err := ks.Reload(ctx); err != nil && ctx.Err() == nil {
			// The keys loaded before stay in use; the periodic reload
			// tries again.
			log.Error("reload signing keys", "err", err)
		}
	})
	if run != nil {
		bg.Go(func() {
			if err := run(ctx); err != nil && ctx.Err() == nil {
				log.Error("wake-up listener stopped", "err", err)
			}
		})
	}
}
