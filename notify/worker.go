package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backchannel/backchannel/egress"
	"github.com/backchannel/backchannel/store"
)

// Defaults of the Worker fields left zero.
const (
	DefaultAttemptTimeout = 10 * time.Second
	DefaultMaxAttempts    = 8
	DefaultBackoffBase    = time.Second
	DefaultBackoffMax     = 5 * time.Minute
	// DefaultConcurrency is 64: each delivery holds its slot until its
	// outcome is written, a wait for the store's writer under load, and
	// 16 slots capped ping flows at about 110/s on a 2-core machine
	// (docs/performance.md).
	DefaultConcurrency  = 64
	DefaultPollInterval = time.Second
)

// leaseMargin is added to AttemptTimeout to make the claim lease: the
// time to record an outcome after the attempt ends, on a database that
// may be busy. A lease that lapses too early risks a duplicate delivery;
// one too long only delays recovery of the rows of a worker that died.
const leaseMargin = 30 * time.Second

// bodyLimit is how much of a response body is read (and discarded), so
// that the connection can be reused without reading an endless body.
const bodyLimit = 4 << 10

// Worker delivers queued notifications (store.Outbound rows): ping
// callbacks and push deliveries. Set its fields, then call Run; a Worker
// must not be copied after first use.
type Worker struct {
	Store store.Store
	// HTTP sends the notifications; it should come from egress.NewClient,
	// as endpoints are chosen by clients. Required.
	HTTP *http.Client
	Log  *slog.Logger // default: discard
	// Now is the clock that decides when rows are due and how long they
	// may be retried. Default time.Now.
	Now func() time.Time
	// AttemptTimeout bounds each delivery attempt, from dial to the end
	// of the response body. Default 10 s.
	AttemptTimeout time.Duration
	// MaxAttempts is the number of attempts after which a row fails.
	// Default 8.
	MaxAttempts int
	// BackoffBase and BackoffMax shape the delay between attempts; see
	// Backoff. BackoffMax also caps a Retry-After. Defaults 1 s and 5 min.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Concurrency is how many deliveries may be in flight at once, so
	// that slow endpoints cannot hold up the others. Default 16.
	Concurrency int
	// PollInterval is how often Run looks for due rows when nothing
	// Wakes it: retries falling due, and rows another process queued.
	// Default 1 s.
	PollInterval time.Duration
	// Rand is the jitter source of Backoff, returning numbers in [0, 1).
	// Default math/rand/v2.Float64.
	Rand func() float64
	// Authorize, if set, is asked first to authenticate each row's
	// request; it reports whether it did (for the webhook channel's rows,
	// which carry an HMAC signature header instead of a Bearer token).
	// Rows it declines get the client_notification_token as before.
	Authorize func(row store.Outbound, req *http.Request) bool
	// RowTimeout, if set, may give a row a shorter attempt timeout than
	// AttemptTimeout (the webhook channel's own timeout); results of 0 or
	// more than AttemptTimeout leave AttemptTimeout.
	RowTimeout func(row store.Outbound) time.Duration
	// WebPush, if set, sends the rows whose Endpoint starts with
	// WebPushScheme (package webpush): it builds the encrypted message,
	// sends it through client and returns the response, which is judged
	// like any other. An error wrapping ErrGone (the device or its
	// subscription is gone) fails the row at once. Without WebPush such
	// rows fail as refused.
	WebPush func(ctx context.Context, row store.Outbound, client *http.Client) (*http.Response, error)

	wakeOnce sync.Once
	wake     chan struct{}
	stats    counters

	mu     sync.Mutex
	handed []store.Outbound // rows given by Handoff, not yet started
}

// Lease is how long a claim keeps a row from other workers: the attempt
// timeout and a margin. Rows given to Handoff must be stored leased for
// at least this long.
func (w *Worker) Lease() time.Duration {
	return w.settings().attemptTimeout + leaseMargin
}

// Handoff gives Run rows that the caller has just committed already
// claimed by this process (Attempts 1, NextAttemptAt a Lease away), so
// that they are delivered at once, without a claim's write transaction
// and its wait. Run starts them before it claims anything. If the process
// dies first, their lease lapses and any worker claims them as usual. It
// never blocks.
func (w *Worker) Handoff(rows []store.Outbound) {
	if len(rows) == 0 {
		return
	}
	w.mu.Lock()
	w.handed = append(w.handed, rows...)
	w.mu.Unlock()
	w.Wake()
}

// takeHanded returns up to n rows given by Handoff.
func (w *Worker) takeHanded(n int) []store.Outbound {
	w.mu.Lock()
	defer w.mu.Unlock()
	n = min(n, len(w.handed))
	rows := w.handed[:n:n]
	w.handed = w.handed[n:]
	return rows
}

