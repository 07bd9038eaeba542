package housekeeping_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel/housekeeping"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/store/sqlite"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openStore(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "backchannel.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// seed creates n requests that expired at expiredAt, and n audit events
// at auditAt, with IDs starting with prefix.
func seed(t *testing.T, s store.Store, prefix string, n int, expiredAt, auditAt time.Time) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		h := sha256.Sum256([]byte(id))
		err := s.CreateRequest(t.Context(), store.Request{
			ID: id, AuthReqHash: h[:], ClientID: "c1", Subject: "u1",
			State: store.Pending, Scopes: []string{"openid"}, DeliveryMode: store.Poll,
			CreatedAt: expiredAt.Add(-5 * time.Minute), ExpiresAt: expiredAt,
			Interval: 5 * time.Second, NextPollAt: expiredAt.Add(-5 * time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AppendAudit(t.Context(), store.AuditEvent{ID: "a-" + id, At: auditAt, Kind: "request.created", RequestID: id, ClientID: "c1", Subject: "u1"}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPurgeOnce(t *testing.T) {
	tests := []struct {
		name           string
		retention      time.Duration
		auditRetention time.Duration
		batch          int
		want           store.PurgeCounts
	}{
		// "old" expired 2 days ago (audit 100 days ago), "recent" 2
		// hours ago (audit 2 hours ago), "live" expires in an hour.
		{"defaults", 0, 0, 0, store.PurgeCounts{Requests: 7}},
		{"batches smaller than the backlog", 0, 0, 2, store.PurgeCounts{Requests: 7}},
		{"batch equal to the backlog", 0, 0, 7, store.PurgeCounts{Requests: 7}},
		{"short retention", time.Hour, 0, 3, store.PurgeCounts{Requests: 10}},
		{"audit retention", 0, 90 * 24 * time.Hour, 2, store.PurgeCounts{Requests: 7, Audit: 7}},
		{"short audit retention", 0, time.Hour, 4, store.PurgeCounts{Requests: 7, Audit: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			seed(t, s, "old", 7, now.Add(-48*time.Hour), now.Add(-100*24*time.Hour))
			seed(t, s, "recent", 3, now.Add(-2*time.Hour), now.Add(-2*time.Hour))
			seed(t, s, "live", 2, now.Add(time.Hour), now)
			p := &housekeeping.Purger{Store: s, Now: func() time.Time { return now },
				Retention: tt.retention, AuditRetention: tt.auditRetention, Batch: tt.batch}
			got, err := p.PurgeOnce(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PurgeOnce() = %+v, want %+v", got, tt.want)
			}
			if _, err := s.Request(t.Context(), "live-1"); err != nil {
				t.Errorf("a live request was purged: %v", err)
			}
			again, err := p.PurgeOnce(t.Context())
			if err != nil || again.Total() != 0 {
				t.Errorf("second PurgeOnce() = %+v, %v; want nothing", again, err)
			}
		})
	}
}

func TestPurgeOnceStoreClosed(t *testing.T) {
	s := openStore(t)
	s.Close()
	p := &housekeeping.Purger{Store: s, Now: func() time.Time { return now }}
	if _, err := p.PurgeOnce(t.Context()); err == nil {
		t.Error("PurgeOnce() on a closed store = nil error")
	}
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestRunPurgesAndLogs(t *testing.T) {
	s := openStore(t)
	seed(t, s, "old", 3, now.Add(-48*time.Hour), now)
	var logs syncBuffer
	p := &housekeeping.Purger{
		Store: s, Now: func() time.Time { return now }, Interval: 10 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "msg=purged") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
	if got := logs.String(); !strings.Contains(got, "level=INFO msg=purged requests=3 ") {
		t.Errorf("log = %q, want an Info line of 3 purged requests", got)
	}
	if strings.Count(logs.String(), "msg=purged") != 1 {
		t.Errorf("log = %q, want one purge logged: empty purges are not", logs.String())
	}
}
