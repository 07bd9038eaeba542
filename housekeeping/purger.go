package housekeeping

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/backchannel/backchannel/store"
)

// Defaults of the Purger fields left zero.
const (
	DefaultInterval  = time.Minute
	DefaultRetention = 24 * time.Hour
	DefaultBatch     = 500
)

// Purger purges the store periodically. Set its fields, then call Run.
type Purger struct {
	Store store.Store  // required
	Log   *slog.Logger // default: discard
	// Now is the clock retention is measured on. Default time.Now.
	Now func() time.Time
	// Interval is the time between purges. Default 1 min.
	Interval time.Duration
	// Retention is how long records are kept after they expired (or,
	// for notifications, after their delivery ended), so that a client
	// polling late still gets expired_token rather than invalid_grant and
	// operators can look at recent history. Default 24 h.
	Retention time.Duration
	// AuditRetention is how long audit events are kept. Zero keeps them
	// forever.
	AuditRetention time.Duration
	// Batch is the most records of each kind one Purge call removes.
	// Default 500.
	Batch int
}

// Run purges every Interval until ctx ends, logging at Info what each
// purge removed when it removed anything. A failed purge is logged and
// tried again at the next interval. Run returns nil when ctx ends.
func (p *Purger) Run(ctx context.Context) error {
	if p.Store == nil {
		return errors.New("housekeeping: Purger needs a Store")
	}
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	interval := p.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := p.PurgeOnce(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.ErrorContext(ctx, "purge", "err", err)
			}
			continue
		}
		if n.Total() > 0 {
			log.InfoContext(ctx, "purged", "requests", n.Requests, "tokens", n.Tokens,
				"used_once", n.UsedOnce, "enrolments", n.Enrolments,
				"notifications", n.Outbound, "audit_events", n.Audit)
		}
	}
}

// PurgeOnce removes everything due now, one batch at a time, until a
// batch comes back with fewer than Batch records of every kind. It
// returns the total removed, also when it stops on an error.
func (p *Purger) PurgeOnce(ctx context.Context) (store.PurgeCounts, error) {
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	retention := p.Retention
	if retention <= 0 {
		retention = DefaultRetention
	}
	batch := p.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	before := now.Add(-retention)
	var auditBefore time.Time // zero: Purge keeps every audit event
	if p.AuditRetention > 0 {
		auditBefore = now.Add(-p.AuditRetention)
	}
	var total store.PurgeCounts
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := p.Store.Purge(ctx, before, auditBefore, batch)
		total = add(total, n)
		if err != nil {
			return total, err
		}
		if !full(n, batch) {
			return total, nil
		}
	}
}

// full reports whether any kind filled its batch, so more may be due.
func full(n store.PurgeCounts, batch int) bool {
	for _, k := range []int{n.Requests, n.Tokens, n.UsedOnce, n.Enrolments, n.Outbound, n.Audit} {
		if k >= batch {
			return true
		}
	}
	return false
}

func add(a, b store.PurgeCounts) store.PurgeCounts {
	return store.PurgeCounts{
		Requests:   a.Requests + b.Requests,
		Tokens:     a.Tokens + b.Tokens,
		UsedOnce:   a.UsedOnce + b.UsedOnce,
		Enrolments: a.Enrolments + b.Enrolments,
		Outbound:   a.Outbound + b.Outbound,
		Audit:      a.Audit + b.Audit,
	}
}
