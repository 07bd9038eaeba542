package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/backchannel/backchannel/store"
)

func fullAudit(id, requestID string, d time.Duration) store.AuditEvent {
	return store.AuditEvent{
		ID:        id,
		At:        at(d),
		Kind:      "request.approved",
		RequestID: requestID,
		ClientID:  "client-1",
		Subject:   "alice",
		DeviceID:  "device-1",
		Detail:    json.RawMessage(`{"acr":"urn:example:acr:high","amr":["hwk"]}`),
	}
}

func testAuditRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	a1, a2 := fullAudit("e1", "r1", time.Second), fullAudit("e2", "r1", 2*time.Second)
	a2.Detail = nil
	other := fullAudit("e3", "r2", 1500*time.Millisecond)
	other.Subject, other.ClientID = "bob", "client-2"
	must(t, s.AppendAudit(ctx, a2, a1)) // order of appending does not matter, time does
	must(t, s.AppendAudit(ctx, other))
	got, err := s.AuditEvents(ctx, store.AuditQuery{RequestID: "r1"})
	must(t, err)
	if d := diff([]store.AuditEvent{a1, a2}, got); d != "" {
		t.Errorf("AuditEvents(request r1) (-want +got):\n%s", d)
	}
	got, err = s.AuditEvents(ctx, store.AuditQuery{Subject: "alice"})
	must(t, err)
	if len(got) != 2 {
		t.Errorf("AuditEvents(subject alice) = %d events, want 2", len(got))
	}
	got, err = s.AuditEvents(ctx, store.AuditQuery{ClientID: "client-2"})
	must(t, err)
	if d := diff([]store.AuditEvent{other}, got); d != "" {
		t.Errorf("AuditEvents(client-2) (-want +got):\n%s", d)
	}
	got, err = s.AuditEvents(ctx, store.AuditQuery{Subject: "alice", Since: at(2 * time.Second)})
	must(t, err)
	if d := diff([]store.AuditEvent{a2}, got); d != "" {
		t.Errorf("AuditEvents(since) (-want +got):\n%s", d)
	}
	got, err = s.AuditEvents(ctx, store.AuditQuery{Limit: 2})
	must(t, err)
	if d := diff([]store.AuditEvent{a1, other}, got); d != "" {
		t.Errorf("AuditEvents(limit 2) (-want +got):\n%s", d)
	}
	wantErr(t, "AppendAudit of a duplicate ID", s.AppendAudit(ctx, a1), store.ErrConflict)
}

func testAuditWithUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateRequest(ctx, fullRequest("r1", "alice")))
	ev := fullAudit("e1", "r1", time.Second)
	_, err := s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
		return store.Effects{Audit: []store.AuditEvent{ev}}, errTestChange
	})
	wantErr(t, "UpdateRequest failing", err, errTestChange)
	got, _ := s.AuditEvents(ctx, store.AuditQuery{RequestID: "r1"})
	if len(got) != 0 {
		t.Fatalf("a failed update saved %d audit events", len(got))
	}
	_, err = s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
		r.State = store.Approved
		return store.Effects{Audit: []store.AuditEvent{ev}}, nil
	})
	must(t, err)
	got, _ = s.AuditEvents(ctx, store.AuditQuery{RequestID: "r1"})
	if d := diff([]store.AuditEvent{ev}, got); d != "" {
		t.Errorf("audit after update (-want +got):\n%s", d)
	}
}

func testPurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	old := fullRequest("old", "alice") // expires at(5m)
	fresh := fullRequest("fresh", "alice")
	fresh.AuthReqHash = hash("fresh")
	fresh.ExpiresAt = at(2 * time.Hour)
	must(t, s.CreateRequest(ctx, old))
	must(t, s.CreateRequest(ctx, fresh))
	oldTok, freshTok := fullToken("old", "old"), fullToken("fresh", "fresh")
	oldTok.ExpiresAt, freshTok.ExpiresAt = at(10*time.Minute), at(2*time.Hour)
	_, err := s.UpdateRequest(ctx, "fresh", func(*store.Request) (store.Effects, error) {
		return store.Effects{Tokens: []store.Token{oldTok, freshTok}}, nil
	})
	must(t, err)
	must(t, s.CreateEnrolment(ctx, store.Enrolment{CodeHash: hash("old code"), Subject: "alice", ExpiresAt: at(time.Minute)}))
	must(t, s.CreateEnrolment(ctx, store.Enrolment{CodeHash: hash("new code"), Subject: "alice", ExpiresAt: at(3 * time.Hour)}))
	must(t, s.AppendAudit(ctx, fullAudit("a-old", "old", 0), fullAudit("a-new", "fresh", 90*time.Minute)))

	before := at(time.Hour)
	c, err := s.Purge(ctx, before, at(time.Hour), 100)
	must(t, err)
	want := store.PurgeCounts{Requests: 1, Tokens: 1, Enrolments: 1, Audit: 1}
	if d := diff(want, c); d != "" {
		t.Errorf("Purge counts (-want +got):\n%s", d)
	}
	if _, err := s.Request(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired request still there: %v", err)
	}
	if _, err := s.Request(ctx, "fresh"); err != nil {
		t.Errorf("fresh request purged: %v", err)
	}
	if _, err := s.Token(ctx, freshTok.Hash); err != nil {
		t.Errorf("fresh token purged: %v", err)
	}
	if _, err := s.Token(ctx, oldTok.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired token still there: %v", err)
	}
	got, _ := s.AuditEvents(ctx, store.AuditQuery{})
	if len(got) != 1 || got[0].ID != "a-new" {
		t.Errorf("audit after purge = %v", got)
	}
	// Zero auditBefore keeps the audit trail; nothing else is left to go.
	c, err = s.Purge(ctx, before, time.Time{}, 100)
	must(t, err)
	if c.Total() != 0 {
		t.Errorf("second Purge = %+v, want nothing", c)
	}
}

func testPurgeBounded(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 7 {
		r := fullRequest("r"+string(rune('a'+i)), "alice")
		r.AuthReqHash = hash(r.ID)
		must(t, s.CreateRequest(ctx, r))
	}
	total := 0
	for range 4 {
		c, err := s.Purge(ctx, at(time.Hour), time.Time{}, 3)
		must(t, err)
		if c.Requests > 3 {
			t.Fatalf("Purge with limit 3 removed %d requests", c.Requests)
		}
		total += c.Requests
	}
	if total != 7 {
		t.Errorf("purged %d requests in batches, want 7", total)
	}
}

func testCreateRequestWithEffects(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := fullRequest("r1", "alice")
	ev := fullAudit("e1", "r1", time.Second)
	out := fullOutbound("o1", "r1")
	must(t, s.CreateRequest(ctx, r, store.Effects{Audit: []store.AuditEvent{ev}, Outbound: []store.Outbound{out}}))
	if got, err := s.AuditEvents(ctx, store.AuditQuery{RequestID: "r1"}); err != nil || diff([]store.AuditEvent{ev}, got) != "" {
		t.Errorf("audit after CreateRequest = %v, %v", got, err)
	}
	if got, err := s.Outbound(ctx, "o1"); err != nil || diff(out, got) != "" {
		t.Errorf("outbound after CreateRequest (-want +got):\n%s (err %v)", diff(out, got), err)
	}
	// A conflicting request saves none of its effects.
	again := fullRequest("r1", "alice")
	err := s.CreateRequest(ctx, again, store.Effects{Audit: []store.AuditEvent{fullAudit("e2", "r1", 2*time.Second)}})
	wantErr(t, `CreateRequest("r1") again with effects`, err, store.ErrConflict)
	if got, _ := s.AuditEvents(ctx, store.AuditQuery{RequestID: "r1"}); len(got) != 1 {
		t.Errorf("a failed CreateRequest saved audit events: %v", got)
	}
}