// Stats counts a Worker's work since it was created.
type Stats struct {
	Attempts  int64 // HTTP requests sent (or tried: refused and failed dials count)
	Delivered int64 // rows that ended Delivered
	Retried   int64 // failed attempts that were rescheduled
	Failed    int64 // rows that ended Failed: the sum of the Failed… counts below

	FailedRejected  int64 // the endpoint answered a status not worth retrying (3xx, most 4xx)
	FailedRefused   int64 // egress refused the destination, or the endpoint is not a URL
	FailedExhausted int64 // MaxAttempts attempts failed
	FailedExpired   int64 // the next attempt would start after the row's ExpiresAt
	FailedGone      int64 // the recipient is gone: a Web Push row's device or subscription
}

type counters struct {
	attempts, delivered, retried          atomic.Int64
	rejected, refused, exhausted, expired atomic.Int64
	gone                                  atomic.Int64
}

// Stats returns the counters; it is safe to call at any time.
func (w *Worker) Stats() Stats {
	s := Stats{
		Attempts:        w.stats.attempts.Load(),
		Delivered:       w.stats.delivered.Load(),
		Retried:         w.stats.retried.Load(),
		FailedRejected:  w.stats.rejected.Load(),
		FailedRefused:   w.stats.refused.Load(),
		FailedExhausted: w.stats.exhausted.Load(),
		FailedExpired:   w.stats.expired.Load(),
		FailedGone:      w.stats.gone.Load(),
	}
	s.Failed = s.FailedRejected + s.FailedRefused + s.FailedExhausted + s.FailedExpired + s.FailedGone
	return s
}

func (w *Worker) wakeCh() chan struct{} {
	w.wakeOnce.Do(func() { w.wake = make(chan struct{}, 1) })
	return w.wake
}

// Wake tells Run to look for due rows now rather than at its next poll:
// the caller has just committed a decision that queued a notification.
// It never blocks, and may be called before Run starts or after it ends.
func (w *Worker) Wake() {
	select {
	case w.wakeCh() <- struct{}{}:
	default: // a wake-up is already pending; it will see this row too
	}
}

// settings is a Worker's configuration with the defaults filled in.
type settings struct {
	log            *slog.Logger
	now            func() time.Time
	rand           func() float64
	attemptTimeout time.Duration
	maxAttempts    int
	backoffBase    time.Duration
	backoffMax     time.Duration
	concurrency    int
	pollInterval   time.Duration
}

func (w *Worker) settings() settings {
	s := settings{
		log: w.Log, now: w.Now, rand: w.Rand,
		attemptTimeout: w.AttemptTimeout, maxAttempts: w.MaxAttempts,
		backoffBase: w.BackoffBase, backoffMax: w.BackoffMax,
		concurrency: w.Concurrency, pollInterval: w.PollInterval,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Float64
	}
	if s.attemptTimeout <= 0 {
		s.attemptTimeout = DefaultAttemptTimeout
	}
	if s.maxAttempts <= 0 {
		s.maxAttempts = DefaultMaxAttempts
	}
	if s.backoffBase <= 0 {
		s.backoffBase = DefaultBackoffBase
	}
	if s.backoffMax <= 0 {
		s.backoffMax = DefaultBackoffMax
	}
	if s.concurrency <= 0 {
		s.concurrency = DefaultConcurrency
	}
	if s.pollInterval <= 0 {
		s.pollInterval = DefaultPollInterval
	}
	return s
}

