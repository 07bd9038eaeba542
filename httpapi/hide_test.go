package httpapi_test

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/backchannel/backchannel/ciba"
)

// TestHideUnknownUsers checks that with ciba.hide_unknown_users a hint
// naming nobody, or a user with no device, is answered like a known
// user's request, and that the decoy then only ever pends and expires.
func TestHideUnknownUsers(t *testing.T) {
	f := newFlow(t, nil)
	f.svc.HideUnknownUsers = true
	f.enrolDevice("u1")
	f.createUser(map[string]any{"sub": "u2", "email": "nodevice@example.jp"})

	known := f.start(url.Values{"scope": {"openid"}, "login_hint": {"hana@example.jp"}, "binding_message": {"Order 1"}})
	if known.status != http.StatusOK {
		t.Fatalf("bc-authorize for a known user = %d %v, want 200", known.status, known.body)
	}
	shape := func(r response) []string { return slices.Sorted(maps.Keys(r.body)) }
	for name, hint := range map[string]string{"unknown user": "nobody@example.jp", "user without a device": "nodevice@example.jp"} {
		t.Run(name, func(t *testing.T) {
			r := f.start(url.Values{"scope": {"openid"}, "login_hint": {hint}, "binding_message": {"Order 1"}})
			if r.status != known.status || !slices.Equal(shape(r), shape(known)) {
				t.Fatalf("bc-authorize = %d %v, want %d with the fields of %v", r.status, r.body, known.status, known.body)
			}
			if r.body["expires_in"] != known.body["expires_in"] || r.body["interval"] != known.body["interval"] {
				t.Errorf("bc-authorize = %v, want the expires_in and interval of %v", r.body, known.body)
			}
			if r.header.Get("Cache-Control") != known.header.Get("Cache-Control") || r.header.Get("Content-Type") != known.header.Get("Content-Type") {
				t.Errorf("headers = %v, want those of a known user's answer %v", r.header, known.header)
			}
			id := r.str("auth_req_id")
			f.clock.Advance(time.Minute)
			wantError(t, f.poll(id), http.StatusBadRequest, "authorization_pending")
			f.clock.Advance(10 * time.Minute)
			wantError(t, f.poll(id), http.StatusBadRequest, "expired_token")
		})
	}
}

// TestHideUnknownUsersUserCode checks that a client that must send a
// user_code gets the same refusal for a wrong code whether or not the
// user exists.
func TestHideUnknownUsersUserCode(t *testing.T) {
	f := newFlow(t, map[string]any{"backchannel_user_code_parameter": true})
	f.svc.HideUnknownUsers = true
	f.enrolDevice("u1")
	for _, hint := range []string{"hana@example.jp", "nobody@example.jp"} {
		wantError(t, f.start(url.Values{"scope": {"openid"}, "login_hint": {hint}, "user_code": {"0000"}}), http.StatusBadRequest, "invalid_user_code")
		wantError(t, f.start(url.Values{"scope": {"openid"}, "login_hint": {hint}}), http.StatusBadRequest, "missing_user_code")
	}
}

// TestUnknownHintsCountAgainstClientRate checks that probing for users
// who do not exist uses up the client's rate limit like any request.
func TestUnknownHintsCountAgainstClientRate(t *testing.T) {
	f := newFlow(t, nil)
	f.svc.Fatigue = ciba.Fatigue{ClientRate: 0.001, ClientBurst: 2}
	probe := url.Values{"scope": {"openid"}, "login_hint": {"nobody@example.jp"}}
	wantError(t, f.start(probe), http.StatusBadRequest, "unknown_user_id")
	wantError(t, f.start(probe), http.StatusBadRequest, "unknown_user_id")
	wantError(t, f.start(probe), http.StatusTooManyRequests, "access_denied")
}
