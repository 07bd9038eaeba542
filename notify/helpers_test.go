package notify_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backchannel/backchannel/egress"
	"github.com/backchannel/backchannel/notify"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/store/sqlite"
)

// t0 is the start of the fake clock of tests that control time through
// Worker.Now: a whole second, as HTTP-dates have no fractions.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// clock is a settable Worker.Now.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) set(t time.Time) { c.t.Store(&t) }
func (c *clock) now() time.Time  { return *c.t.Load() }

// queue queues a notification for endpoint the way package ciba does: a
// request whose UpdateRequest decision creates the outbound row, and
// returns the row. Zero fields of o get defaults: the token
// "tok-<id>", a ping payload naming the row, due at now, expiring an hour
// after now.
func queue(t testing.TB, st store.Store, now time.Time, o store.Outbound) store.Outbound {
	t.Helper()
	if o.ID == "" {
		o.ID = "ob-" + rand.Text()
	}
	if o.RequestID == "" {
		o.RequestID = "rq-" + rand.Text()
	}
	if o.ClientID == "" {
		o.ClientID = "client-1"
	}
	if o.Token == "" {
		o.Token = "tok-" + o.ID
	}
	if o.Payload == nil {
		o.Payload = json.RawMessage(fmt.Sprintf(`{"auth_req_id":"areq-%s"}`, o.ID))
	}
	o.State = store.Queued
	if o.NextAttemptAt.IsZero() {
		o.NextAttemptAt = now
	}
	if o.ExpiresAt.IsZero() {
		o.ExpiresAt = now.Add(time.Hour)
	}
	o.CreatedAt = now
	ctx := context.Background()
	err := st.CreateRequest(ctx, store.Request{
		ID: o.RequestID, ClientID: o.ClientID, Subject: "alice", State: store.Pending,
		DeliveryMode: store.Ping, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		Interval: 5 * time.Second, NextPollAt: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.UpdateRequest(ctx, o.RequestID, func(r *store.Request) (store.Effects, error) {
		r.State = store.Approved
		return store.Effects{Outbound: []store.Outbound{o}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// hit is one request a receiver got.
type hit struct {
	Method, Path string
	Header       http.Header
	Body         string
	At           time.Time
}

// receiver is an httptest server on 127.0.0.1 that records every request
// and answers as respond says (by default 204).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	hits    []hit
	respond func(n int, w http.ResponseWriter, r *http.Request) // n counts from 1
	arrived chan struct{}                                       // one value per request, when non-nil
}

func newReceiver(t testing.TB, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{respond: respond, arrived: make(chan struct{}, 1000)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{r.Method, r.URL.Path, r.Header.Clone(), string(body), time.Now()})
		n := len(rc.hits)
		rc.mu.Unlock()
		select {
		case rc.arrived <- struct{}{}:
		default:
		}
		if rc.respond != nil {
			rc.respond(n, w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) Hits() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// status answers every request with code.
func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// devClient is the egress client of --dev, which may reach the plain-http
// receivers on 127.0.0.1.
func devClient() *http.Client {
	return egress.NewClient(egress.Policy{AllowInsecure: true}, 30*time.Second)
}

// start runs w until the test ends, and fails the test if Run fails.
func start(t testing.TB, w *notify.Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
}

// waitRow polls row id until ok accepts it or timeout passes.
func waitRow(t testing.TB, st store.Store, id string, timeout time.Duration, ok func(store.Outbound) bool) store.Outbound {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		o, err := st.Outbound(context.Background(), id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if err == nil && ok(o) {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("row %s after %v: %+v", id, timeout, o)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func done(o store.Outbound) bool { return o.State != store.Queued }

// retried reports whether an attempt failed and was rescheduled.
func retried(o store.Outbound) bool { return o.State == store.Queued && o.LastError != "" }
