package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel/store"
)

// fullOutbound returns a queued row of request requestID with every field
// set, due at t0.
func fullOutbound(id, requestID string) store.Outbound {
	return store.Outbound{
		ID:            id,
		RequestID:     requestID,
		ClientID:      "client-1",
		Endpoint:      "https://rp.example/cb/" + id,
		Token:         "notification token of " + requestID,
		Payload:       json.RawMessage(`{"auth_req_id":"auth_req_id of ` + requestID + `"}`),
		State:         store.Queued,
		Attempts:      3,
		NextAttemptAt: t0,
		ExpiresAt:     at(time.Hour),
		LastError:     "503 Service Unavailable",
		CreatedAt:     at(-time.Minute),
		DoneAt:        at(-time.Second),
	}
}

// queue creates a request with the given ID and the rows os as the
// effects of an update of it.
func queue(t *testing.T, s store.Store, requestID string, os ...store.Outbound) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.Request(ctx, requestID); err != nil {
		must(t, s.CreateRequest(ctx, fullRequest(requestID, "alice")))
	}
	_, err := s.UpdateRequest(ctx, requestID, func(*store.Request) (store.Effects, error) {
		return store.Effects{Outbound: os}, nil
	})
	if err != nil {
		t.Fatalf("UpdateRequest(%q) queuing %d rows = %v", requestID, len(os), err)
	}
}

// wantOutbound checks that row want.ID is stored as want.
func wantOutbound(t *testing.T, s store.Store, want store.Outbound) {
	t.Helper()
	got, err := s.Outbound(t.Context(), want.ID)
	if err != nil {
		t.Errorf("Outbound(%q) = %v", want.ID, err)
		return
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Outbound(%q) mismatch (-want +got):\n%s", want.ID, d)
	}
}

func testOutboundRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	full := fullOutbound("o1", "r1")
	bare := store.Outbound{ID: "o2", State: store.Queued, Payload: json.RawMessage{}}
	queue(t, s, "r1", full, bare)
	wantOutbound(t, s, full)
	bare.Payload = nil // empty JSON reads as nil
	wantOutbound(t, s, bare)

	_, err := s.Outbound(ctx, "nothing")
	wantErr(t, `Outbound("nothing")`, err, store.ErrNotFound)
	got, err := s.OutboundByRequest(ctx, "nothing")
	if err != nil || got != nil {
		t.Errorf(`OutboundByRequest("nothing") = %v, %v, want nil, nil`, got, err)
	}
}

func testOutboundByRequest(t *testing.T, s store.Store) {
	ctx := t.Context()
	row := func(id, requestID string, created time.Duration) store.Outbound {
		o := fullOutbound(id, requestID)
		o.CreatedAt = at(created)
		return o
	}
	// Created out of order, and across two updates.
	queue(t, s, "r1", row("late", "r1", 3*time.Second), row("early", "r1", time.Second))
	queue(t, s, "r2", row("other", "r2", 2*time.Second))
	queue(t, s, "r1", row("middle", "r1", 2*time.Second))

	got, err := s.OutboundByRequest(ctx, "r1")
	if err != nil {
		t.Fatalf(`OutboundByRequest("r1") = %v`, err)
	}
	want := []store.Outbound{row("early", "r1", time.Second), row("middle", "r1", 2*time.Second), row("late", "r1", 3*time.Second)}
	if d := diff(want, got); d != "" {
		t.Errorf(`OutboundByRequest("r1") mismatch (-want +got):\n%s`, d)
	}
}

func testOutboundDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := fullOutbound("o1", "r1")
	queue(t, s, "r1", first)
	before, err := s.Request(ctx, "r1")
	must(t, err)

	tok := fullToken("access", "r1")
	fresh := fullOutbound("fresh", "r1")
	_, err = s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
		r.State = store.Approved
		return store.Effects{Tokens: []store.Token{tok}, Outbound: []store.Outbound{fresh, fullOutbound("o1", "r1")}}, nil
	})
	wantErr(t, "UpdateRequest queuing an existing outbound ID", err, store.ErrConflict)
	_, err = s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
		r.State = store.Approved
		return store.Effects{Outbound: []store.Outbound{fullOutbound("again", "r1"), fullOutbound("again", "r1")}}, nil
	})
	wantErr(t, "UpdateRequest queuing one outbound ID twice", err, store.ErrConflict)

	got, err := s.Request(ctx, "r1")
	must(t, err)
	if d := diff(before, got); d != "" {
		t.Errorf("Request after failed updates (-want +got):\n%s", d)
	}
	for _, id := range []string{"fresh", "again"} {
		_, err := s.Outbound(ctx, id)
		wantErr(t, fmt.Sprintf("Outbound(%q) of a failed update", id), err, store.ErrNotFound)
	}
	_, err = s.Token(ctx, tok.Hash)
	wantErr(t, "Token of a failed update", err, store.ErrNotFound)
	wantOutbound(t, s, first)
}

