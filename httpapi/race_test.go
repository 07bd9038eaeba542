package httpapi_test

import (
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel/device/agent"
	"github.com/backchannel/backchannel/oauth"
)

// TestConcurrentDecisionsOneWins has two devices of one user answer the
// same request at the same moment, one approving and one denying: exactly
// one decision counts, the other is refused as a client error, and the
// client sees the winner's outcome.
func TestConcurrentDecisionsOneWins(t *testing.T) {
	f := newFlow(t, nil)
	phone, tablet := f.enrolDevice("u1"), f.enrolDevice("u1")
	for round := range 8 {
		id := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}}).str("auth_req_id")
		pending, err := phone.Pending(t.Context())
		if err != nil || len(pending) != 1 {
			t.Fatalf("round %d: Pending() = %d requests, %v; want 1", round, len(pending), err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, a := range []*agent.Agent{phone, tablet} {
			wg.Go(func() { errs[i] = a.Decide(t.Context(), pending[0], i == 0) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: Decide() = %v (approve), %v (deny); want exactly one to succeed", round, errs[0], errs[1])
		}
		approved := errs[0] == nil
		lost := errs[1]
		if !approved {
			lost = errs[0]
		}
		var oe *oauth.Error
		if !errors.As(lost, &oe) || oe.HTTPStatus() >= 500 {
			t.Errorf("round %d: losing Decide() = %v, want a client error", round, lost)
		}
		f.clock.Advance(time.Minute) // past the polling interval
		r := f.poll(id)
		switch {
		case approved && r.status != http.StatusOK:
			t.Errorf("round %d: approval won, poll = %d %v, want 200", round, r.status, r.body)
		case !approved && r.str("error") != "access_denied":
			t.Errorf("round %d: denial won, poll = %d %v, want access_denied", round, r.status, r.body)
		}
	}
}

// TestConcurrentEnrolmentOneDevice redeems one enrolment code from many
// devices at once: exactly one device is enrolled.
func TestConcurrentEnrolmentOneDevice(t *testing.T) {
	s := newTestServer(t)
	s.createUser(map[string]any{"sub": "u1", "email": "hana@example.jp"})
	code := s.admin(http.MethodPost, "/enrolments", map[string]any{"subject": "u1"}, http.StatusCreated)["code"].(string)
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = agent.Register(t.Context(), s.Client(), s.URL, code, "phone")
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		var oe *oauth.Error
		switch {
		case err == nil:
			wins++
		case !errors.As(err, &oe) || oe.HTTPStatus() >= 500:
			t.Errorf("losing Register() = %v, want a client error", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d registrations succeeded with one code, want 1", wins)
	}
	devs, err := s.store.Devices(t.Context(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 {
		t.Errorf("Devices(u1) = %d devices, want 1", len(devs))
	}
}
