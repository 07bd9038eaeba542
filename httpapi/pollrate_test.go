package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"
)

// TestTightPollingIsLimited: a client polling one request in a tight loop
// gets slow_down, then 429 without the store being consulted, while its
// other requests are answered as usual.
func TestTightPollingIsLimited(t *testing.T) {
	f := newFlow(t, nil)
	f.svc.Fatigue.PollRate, f.svc.Fatigue.PollBurst = 1, 3
	f.enrolDevice("u1")
	start := func() string {
		r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}})
		if r.status != 200 {
			t.Fatalf("bc-authorize = %d %v", r.status, r.body)
		}
		return r.str("auth_req_id")
	}
	hammered, other := start(), start()
	for i := range 3 {
		r := f.poll(hammered)
		if r.status != http.StatusBadRequest || r.str("error") != "slow_down" {
			t.Fatalf("poll %d = %d %v, want 400 slow_down", i, r.status, r.body)
		}
	}
	wantError(t, f.poll(hammered), http.StatusTooManyRequests, "slow_down")
	wantError(t, f.poll(hammered), http.StatusTooManyRequests, "slow_down")
	// Another request of the same client is unaffected.
	wantError(t, f.poll(other), http.StatusBadRequest, "slow_down")
}