// Run delivers due rows until ctx ends. It claims rows when woken, every
// PollInterval, and, after a claim that filled every slot, once a quarter
// of the slots is free again; each row is delivered in its own goroutine,
// at most Concurrency at once. A claim leases its rows for AttemptTimeout plus a
// margin, so no other worker takes a row while it is being delivered,
// and the rows of a worker that died become due again once their lease
// lapses: restarting is simply running again.
//
// When ctx ends, Run stops claiming, lets the attempts in flight finish
// and record their outcome (each is bounded by AttemptTimeout), and
// returns nil. An attempt cut short would leave the client unsure whether
// it was notified and could be repeated after the lease lapses. Run
// returns an error only if the Worker lacks Store or HTTP.
func (w *Worker) Run(ctx context.Context) error {
	if w.Store == nil || w.HTTP == nil {
		return errors.New("notify: Worker needs a Store and an HTTP client")
	}
	s := w.settings()
	lease := s.attemptTimeout + leaseMargin
	// Deliveries outlive ctx, as said above.
	deliverCtx := context.WithoutCancel(ctx)

	var wg sync.WaitGroup
	defer wg.Wait()
	done := make(chan struct{}, s.concurrency)
	tick := time.NewTicker(s.pollInterval)
	defer tick.Stop()
	wake := w.wakeCh()

	// After a claim that filled every slot, due rows may remain. They are
	// claimed once a quarter of the slots is free again rather than one
	// slot at a time: each claim is a write transaction, which decisions
	// wait for. A Wake or a poll claims as soon as any slot is free.
	batch := max(1, s.concurrency/4)
	inFlight := 0
	look, minFree := true, 1 // whether there may be due rows, and the free slots to wait for
	for {
		// Rows handed over are claimed already: they go first.
		for _, row := range w.takeHanded(s.concurrency - inFlight) {
			inFlight++
			wg.Go(func() {
				w.deliver(deliverCtx, s, row)
				done <- struct{}{}
			})
		}
		if free := s.concurrency - inFlight; look && free >= minFree {
			rows, err := w.Store.ClaimOutbound(ctx, s.now(), lease, free)
			if err != nil && ctx.Err() == nil {
				// The rows stay queued; the next poll tries again.
				s.log.ErrorContext(ctx, "claim notifications", "err", err)
			}
			for _, row := range rows {
				inFlight++
				wg.Go(func() {
					w.deliver(deliverCtx, s, row)
					done <- struct{}{}
				})
			}
			look, minFree = err == nil && len(rows) == free, batch
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
			look, minFree = true, 1
		case <-tick.C:
			look, minFree = true, 1
		case <-done:
			inFlight--
		}
	}
}

// outcome is the result of one attempt.
type outcome struct {
	status int   // the response status, or 0 if there was none
	err    error // the transport error, if any
	header http.Header
}

// deliver makes one attempt at row (already claimed, so its Attempts
// counts this attempt) and records the outcome in the store.
func (w *Worker) deliver(ctx context.Context, s settings, row store.Outbound) {
	log := s.log.With("client_id", row.ClientID, "request_id", row.RequestID,
		"outbound_id", row.ID, "attempt", row.Attempts)
	now := s.now()
	// Rows whose earlier claims ended without a recorded outcome (their
	// worker died) may come back past their limits: no attempt starts
	// after ExpiresAt, and none beyond MaxAttempts.
	switch {
	case !row.ExpiresAt.IsZero() && now.After(row.ExpiresAt):
		w.finish(ctx, log, row, store.Failed, now, "expired before the attempt started", "expired", &w.stats.expired)
		return
	case row.Attempts > s.maxAttempts:
		w.finish(ctx, log, row, store.Failed, now, "attempts exhausted", "exhausted", &w.stats.exhausted)
		return
	}

	w.stats.attempts.Add(1)
	out := w.post(ctx, s, row)
	end := s.now()
	took := end.Sub(now)
	log = log.With("duration", took)
	if out.status != 0 {
		log = log.With("status", out.status)
	}
	errText := redact(describe(out), row)
	att := attemptEvent(row, out, end, took)

	switch {
	case out.err == nil && out.status >= 200 && out.status < 300:
		// CIBA Core §10.2 and §10.3: the client answers 204 or 200, and
		// any body is ignored.
		w.finish(ctx, log, row, store.Delivered, end, "", "delivered", &w.stats.delivered, att)
	case errors.Is(out.err, ErrGone):
		w.finish(ctx, log, row, store.Failed, end, errText, "gone", &w.stats.gone, att)
	case errors.Is(out.err, egress.ErrRefused) || errors.Is(out.err, errBadEndpoint):
		w.finish(ctx, log, row, store.Failed, end, errText, "refused", &w.stats.refused, att)
	case !retryable(out):
		w.finish(ctx, log, row, store.Failed, end, errText, "rejected", &w.stats.rejected, att)
	default:
		delay := Backoff(row.Attempts, s.backoffBase, s.backoffMax, s.rand())
		if out.header != nil {
			if d, ok := retryAfter(out.header, end); ok {
				delay = min(d, s.backoffMax)
			}
		}
		next := end.Add(delay)
		switch {
		case row.Attempts >= s.maxAttempts:
			w.finish(ctx, log, row, store.Failed, end, errText, "exhausted", &w.stats.exhausted, att)
		case !row.ExpiresAt.IsZero() && next.After(row.ExpiresAt):
			w.finish(ctx, log, row, store.Failed, end, errText, "expired", &w.stats.expired, att)
		default:
			w.retry(ctx, log, row, next, errText, delay, att)
		}
	}
}

// WebPushScheme starts the Endpoint of a Web Push row: "webpush:" and the
// ID of the device, whose subscription is read when the row is sent.
const WebPushScheme = "webpush:"

// ErrGone marks a notification whose recipient no longer exists: retrying
// cannot help.
var ErrGone = errors.New("notification recipient is gone")

// errBadEndpoint marks an Endpoint that is not a usable URL; retrying
// cannot help.
var errBadEndpoint = errors.New("bad notification endpoint")

