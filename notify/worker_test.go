package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/egress"
	"github.com/backchannel/backchannel/notify"
	"github.com/backchannel/backchannel/store"
)

func TestDelivers(t *testing.T) {
	st := openStore(t)
	rc := newReceiver(t, nil)
	w := &notify.Worker{Store: st, HTTP: devClient()}
	start(t, w)
	o := queue(t, st, time.Now(), store.Outbound{
		Endpoint: rc.URL + "/cb",
		Token:    "8d67dc78-7faa-4d41-aabd-67707b374255",
		Payload:  json.RawMessage(`{"auth_req_id":"1c266114-a1be-4252-8ad1-04986c5b9ac1"}`),
	})
	w.Wake()

	got := waitRow(t, st, o.ID, 5*time.Second, done)
	if got.State != store.Delivered || got.Attempts != 1 || got.LastError != "" {
		t.Errorf("row = %s after %d attempts (%q), want delivered after 1", got.State, got.Attempts, got.LastError)
	}
	if got.Token != "" || got.Payload != nil {
		t.Errorf("delivered row keeps Token %q, Payload %s; want both cleared", got.Token, got.Payload)
	}
	hits := rc.Hits()
	if len(hits) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(hits))
	}
	h := hits[0]
	want := hit{
		Method: http.MethodPost, Path: "/cb", Body: `{"auth_req_id":"1c266114-a1be-4252-8ad1-04986c5b9ac1"}`,
		Header: http.Header{
			"Content-Type":  {"application/json"},
			"Authorization": {"Bearer 8d67dc78-7faa-4d41-aabd-67707b374255"},
		},
	}
	h.At = time.Time{}
	for k := range h.Header {
		if k != "Content-Type" && k != "Authorization" {
			delete(h.Header, k)
		}
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("notification mismatch (-want +got):\n%s", diff)
	}
	if s := w.Stats(); s != (notify.Stats{Attempts: 1, Delivered: 1}) {
		t.Errorf("Stats() = %+v, want one attempt, one delivery", s)
	}
}

