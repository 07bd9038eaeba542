package notify

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/backchannel/backchannel/audit"
	"github.com/backchannel/backchannel/egress"
	"github.com/backchannel/backchannel/store"
)

// The audit events of a delivery (package audit). They name the row and
// its request, and describe an attempt by its status or the class of its
// error, never by the error's text, the token or the payload.

// auditEvent is an event without the row's subject, which audit adds.
type auditEvent struct {
	kind   audit.Kind
	at     time.Time
	detail map[string]any
}

// attemptEvent describes the attempt at row that ended at end after took.
func attemptEvent(row store.Outbound, o outcome, end time.Time, took time.Duration) auditEvent {
	d := map[string]any{"outbound_id": row.ID, "attempt": row.Attempts, "duration_ms": took.Milliseconds()}
	if o.status != 0 {
		d["status"] = o.status
	}
	if o.err != nil {
		d["error"] = errorClass(o.err)
	}
	return auditEvent{audit.NotificationAttempt, end, d}
}

// outcomeEvent describes row leaving the outbox in state at at, for the
// reason result ("delivered", "rejected", "refused", "exhausted",
// "expired").
func outcomeEvent(row store.Outbound, state store.OutboundState, at time.Time, result string) auditEvent {
	d := map[string]any{"outbound_id": row.ID, "attempts": row.Attempts}
	if state == store.Delivered {
		return auditEvent{audit.NotificationDelivered, at, d}
	}
	d["reason"] = result
	return auditEvent{audit.NotificationFailed, at, d}
}

// errorClass names the kind of a transport error for the audit trail;
// the error's text may quote what was sent, so it is not recorded there.
func errorClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, egress.ErrRefused):
		return "refused"
	case errors.Is(err, errBadEndpoint):
		return "bad_endpoint"
	case errors.Is(err, ErrGone):
		return "gone"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "connection"
}

// audit appends events about row's request, in one transaction. A
// failure to record is logged and does not change the delivery.
func (w *Worker) audit(ctx context.Context, log *slog.Logger, row store.Outbound, events ...auditEvent) {
	if len(events) == 0 {
		return
	}
	if err := w.Store.AppendAudit(ctx, w.auditEvents(ctx, row, events)...); err != nil {
		log.ErrorContext(ctx, "record notification audit events", "err", err)
	}
}

// auditEvents returns events about row's request as the store keeps
// them. The row does not hold the user, so the request is read for it; a
// request that is gone leaves the subject empty.
func (w *Worker) auditEvents(ctx context.Context, row store.Outbound, events []auditEvent) []store.AuditEvent {
	if len(events) == 0 {
		return nil
	}
	ref := audit.Ref{RequestID: row.RequestID, ClientID: row.ClientID}
	if r, err := w.Store.Request(ctx, row.RequestID); err == nil {
		ref.Subject = r.Subject
	}
	out := make([]store.AuditEvent, len(events))
	for i, e := range events {
		out[i] = audit.Event(e.kind, e.at, ref, e.detail)
	}
	return out
}
