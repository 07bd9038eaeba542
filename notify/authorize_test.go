package notify_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel/notify"
	"github.com/backchannel/backchannel/store"
)

func TestAuthorizeAndRowTimeout(t *testing.T) {
	st := openStore(t)
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		w.WriteHeader(http.StatusNoContent)
	})
	w := &notify.Worker{
		Store: st, HTTP: devClient(), AttemptTimeout: time.Minute, MaxAttempts: 1,
		Authorize: func(row store.Outbound, req *http.Request) bool {
			if !strings.HasPrefix(row.ID, "signed-") {
				return false
			}
			req.Header.Set("X-Signature", "sig-"+row.ID)
			return true
		},
		RowTimeout: func(row store.Outbound) time.Duration {
			if strings.HasPrefix(row.ID, "signed-") {
				return 100 * time.Millisecond
			}
			return 0
		},
	}
	start(t, w)
	t.Cleanup(func() { close(release) })
	signed := queue(t, st, time.Now(), store.Outbound{ID: "signed-1", Endpoint: rc.URL + "/cb"})
	plain := queue(t, st, time.Now(), store.Outbound{ID: "plain-1", Endpoint: rc.URL + "/cb"})
	slow := queue(t, st, time.Now(), store.Outbound{ID: "signed-slow", Endpoint: rc.URL + "/slow"})
	w.Wake()
	for _, id := range []string{signed.ID, plain.ID} {
		if got := waitRow(t, st, id, 5*time.Second, done); got.State != store.Delivered {
			t.Errorf("row %s = %s (%q), want delivered", id, got.State, got.LastError)
		}
	}
	if got := waitRow(t, st, slow.ID, 5*time.Second, done); got.State != store.Failed || !strings.Contains(got.LastError, "deadline exceeded") {
		t.Errorf("slow row = %s (%q), want failed by its own 100 ms timeout", got.State, got.LastError)
	}
	for _, h := range rc.Hits() {
		switch {
		case h.Path == "/cb" && h.Header.Get("X-Signature") == "sig-signed-1":
			if h.Header.Get("Authorization") != "" {
				t.Errorf("signed row has Authorization %q, want none", h.Header.Get("Authorization"))
			}
		case h.Path == "/cb":
			if h.Header.Get("Authorization") != "Bearer tok-plain-1" || h.Header.Get("X-Signature") != "" {
				t.Errorf("plain row headers = %v, want the Bearer token only", h.Header)
			}
		}
	}
}
