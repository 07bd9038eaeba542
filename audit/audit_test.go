package audit_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/backchannel/backchannel/audit"
	"github.com/backchannel/backchannel/store"
)

func TestEvent(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("JST", 9*3600))
	ref := audit.Ref{RequestID: "r1", ClientID: "c1", Subject: "u1", DeviceID: "d1"}
	e := audit.Event(audit.RequestApproved, at, ref, map[string]any{"acr": "x", "amr": []string{"hwk"}})
	want := store.AuditEvent{ID: e.ID, At: at.UTC(), Kind: "request.approved", RequestID: "r1", ClientID: "c1", Subject: "u1", DeviceID: "d1"}
	got := e
	got.Detail = nil
	if !got.At.Equal(want.At) || got.At.Location() != time.UTC || got.Kind != want.Kind || got.RequestID != "r1" || got.ClientID != "c1" || got.Subject != "u1" || got.DeviceID != "d1" {
		t.Errorf("Event = %+v, want %+v", got, want)
	}
	var detail map[string]any
	if err := json.Unmarshal(e.Detail, &detail); err != nil || detail["acr"] != "x" {
		t.Errorf("Event detail = %s, %v", e.Detail, err)
	}
	if other := audit.Event(audit.RequestApproved, at, ref, nil); other.ID == e.ID || other.Detail != nil {
		t.Errorf("a second Event = %+v: want another ID and no detail", other)
	}
	// A detail that does not encode is dropped, not an error.
	if bad := audit.Event(audit.RequestShown, at, ref, map[string]any{"f": func() {}}); bad.Detail != nil {
		t.Errorf("Event with an unencodable detail = %s, want none", bad.Detail)
	}
}

func TestOnce(t *testing.T) {
	a := audit.Once(audit.Event(audit.RequestShown, time.Now(), audit.Ref{}, nil), "r1:d1")
	b := audit.Once(audit.Event(audit.RequestShown, time.Now(), audit.Ref{}, nil), "r1:d1")
	c := audit.Once(audit.Event(audit.DeviceNotified, time.Now(), audit.Ref{}, nil), "r1:d1")
	if a.ID != b.ID || a.ID == c.ID {
		t.Errorf("Once IDs = %q, %q, %q: want the first two equal, the third different", a.ID, b.ID, c.ID)
	}
}

func TestKindsAreDistinct(t *testing.T) {
	seen := map[audit.Kind]bool{}
	for _, k := range audit.Kinds {
		if seen[k] {
			t.Errorf("kind %q listed twice", k)
		}
		seen[k] = true
	}
	if len(seen) != 11 {
		t.Errorf("%d kinds, want 11", len(seen))
	}
}
