package notify_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/notify"
	"github.com/backchannel/backchannel/store"
)

// handlerTransport serves requests with an http.Handler in the calling
// goroutine: an in-memory network for synctest bubbles, where a real
// socket would stop the fake clock.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// timedReceiver records when (since its creation, on the bubble's clock)
// each notification arrived, by outbound token.
type timedReceiver struct {
	mu      sync.Mutex
	start   time.Time
	at      map[string][]time.Duration
	respond func(n int) int // status of the nth request, from 1
	n       int
}

func (rc *timedReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.n++
	tok := r.Header.Get("Authorization")
	rc.at[tok] = append(rc.at[tok], time.Since(rc.start))
	code := http.StatusNoContent
	if rc.respond != nil {
		code = rc.respond(rc.n)
	}
	w.WriteHeader(code)
}

func (rc *timedReceiver) arrivals() map[string][]time.Duration {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.at
}

// runInBubble starts w in the bubble and stops it when the test ends.
func runInBubble(t *testing.T, w *notify.Worker) {
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() {
		if err := w.Run(ctx); err != nil {
			t.Errorf("Run() = %v", err)
		}
		close(ended)
	}()
	t.Cleanup(func() {
		cancel()
		<-ended
	})
}

// TestRetrySchedule follows one row through two failures on the fake
// clock: each retry starts exactly when its backoff says, found by the
// poll that falls due then.
func TestRetrySchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t)
		rc := &timedReceiver{start: time.Now(), at: map[string][]time.Duration{}, respond: func(n int) int {
			if n <= 2 {
				return http.StatusServiceUnavailable
			}
			return http.StatusNoContent
		}}
		w := &notify.Worker{
			Store: st, HTTP: &http.Client{Transport: handlerTransport{rc}}, Rand: func() float64 { return 1 },
			BackoffBase: time.Second, PollInterval: time.Second,
		}
		o := queue(t, st, time.Now(), store.Outbound{Endpoint: "https://rp.example/cb", Token: "t1"})
		runInBubble(t, w)
		time.Sleep(time.Minute)
		synctest.Wait()

		// Backoff 1 s after the first failure, 2 s after the second.
		want := map[string][]time.Duration{"Bearer t1": {0, time.Second, 3 * time.Second}}
		if diff := cmp.Diff(want, rc.arrivals()); diff != "" {
			t.Errorf("arrivals (-want +got):\n%s", diff)
		}
		got, err := st.Outbound(t.Context(), o.ID)
		if err != nil || got.State != store.Delivered || got.Attempts != 3 {
			t.Errorf("row = %s after %d attempts, %v; want delivered after 3", got.State, got.Attempts, err)
		}
	})
}

// TestPollAndWake checks when rows queued while Run waits are found: at
// once after Wake, and at the next poll without it.
func TestPollAndWake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t)
		rc := &timedReceiver{start: time.Now(), at: map[string][]time.Duration{}}
		w := &notify.Worker{Store: st, HTTP: &http.Client{Transport: handlerTransport{rc}}, PollInterval: 10 * time.Second}
		runInBubble(t, w)

		time.Sleep(3 * time.Second)
		queue(t, st, time.Now(), store.Outbound{Endpoint: "https://rp.example/cb", Token: "woken"})
		w.Wake()
		time.Sleep(time.Second)
		queue(t, st, time.Now(), store.Outbound{Endpoint: "https://rp.example/cb", Token: "polled"})
		time.Sleep(time.Minute)
		synctest.Wait()

		want := map[string][]time.Duration{
			"Bearer woken":  {3 * time.Second},
			"Bearer polled": {10 * time.Second},
		}
		if diff := cmp.Diff(want, rc.arrivals()); diff != "" {
			t.Errorf("arrivals (-want +got):\n%s", diff)
		}
	})
}