// testOutboundWithUpdate checks that the rows an update queues are saved
// with the request change, and not at all when decide fails.
func testOutboundWithUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := fullRequest("r1", "alice")
	r.DeliveryMode = store.Ping
	r.DecidedAt, r.DeviceID, r.ACR, r.AMR, r.Decision = time.Time{}, "", "", nil, ""
	must(t, s.CreateRequest(ctx, r))

	failed := fullOutbound("failed", "r1")
	_, err := s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
		r.State, r.NotificationToken, r.AuthReqID = store.Approved, "", ""
		return store.Effects{Outbound: []store.Outbound{failed}}, &decideError{"not yet"}
	})
	var de *decideError
	if !errors.As(err, &de) {
		t.Errorf("UpdateRequest with a failing decide = %v, want the *decideError", err)
	}
	_, err = s.Outbound(ctx, "failed")
	wantErr(t, "Outbound queued by a failed decide", err, store.ErrNotFound)
	got, err := s.Request(ctx, "r1")
	must(t, err)
	if d := diff(r, got); d != "" {
		t.Errorf("Request after a failed decide (-want +got):\n%s", d)
	}

	// The ping approval: the request drops its notification secrets and
	// the outbox row takes them, together.
	o := fullOutbound("ping", "r1")
	o.Token = r.NotificationToken
	o.Attempts, o.LastError, o.DoneAt = 0, "", time.Time{}
	want := r
	want.State, want.NotificationToken, want.AuthReqID = store.Approved, "", ""
	want.DecidedAt, want.DeviceID = at(time.Minute), "device-1"
	_, err = s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
		o.Payload = json.RawMessage(`{"auth_req_id":"` + r.AuthReqID + `"}`)
		*r = want
		return store.Effects{Outbound: []store.Outbound{o}}, nil
	})
	if err != nil {
		t.Fatalf("UpdateRequest approving = %v", err)
	}
	got, err = s.Request(ctx, "r1")
	must(t, err)
	if d := diff(want, got); d != "" {
		t.Errorf("Request after approval (-want +got):\n%s", d)
	}
	wantOutbound(t, s, o)
	rows, err := s.OutboundByRequest(ctx, "r1")
	if err != nil || len(rows) != 1 {
		t.Errorf(`OutboundByRequest("r1") = %d rows, %v, want 1`, len(rows), err)
	}
}

// queued returns a bare queued row due at next and created at created.
func queued(id string, next, created time.Time) store.Outbound {
	return store.Outbound{ID: id, RequestID: "r1", State: store.Queued, NextAttemptAt: next, CreatedAt: created,
		Token: "token of " + id, Payload: json.RawMessage(`{"id":"` + id + `"}`)}
}

// claimed returns o as ClaimOutbound leaves it at now with lease.
func claimed(o store.Outbound, now time.Time, lease time.Duration) store.Outbound {
	o.Attempts++
	o.NextAttemptAt = now.Add(lease)
	return o
}