func testAppendAuditIfAbsent(t *testing.T, s store.Store) {
	ctx := t.Context()
	a1, a2 := fullAudit("e1", "r1", time.Second), fullAudit("e2", "r1", 2*time.Second)
	must(t, s.AppendAudit(ctx, a1))
	// a1 again, changed: the recorded one stays; a2 is new and recorded.
	changed := a1
	changed.Kind, changed.Detail = "request.shown", nil
	must(t, s.AppendAuditIfAbsent(ctx, changed, a2))
	must(t, s.AppendAuditIfAbsent(ctx, a2))
	must(t, s.AppendAuditIfAbsent(ctx))
	got, err := s.AuditEvents(ctx, store.AuditQuery{RequestID: "r1"})
	must(t, err)
	if d := diff([]store.AuditEvent{a1, a2}, got); d != "" {
		t.Errorf("AuditEvents after AppendAuditIfAbsent (-want +got):\n%s", d)
	}
	if err := s.AppendAuditIfAbsent(ctx, store.AuditEvent{ID: "e3"}); err == nil {
		t.Errorf("AppendAuditIfAbsent(event without Kind and At) = nil, want an error")
	}
}

func testOnceWithUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateRequest(ctx, fullRequest("r1", "alice")))
	must(t, s.CreateRequest(ctx, fullRequest("r2", "alice")))
	live := time.Now().Add(time.Hour)
	must(t, s.UseOnce(ctx, "used", live))
	// A live key fails the whole change: neither the request nor its
	// audit event is saved, and the other key is not recorded.
	_, err := s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
		r.State = store.Approved
		return store.Effects{
			Audit: []store.AuditEvent{fullAudit("e1", "r1", time.Second)},
			Once:  []store.Once{{Key: "fresh", ExpiresAt: live}, {Key: "used", ExpiresAt: live}},
		}, nil
	})
	wantErr(t, "UpdateRequest recording a used key", err, store.ErrConflict)
	if r, _ := s.Request(ctx, "r1"); r.State != store.Pending {
		t.Errorf("request after a conflicting key: State = %q, want %q", r.State, store.Pending)
	}
	if got, _ := s.AuditEvents(ctx, store.AuditQuery{RequestID: "r1"}); len(got) != 0 {
		t.Errorf("a conflicting key saved audit events: %v", got)
	}
	must(t, s.UseOnce(ctx, "fresh", live)) // not recorded by the failed change
	// Fresh keys commit with the change, and are then used.
	_, err = s.UpdateRequest(ctx, "r2", func(r *store.Request) (store.Effects, error) {
		r.State = store.Approved
		return store.Effects{Once: []store.Once{{Key: "k1", ExpiresAt: live}, {Key: "k2", ExpiresAt: live}}}, nil
	})
	must(t, err)
	if r, _ := s.Request(ctx, "r2"); r.State != store.Approved {
		t.Errorf("request after fresh keys: State = %q, want %q", r.State, store.Approved)
	}
	wantErr(t, "UseOnce(k1) after the change recorded it", s.UseOnce(ctx, "k1", live), store.ErrConflict)
	wantErr(t, "UseOnce(k2) after the change recorded it", s.UseOnce(ctx, "k2", live), store.ErrConflict)
	// An expired record of a key does not conflict.
	must(t, s.UseOnce(ctx, "old", time.Now().Add(-time.Second)))
	_, err = s.UpdateRequest(ctx, "r2", func(r *store.Request) (store.Effects, error) {
		return store.Effects{Once: []store.Once{{Key: "old", ExpiresAt: live}}}, nil
	})
	must(t, err)
	wantErr(t, "UseOnce(old) after the change renewed it", s.UseOnce(ctx, "old", live), store.ErrConflict)
}