// post sends row's notification and reads (at most bodyLimit of) the
// response.
func (w *Worker) post(ctx context.Context, s settings, row store.Outbound) outcome {
	timeout := s.attemptTimeout
	if w.RowTimeout != nil {
		if d := w.RowTimeout(row); d > 0 && d < timeout {
			timeout = d
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if strings.HasPrefix(row.Endpoint, WebPushScheme) {
		if w.WebPush == nil {
			return outcome{err: fmt.Errorf("%w: Web Push is off", errBadEndpoint)}
		}
		resp, err := w.WebPush(ctx, row, w.HTTP)
		if err != nil {
			return outcome{err: err}
		}
		return read(resp)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, row.Endpoint, bytes.NewReader(row.Payload))
	if err != nil {
		return outcome{err: fmt.Errorf("%w: %w", errBadEndpoint, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	if w.Authorize == nil || !w.Authorize(row, req) {
		// CIBA Core §10.2: the client_notification_token as a Bearer
		// token (RFC 6750 §2.1).
		req.Header.Set("Authorization", "Bearer "+row.Token)
	}
	resp, err := w.HTTP.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	return read(resp)
}

// read ends resp, keeping its status and header.
func read(resp *http.Response) outcome {
	defer resp.Body.Close()
	// The body is ignored, but reading what little there usually is lets
	// the connection be reused. An error here does not change the
	// outcome: the status is what the client answered.
	io.Copy(io.Discard, io.LimitReader(resp.Body, bodyLimit))
	return outcome{status: resp.StatusCode, header: resp.Header}
}

// retryable reports whether another attempt may succeed: the request
// never got an answer, or the answer says "later" (RFC 9110 §15.5.9 408,
// RFC 6585 §4 429, and every 5xx).
func retryable(o outcome) bool {
	if o.err != nil {
		return true
	}
	return o.status == http.StatusRequestTimeout || o.status == http.StatusTooManyRequests || o.status >= 500
}

// describe is the LastError text of an attempt that did not deliver.
func describe(o outcome) string {
	switch {
	case o.err != nil:
		return o.err.Error()
	case o.status < 200 || o.status >= 300:
		return fmt.Sprintf("HTTP %d", o.status)
	}
	return ""
}

// redact removes the row's secrets from text. Transport errors do not
// carry headers or bodies, but an error that quoted them would otherwise
// reach the logs and the store, where they must never be.
func redact(text string, row store.Outbound) string {
	if row.Token != "" {
		text = strings.ReplaceAll(text, row.Token, "[redacted]")
	}
	if len(row.Payload) > 0 {
		text = strings.ReplaceAll(text, string(row.Payload), "[redacted]")
	}
	return text
}

// finish counts the outcome in n and records row's final state. The
// count comes first: it counts what happened, even if recording it fails
// and the row is attempted again. The audit trail gets the events of
// the attempt (if any) and the outcome, after the log line.
func (w *Worker) finish(ctx context.Context, log *slog.Logger, row store.Outbound, state store.OutboundState, at time.Time, lastError, result string, n *atomic.Int64, attempt ...auditEvent) {
	n.Add(1)
	level := slog.LevelInfo
	if state == store.Failed {
		level = slog.LevelWarn
	}
	// The outcome and its audit events commit together: one write.
	events := w.auditEvents(ctx, row, append(attempt, outcomeEvent(row, state, at, result)))
	if err := w.Store.FinishOutbound(ctx, row.ID, state, at, lastError, events...); err != nil {
		// The lease will lapse and the row be attempted again; if another
		// worker already finished it (ErrNotFound), there is nothing to do.
		log.ErrorContext(ctx, "record notification outcome", "result", result, "error", lastError, "err", err)
		w.audit(ctx, log, row, attempt...)
		return
	}
	if lastError == "" {
		log.Log(ctx, level, "notification "+result, "result", result)
		return
	}
	log.Log(ctx, level, "notification "+result, "result", result, "error", lastError)
}

// retry schedules row's next attempt at next, delay from now, and
// records the attempt in the audit trail.
func (w *Worker) retry(ctx context.Context, log *slog.Logger, row store.Outbound, next time.Time, lastError string, delay time.Duration, attempt ...auditEvent) {
	w.stats.retried.Add(1)
	if err := w.Store.RetryOutbound(ctx, row.ID, next, lastError, w.auditEvents(ctx, row, attempt)...); err != nil {
		log.ErrorContext(ctx, "record notification retry", "error", lastError, "err", err)
		w.audit(ctx, log, row, attempt...)
		return
	}
	log.InfoContext(ctx, "notification retry", "result", "retry", "error", lastError, "retry_in", delay)
}