func testClaimOutbound(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Hour)
	const lease = time.Minute
	delivered := queued("delivered", at(0), at(0))
	delivered.State, delivered.DoneAt, delivered.Token, delivered.Payload = store.Delivered, at(time.Second), "", nil
	failed := queued("failed", at(0), at(0))
	failed.State, failed.DoneAt, failed.Token, failed.Payload = store.Failed, at(time.Second), "", nil
	rows := []store.Outbound{
		queued("due-now", now, at(0)),
		queued("due-late", at(10*time.Minute), at(5*time.Minute)),
		queued("due-early-newer", at(5*time.Minute), at(2*time.Minute)),
		queued("future", now.Add(time.Microsecond), at(0)),
		queued("due-early-older", at(5*time.Minute), at(time.Minute)),
		queued("never-tried", time.Time{}, at(3*time.Minute)), // zero NextAttemptAt: due at once
		delivered,
		failed,
	}
	rows[2].Attempts = 4
	rows[0].ExpiresAt = at(time.Minute) // past expiry: claimed, for the worker to fail it
	queue(t, s, "r1", rows...)
	byID := map[string]store.Outbound{}
	for _, o := range rows {
		byID[o.ID] = o
	}

	claim := func(now time.Time, limit int, wantIDs ...string) {
		t.Helper()
		got, err := s.ClaimOutbound(ctx, now, lease, limit)
		if err != nil {
			t.Fatalf("ClaimOutbound(%v, %d) = %v", now, limit, err)
		}
		var want []store.Outbound
		for _, id := range wantIDs {
			byID[id] = claimed(byID[id], now, lease)
			want = append(want, byID[id])
		}
		if d := diff(want, got); d != "" {
			t.Errorf("ClaimOutbound(%v, %d) mismatch (-want +got):\n%s", now, limit, d)
		}
	}
	claim(now, 0)
	claim(now, 3, "never-tried", "due-early-older", "due-early-newer")
	claim(now, 3, "due-late", "due-now")
	claim(now, 3) // the rest are leased or not due
	claim(now.Add(lease-time.Microsecond), 10, "future")
	// Once the lease has run out, the claimed rows are due again.
	// They are equally due now, so they come by creation.
	claim(now.Add(lease), 10, "due-now", "due-early-older", "due-early-newer", "never-tried", "due-late")
	for _, o := range byID {
		wantOutbound(t, s, o)
	}
}

func testClaimOutboundExactlyOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n, workers = 50, 8
	var rows []store.Outbound
	for i := range n {
		rows = append(rows, queued(fmt.Sprint("o", i), at(time.Duration(i)*time.Second), t0))
	}
	queue(t, s, "r1", rows...)
	now := at(time.Hour)
	var mu sync.Mutex
	count := map[string]int{}
	claims := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				got, err := s.ClaimOutbound(ctx, now, time.Hour, 3)
				if err != nil {
					t.Errorf("ClaimOutbound = %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, o := range got {
					count[o.ID]++
					claims++
					if o.Attempts != 1 {
						t.Errorf("claimed %s with Attempts = %d, want 1", o.ID, o.Attempts)
					}
				}
				stop := claims > n // a row was claimed twice; without a lease, forever
				mu.Unlock()
				if stop {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, o := range rows {
		if c := count[o.ID]; c != 1 {
			t.Errorf("row %s claimed %d times, want 1", o.ID, c)
		}
	}
	if len(count) != n {
		t.Errorf("%d rows claimed, want %d", len(count), n)
	}
}

func testRetryOutbound(t *testing.T, s store.Store) {
	ctx := t.Context()
	o := fullOutbound("o1", "r1")
	queue(t, s, "r1", o, fullOutbound("o2", "r1"))
	next := at(2 * time.Hour)
	if err := s.RetryOutbound(ctx, "o1", next, "dial tcp: connection refused"); err != nil {
		t.Fatalf(`RetryOutbound("o1") = %v`, err)
	}
	o.NextAttemptAt, o.LastError = next, "dial tcp: connection refused"
	wantOutbound(t, s, o)
	wantOutbound(t, s, fullOutbound("o2", "r1"))

	got, err := s.ClaimOutbound(ctx, next.Add(-time.Microsecond), time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].ID != "o2" {
		t.Errorf("ClaimOutbound before the retry time = %v, %v, want only o2", got, err)
	}
	got, err = s.ClaimOutbound(ctx, next, time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].ID != "o1" {
		t.Errorf("ClaimOutbound at the retry time = %v, %v, want o1", got, err)
	}

	wantErr(t, `RetryOutbound("nothing")`, s.RetryOutbound(ctx, "nothing", next, ""), store.ErrNotFound)
	must(t, s.FinishOutbound(ctx, "o2", store.Delivered, next, ""))
	wantErr(t, `RetryOutbound("o2") after FinishOutbound`, s.RetryOutbound(ctx, "o2", next, "late"), store.ErrNotFound)
}

func testFinishOutbound(t *testing.T, s store.Store) {
	ctx := t.Context()
	queue(t, s, "r1", fullOutbound("o1", "r1"), fullOutbound("o2", "r1"), fullOutbound("o3", "r1"))
	for _, tt := range []struct {
		id        string
		state     store.OutboundState
		lastError string
	}{
		{"o1", store.Delivered, ""},
		{"o2", store.Failed, "expired after 5 attempts: 503 Service Unavailable"},
	} {
		done := at(3 * time.Hour)
		if err := s.FinishOutbound(ctx, tt.id, tt.state, done, tt.lastError); err != nil {
			t.Fatalf("FinishOutbound(%q, %q) = %v", tt.id, tt.state, err)
		}
		want := fullOutbound(tt.id, "r1")
		want.State, want.DoneAt, want.LastError, want.Token, want.Payload = tt.state, done, tt.lastError, "", nil
		wantOutbound(t, s, want)

		call := fmt.Sprintf("FinishOutbound(%q) again", tt.id)
		wantErr(t, call, s.FinishOutbound(ctx, tt.id, store.Delivered, at(4*time.Hour), "again"), store.ErrNotFound)
		wantOutbound(t, s, want)
	}
	// Finished rows are never claimed.
	got, err := s.ClaimOutbound(ctx, at(24*time.Hour), time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].ID != "o3" {
		t.Errorf("ClaimOutbound = %v, %v, want only o3", got, err)
	}

	wantErr(t, `FinishOutbound("nothing")`, s.FinishOutbound(ctx, "nothing", store.Delivered, t0, ""), store.ErrNotFound)
	if err := s.FinishOutbound(ctx, "o3", store.Queued, t0, ""); err == nil {
		t.Errorf(`FinishOutbound("o3", queued) = nil, want an error`)
	}
	want := claimed(fullOutbound("o3", "r1"), at(24*time.Hour), time.Minute)
	wantOutbound(t, s, want)
}

// testOutboundAudit checks that RetryOutbound and FinishOutbound append
// their audit events in their own transaction: saved with the change,
// and not at all when there is no queued row to change.
func testOutboundAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	queue(t, s, "r1", fullOutbound("o1", "r1"))
	retried, finished := fullAudit("e1", "r1", time.Second), fullAudit("e2", "r1", 2*time.Second)
	must(t, s.RetryOutbound(ctx, "o1", at(time.Hour), "503", retried))
	must(t, s.FinishOutbound(ctx, "o1", store.Delivered, at(2*time.Hour), "", finished))
	wantErr(t, "FinishOutbound of a finished row", s.FinishOutbound(ctx, "o1", store.Delivered, at(3*time.Hour), "", fullAudit("e3", "r1", 3*time.Second)), store.ErrNotFound)
	wantErr(t, "RetryOutbound of a finished row", s.RetryOutbound(ctx, "o1", at(3*time.Hour), "", fullAudit("e4", "r1", 4*time.Second)), store.ErrNotFound)
	got, err := s.AuditEvents(ctx, store.AuditQuery{RequestID: "r1"})
	must(t, err)
	if d := diff([]store.AuditEvent{retried, finished}, got); d != "" {
		t.Errorf("audit events (-want +got):\n%s", d)
	}
	// An event that cannot be saved (a repeated ID) saves nothing else.
	queue(t, s, "r2", fullOutbound("o2", "r2"))
	err = s.FinishOutbound(ctx, "o2", store.Delivered, at(time.Hour), "", fullAudit("e1", "r2", time.Second))
	wantErr(t, "FinishOutbound with an event ID that exists", err, store.ErrConflict)
	wantOutbound(t, s, fullOutbound("o2", "r2"))
}

func testOutboxCanceledContext(t *testing.T, s store.Store) {
	queue(t, s, "r1", fullOutbound("o1", "r1"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if got, err := s.ClaimOutbound(ctx, at(time.Hour), time.Minute, 10); err == nil {
		t.Errorf("ClaimOutbound(canceled ctx) = %v, nil error, want an error", got)
	}
	if err := s.RetryOutbound(ctx, "o1", at(time.Hour), "x"); err == nil {
		t.Errorf("RetryOutbound(canceled ctx) = nil error, want one")
	}
	if err := s.FinishOutbound(ctx, "o1", store.Delivered, at(time.Hour), ""); err == nil {
		t.Errorf("FinishOutbound(canceled ctx) = nil error, want one")
	}
	wantOutbound(t, s, fullOutbound("o1", "r1"))
}