func TestRetriesThenDelivers(t *testing.T) {
	st := openStore(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"ignored":true}`))
	})
	w := &notify.Worker{
		Store: st, HTTP: devClient(),
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, PollInterval: 5 * time.Millisecond,
	}
	start(t, w)
	o := queue(t, st, time.Now(), store.Outbound{Endpoint: rc.URL})
	w.Wake()

	got := waitRow(t, st, o.ID, 5*time.Second, done)
	if got.State != store.Delivered || got.Attempts != 3 {
		t.Errorf("row = %s after %d attempts, want delivered after 3", got.State, got.Attempts)
	}
	if n := len(rc.Hits()); n != 3 {
		t.Errorf("receiver got %d requests, want 3 (two 503s, one success)", n)
	}
	if s := w.Stats(); s != (notify.Stats{Attempts: 3, Retried: 2, Delivered: 1}) {
		t.Errorf("Stats() = %+v", s)
	}
}

func TestFailsAtOnce(t *testing.T) {
	tests := []struct {
		name   string
		status int
	}{
		{"BadRequest", http.StatusBadRequest},
		{"Unauthorized", http.StatusUnauthorized},
		{"NotFound", http.StatusNotFound},
		{"Redirect", http.StatusFound},
		{"PermanentRedirect", http.StatusPermanentRedirect},
		{"NotModified", http.StatusNotModified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			var mu sync.Mutex
			targeted := 0
			target := newReceiver(t, func(int, http.ResponseWriter, *http.Request) {
				mu.Lock()
				targeted++
				mu.Unlock()
			})
			rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", target.URL+"/elsewhere")
				w.WriteHeader(tt.status)
			})
			w := &notify.Worker{Store: st, HTTP: devClient(), BackoffBase: time.Millisecond, PollInterval: 5 * time.Millisecond}
			start(t, w)
			o := queue(t, st, time.Now(), store.Outbound{Endpoint: rc.URL})
			w.Wake()

			got := waitRow(t, st, o.ID, 5*time.Second, done)
			wantErr := fmt.Sprintf("HTTP %d", tt.status)
			if got.State != store.Failed || got.Attempts != 1 || got.LastError != wantErr {
				t.Errorf("row = %s after %d attempts (%q), want failed after 1 (%q)", got.State, got.Attempts, got.LastError, wantErr)
			}
			time.Sleep(20 * time.Millisecond) // time for any retry that should not happen
			if n := len(rc.Hits()); n != 1 {
				t.Errorf("receiver got %d requests, want 1", n)
			}
			mu.Lock()
			defer mu.Unlock()
			if targeted != 0 {
				t.Errorf("redirect target got %d requests, want 0", targeted)
			}
			if s := w.Stats(); s.Failed != 1 || s.FailedRejected != 1 {
				t.Errorf("Stats() = %+v, want one rejected failure", s)
			}
		})
	}
}

func TestRefusedFailsAtOnce(t *testing.T) {
	st := openStore(t)
	rc := newReceiver(t, nil)
	// The production client: plain http and loopback are refused.
	w := &notify.Worker{Store: st, HTTP: egress.NewClient(egress.Policy{}, 5*time.Second), BackoffBase: time.Millisecond}
	start(t, w)
	httpRow := queue(t, st, time.Now(), store.Outbound{Endpoint: rc.URL})
	httpsRow := queue(t, st, time.Now(), store.Outbound{Endpoint: strings.Replace(rc.URL, "http:", "https:", 1)})
	badRow := queue(t, st, time.Now(), store.Outbound{Endpoint: "://no scheme"})
	w.Wake()

	for _, id := range []string{httpRow.ID, httpsRow.ID, badRow.ID} {
		got := waitRow(t, st, id, 5*time.Second, done)
		if got.State != store.Failed || got.Attempts != 1 {
			t.Errorf("row %s = %s after %d attempts (%q), want failed after 1", id, got.State, got.Attempts, got.LastError)
		}
	}
	if n := len(rc.Hits()); n != 0 {
		t.Errorf("receiver got %d requests, want 0", n)
	}
	if s := w.Stats(); s.FailedRefused != 3 || s.Failed != 3 {
		t.Errorf("Stats() = %+v, want three refused", s)
	}
}

func TestRetryAfter(t *testing.T) {
	const backoffMax = 5 * time.Minute
	tests := []struct {
		name       string
		status     int
		retryAfter string
		want       time.Duration // from t0 to the next attempt
	}{
		{"Seconds", http.StatusTooManyRequests, "120", 120 * time.Second},
		{"Date", http.StatusTooManyRequests, t0.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"PastDate", http.StatusTooManyRequests, t0.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"CappedAtBackoffMax", http.StatusTooManyRequests, "86400", backoffMax},
		{"ServiceUnavailable", http.StatusServiceUnavailable, "7", 7 * time.Second},
		{"RequestTimeout", http.StatusRequestTimeout, "8", 8 * time.Second},
		// Malformed or absent: the backoff, 2 s for the first retry
		// with Rand 1.
		{"Malformed", http.StatusTooManyRequests, "soon", 2 * time.Second},
		{"Negative", http.StatusTooManyRequests, "-5", 2 * time.Second},
		{"Absent", http.StatusTooManyRequests, "", 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
					}
					w.WriteHeader(tt.status)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			})
			clk := newClock(t0)
			w := &notify.Worker{
				Store: st, HTTP: devClient(), Now: clk.now, Rand: func() float64 { return 1 },
				BackoffBase: 2 * time.Second, BackoffMax: backoffMax, PollInterval: 5 * time.Millisecond,
			}
			start(t, w)
			o := queue(t, st, t0, store.Outbound{Endpoint: rc.URL})
			w.Wake()

			if tt.want > 0 {
				got := waitRow(t, st, o.ID, 5*time.Second, retried)
				if want := t0.Add(tt.want); !got.NextAttemptAt.Equal(want) {
					t.Errorf("NextAttemptAt = t0%+v, want t0%+v", got.NextAttemptAt.Sub(t0), tt.want)
				}
				if want := fmt.Sprintf("HTTP %d", tt.status); got.LastError != want {
					t.Errorf("LastError = %q, want %q", got.LastError, want)
				}
				// Not before its time, though polled all along…
				clk.set(t0.Add(tt.want - time.Millisecond))
				time.Sleep(30 * time.Millisecond)
				if n := len(rc.Hits()); n != 1 {
					t.Fatalf("receiver got %d requests before Retry-After passed, want 1", n)
				}
				// …and then at once.
				clk.set(t0.Add(tt.want))
			}
			// With no delay, the retry follows at once, the clock unmoved.
			got := waitRow(t, st, o.ID, 5*time.Second, done)
			if got.State != store.Delivered || got.Attempts != 2 {
				t.Errorf("row = %s after %d attempts, want delivered after 2", got.State, got.Attempts)
			}
		})
	}
}

func TestMaxAttempts(t *testing.T) {
	st := openStore(t)
	rc := newReceiver(t, status(http.StatusBadGateway))
	w := &notify.Worker{
		Store: st, HTTP: devClient(), MaxAttempts: 3,
		BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond, PollInterval: 2 * time.Millisecond,
	}
	start(t, w)
	o := queue(t, st, time.Now(), store.Outbound{Endpoint: rc.URL})
	w.Wake()

	got := waitRow(t, st, o.ID, 5*time.Second, done)
	if got.State != store.Failed || got.Attempts != 3 || got.LastError != "HTTP 502" {
		t.Errorf("row = %s after %d attempts (%q), want failed after 3 (HTTP 502)", got.State, got.Attempts, got.LastError)
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(rc.Hits()); n != 3 {
		t.Errorf("receiver got %d requests, want 3", n)
	}
	if s := w.Stats(); s != (notify.Stats{Attempts: 3, Retried: 2, Failed: 1, FailedExhausted: 1}) {
		t.Errorf("Stats() = %+v", s)
	}
}

func TestExpiresAt(t *testing.T) {
	t.Run("NextAttemptTooLate", func(t *testing.T) {
		st := openStore(t)
		rc := newReceiver(t, status(http.StatusInternalServerError))
		clk := newClock(t0)
		w := &notify.Worker{
			Store: st, HTTP: devClient(), Now: clk.now, Rand: func() float64 { return 1 },
			BackoffBase: 4 * time.Second, PollInterval: 2 * time.Millisecond,
		}
		start(t, w)
		o := queue(t, st, t0, store.Outbound{Endpoint: rc.URL, ExpiresAt: t0.Add(10 * time.Second)})
		w.Wake()

		// t0: fails; the retry at t0+4s is before the expiry.
		got := waitRow(t, st, o.ID, 5*time.Second, retried)
		if want := t0.Add(4 * time.Second); !got.NextAttemptAt.Equal(want) {
			t.Fatalf("NextAttemptAt = t0%+v, want t0+4s", got.NextAttemptAt.Sub(t0))
		}
		// t0+4s: fails; the retry at t0+12s would be after it.
		clk.set(t0.Add(4 * time.Second))
		got = waitRow(t, st, o.ID, 5*time.Second, done)
		if got.State != store.Failed || got.Attempts != 2 {
			t.Errorf("row = %s after %d attempts, want failed after 2", got.State, got.Attempts)
		}
		if n := len(rc.Hits()); n != 2 {
			t.Errorf("receiver got %d requests, want 2", n)
		}
		if s := w.Stats(); s.FailedExpired != 1 || s.Failed != 1 {
			t.Errorf("Stats() = %+v, want one expired", s)
		}
	})
	t.Run("ExpiredBeforeFirstAttempt", func(t *testing.T) {
		st := openStore(t)
		rc := newReceiver(t, nil)
		clk := newClock(t0.Add(11 * time.Second))
		w := &notify.Worker{Store: st, HTTP: devClient(), Now: clk.now}
		o := queue(t, st, t0, store.Outbound{Endpoint: rc.URL, ExpiresAt: t0.Add(10 * time.Second)})
		start(t, w)

		got := waitRow(t, st, o.ID, 5*time.Second, done)
		if got.State != store.Failed {
			t.Errorf("row = %s, want failed", got.State)
		}
		if n := len(rc.Hits()); n != 0 {
			t.Errorf("receiver got %d requests, want 0", n)
		}
	})
}

func TestAttemptTimeout(t *testing.T) {
	st := openStore(t)
	release := make(chan struct{})
	rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) { <-release })
	w := &notify.Worker{Store: st, HTTP: devClient(), AttemptTimeout: 100 * time.Millisecond, MaxAttempts: 1}
	start(t, w)
	t.Cleanup(func() { close(release) }) // before Run stops, and rc closes
	o := queue(t, st, time.Now(), store.Outbound{Endpoint: rc.URL})
	w.Wake()

	got := waitRow(t, st, o.ID, 5*time.Second, done)
	if got.State != store.Failed || !strings.Contains(got.LastError, "deadline exceeded") {
		t.Errorf("row = %s (%q), want failed by the attempt deadline", got.State, got.LastError)
	}
}

func TestHangingReceiverDoesNotDelayOthers(t *testing.T) {
	st := openStore(t)
	release := make(chan struct{})
	hanging := newReceiver(t, func(int, http.ResponseWriter, *http.Request) { <-release })
	healthy := newReceiver(t, nil)
	w := &notify.Worker{Store: st, HTTP: devClient(), AttemptTimeout: time.Minute}
	start(t, w)
	// Cleanups run last first: release the hanging attempt, then stop
	// Run, which waits for it.
	t.Cleanup(func() { close(release) })

	stuck := queue(t, st, time.Now(), store.Outbound{Endpoint: hanging.URL})
	w.Wake()
	select {
	case <-hanging.arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the hanging receiver was never called")
	}
	fine := queue(t, st, time.Now(), store.Outbound{Endpoint: healthy.URL})
	w.Wake()
	got := waitRow(t, st, fine.ID, 2*time.Second, done)
	if got.State != store.Delivered {
		t.Errorf("healthy row = %s, want delivered", got.State)
	}
	if o, err := st.Outbound(t.Context(), stuck.ID); err != nil || o.State != store.Queued {
		t.Errorf("hanging row = %s, %v; want still queued (in flight)", o.State, err)
	}
}

func TestWake(t *testing.T) {
	st := openStore(t)
	rc := newReceiver(t, nil)
	const poll = time.Minute
	w := &notify.Worker{Store: st, HTTP: devClient(), PollInterval: poll}
	// A row queued before Run is taken by its first look; after that,
	// only Wake can find rows before a minute has passed.
	first := queue(t, st, time.Now(), store.Outbound{Endpoint: rc.URL})
	start(t, w)
	waitRow(t, st, first.ID, 5*time.Second, done)

	for range 5 {
		queue(t, st, time.Now(), store.Outbound{Endpoint: rc.URL})
		woken := time.Now()
		w.Wake()
		select {
		case <-rc.arrived:
		case <-time.After(2 * time.Second):
			t.Fatalf("no delivery within 2s of Wake (PollInterval %v)", poll)
		}
		t.Logf("Wake to delivery: %v", time.Since(woken))
	}
}

func TestResumesAfterLeaseLapses(t *testing.T) {
	st := openStore(t)
	rc := newReceiver(t, nil)
	clk := newClock(t0)
	orphan := queue(t, st, t0, store.Outbound{Endpoint: rc.URL})
	// A worker claims the row and dies before recording anything.
	claimed, err := st.ClaimOutbound(t.Context(), t0, time.Minute, 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("ClaimOutbound = %d rows, %v; want 1", len(claimed), err)
	}

	clk.set(t0.Add(30 * time.Second))
	w := &notify.Worker{Store: st, HTTP: devClient(), Now: clk.now, PollInterval: 5 * time.Millisecond}
	start(t, w)
	// While the lease holds, the new worker delivers others but not it.
	other := queue(t, st, clk.now(), store.Outbound{Endpoint: rc.URL})
	waitRow(t, st, other.ID, 5*time.Second, done)
	time.Sleep(20 * time.Millisecond)
	if o, _ := st.Outbound(t.Context(), orphan.ID); o.State != store.Queued || len(rc.Hits()) != 1 {
		t.Fatalf("leased row = %s with %d receiver hits; want queued and untouched", o.State, len(rc.Hits()))
	}

	clk.set(t0.Add(time.Minute))
	got := waitRow(t, st, orphan.ID, 5*time.Second, done)
	if got.State != store.Delivered || got.Attempts != 2 {
		t.Errorf("row = %s after %d attempts, want delivered after 2 (the dead worker's and ours)", got.State, got.Attempts)
	}
}

func TestTwoWorkersDeliverEachRowOnce(t *testing.T) {
	st := openStore(t)
	var mu sync.Mutex
	perRow := map[string]int{}
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		perRow[r.Header.Get("Authorization")]++
		mu.Unlock()
		time.Sleep(time.Millisecond) // keep deliveries in flight a while
		w.WriteHeader(http.StatusNoContent)
	})
	const rows = 200
	want := map[string]int{}
	var ids []string
	for range rows {
		o := queue(t, st, time.Now(), store.Outbound{Endpoint: rc.URL})
		want["Bearer "+o.Token] = 1
		ids = append(ids, o.ID)
	}
	workers := []*notify.Worker{
		{Store: st, HTTP: devClient(), Concurrency: 4, PollInterval: 5 * time.Millisecond},
		{Store: st, HTTP: devClient(), Concurrency: 4, PollInterval: 5 * time.Millisecond},
	}
	for _, w := range workers {
		start(t, w)
	}
	for _, id := range ids {
		waitRow(t, st, id, 20*time.Second, done)
	}
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, perRow); diff != "" {
		t.Errorf("deliveries per row (-want +got):\n%s", diff)
	}
	a, b := workers[0].Stats(), workers[1].Stats()
	if a.Delivered+b.Delivered != rows {
		t.Errorf("workers delivered %d + %d rows, want %d in all", a.Delivered, b.Delivered, rows)
	}
	t.Logf("worker deliveries: %d and %d", a.Delivered, b.Delivered)
}

// TestNoSecretsLogged checks what each outcome logs: the keys operators
// need, and never the notification token or the payload.
func TestNoSecretsLogged(t *testing.T) {
	st := openStore(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ok := newReceiver(t, nil)
	flaky := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusTeapot)
	})
	w := &notify.Worker{Store: st, HTTP: devClient(), Log: log, BackoffBase: time.Millisecond, PollInterval: 2 * time.Millisecond}
	start(t, w)
	var rows []store.Outbound
	for i, endpoint := range []string{ok.URL, flaky.URL, "http://127.0.0.1:1/closed", "ftp://x.example/"} {
		rows = append(rows, queue(t, st, time.Now(), store.Outbound{
			Endpoint: endpoint,
			Token:    fmt.Sprintf("SECRET-TOKEN-%d", i),
			Payload:  json.RawMessage(fmt.Sprintf(`{"auth_req_id":"SECRET-AUTHREQ-%d"}`, i)),
		}))
	}
	w.Wake()
	for _, o := range rows {
		got := waitRow(t, st, o.ID, 10*time.Second, func(o store.Outbound) bool { return done(o) })
		if strings.Contains(got.LastError, "SECRET") {
			t.Errorf("LastError = %q holds a secret", got.LastError)
		}
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Contains(out, "SECRET") {
		t.Errorf("log holds a secret:\n%s", out)
	}
	for _, key := range []string{`"client_id"`, `"request_id"`, `"outbound_id"`, `"attempt"`, `"status":503`, `"status":418`, `"status":204`, `"duration"`, `"error"`} {
		if !strings.Contains(out, key) {
			t.Errorf("log lacks %s:\n%s", key, out)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRunNeedsStoreAndHTTP(t *testing.T) {
	for _, w := range []*notify.Worker{{}, {Store: openStore(t)}, {HTTP: devClient()}} {
		if err := w.Run(t.Context()); err == nil {
			t.Errorf("Run() of %+v = nil, want an error", w)
		}
	}
}

func TestRunReturnsWhenContextEnds(t *testing.T) {
	w := &notify.Worker{Store: openStore(t), HTTP: devClient()}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	w.Wake() // after Run: must not block
	w.Wake()
}

// TestHandoff: a row stored already claimed (one attempt, leased) and
// handed over is delivered at once, with no claim: a second worker on the
// same store, polling all the while, never takes it, and it is recorded
// delivered after exactly that one attempt.
func TestHandoff(t *testing.T) {
	st := openStore(t)
	rc := newReceiver(t, nil)
	w := &notify.Worker{Store: st, HTTP: devClient(), PollInterval: time.Hour}
	other := &notify.Worker{Store: st, HTTP: devClient(), PollInterval: 5 * time.Millisecond}
	start(t, w)
	start(t, other)
	now := time.Now()
	row := queue(t, st, now, store.Outbound{Endpoint: rc.URL, Attempts: 1, NextAttemptAt: now.Add(w.Lease())})
	time.Sleep(50 * time.Millisecond) // the other worker polls ten times
	if hits := rc.Hits(); len(hits) != 0 {
		t.Fatalf("a leased row was delivered %d times before the handoff", len(hits))
	}
	handed := time.Now()
	w.Handoff([]store.Outbound{row})
	got := waitRow(t, st, row.ID, 5*time.Second, done)
	if got.State != store.Delivered || got.Attempts != 1 || len(rc.Hits()) != 1 {
		t.Errorf("row = %s after %d attempts, %d deliveries; want delivered once, after 1 attempt", got.State, got.Attempts, len(rc.Hits()))
	}
	t.Logf("handoff to delivered: %v", time.Since(handed))
	if s := other.Stats(); s.Attempts != 0 {
		t.Errorf("the other worker made %d attempts, want none", s.Attempts)
	}
}
