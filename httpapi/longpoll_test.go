package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel/device/agent"
)

// longPollFlow is a poll-mode client, a user u1 with a device, and one
// pending request of theirs, on a server that holds polls up to bound.
type longPollFlow struct {
	*flow
	dev       *agent.Agent
	authReqID string
}

func newLongPollFlow(t *testing.T, bound time.Duration) *longPollFlow {
	t.Helper()
	s := startTestServer(t, testOptions{longPoll: bound})
	id, secret := s.createClient(nil)
	s.createUser(map[string]any{"sub": "u1"})
	f := &flow{testServer: s, clientID: id, secret: secret}
	dev := f.enrolDevice("u1")
	r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}})
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	return &longPollFlow{flow: f, dev: dev, authReqID: r.str("auth_req_id")}
}

// pollAsync sends a poll with ctx and delivers its answer on the channel
// (status 0 and the error if the request failed).
func (f *longPollFlow) pollAsync(ctx context.Context) <-chan response {
	out := make(chan response, 1)
	go func() {
		form := url.Values{"grant_type": {cibaGrant}, "auth_req_id": {f.authReqID}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.URL+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(f.clientID), url.QueryEscape(f.secret))
		resp, err := f.Client().Do(req)
		if err != nil {
			out <- response{body: map[string]any{"transport_error": err.Error()}}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		r := response{status: resp.StatusCode, header: resp.Header}
		if err := json.Unmarshal(b, &r.body); err != nil {
			r.body = map[string]any{"raw": string(b)}
		}
		out <- r
	}()
	return out
}

// waitHeld waits until n polls are held (subscribed to wake-ups).
func (f *longPollFlow) waitHeld(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.polls.Subscribers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("held polls = %d, want %d", f.polls.Subscribers(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// decide approves or denies the flow's request on the device.
func (f *longPollFlow) decide(t *testing.T, approve bool) {
	t.Helper()
	p, err := f.dev.Pending(t.Context())
	if err != nil || len(p) != 1 {
		t.Fatalf("device Pending = %v, %v; want the request", p, err)
	}
	if err := f.dev.Decide(t.Context(), p[0], approve); err != nil {
		t.Fatal(err)
	}
}

// TestLongPollApproved: a held poll answers with the tokens once the
// device approves, long before its bound.
func TestLongPollApproved(t *testing.T) {
	f := newLongPollFlow(t, time.Minute)
	f.clock.Advance(5 * time.Second)
	answer := f.pollAsync(t.Context())
	f.waitHeld(t, 1)
	f.decide(t, true)
	select {
	case r := <-answer:
		if r.status != http.StatusOK || r.str("access_token") == "" || r.str("id_token") == "" {
			t.Fatalf("held poll after approval = %d %v, want 200 with tokens", r.status, r.body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the held poll did not answer after the approval")
	}
	f.waitHeld(t, 0)
	// Redeemed: the next poll is invalid_grant, at once.
	f.clock.Advance(5 * time.Second)
	wantError(t, f.poll(f.authReqID), http.StatusBadRequest, "invalid_grant")
}

// TestLongPollDenied: a held poll answers access_denied after a denial.
func TestLongPollDenied(t *testing.T) {
	f := newLongPollFlow(t, time.Minute)
	f.clock.Advance(5 * time.Second)
	answer := f.pollAsync(t.Context())
	f.waitHeld(t, 1)
	f.decide(t, false)
	wantError(t, <-answer, http.StatusBadRequest, "access_denied")
}

// TestLongPollBound: with no decision, a held poll answers
// authorization_pending at its bound and lets go of its wake-up.
func TestLongPollBound(t *testing.T) {
	f := newLongPollFlow(t, 300*time.Millisecond)
	f.clock.Advance(5 * time.Second)
	wantError(t, <-f.pollAsync(t.Context()), http.StatusBadRequest, "authorization_pending")
	f.waitHeld(t, 0)
}

// TestLongPollSlowDown: the interval counts from a poll's arrival. An
// early poll is answered slow_down at once, not held, even while an
// on-time poll is held; the next poll on time is held again.
func TestLongPollSlowDown(t *testing.T) {
	f := newLongPollFlow(t, time.Minute)
	// Before the first interval has passed: slow_down, at once.
	wantError(t, <-f.pollAsync(t.Context()), http.StatusBadRequest, "slow_down")
	f.waitHeld(t, 0)
	f.clock.Advance(10 * time.Second) // the interval is 10 s now
	held := f.pollAsync(t.Context())
	f.waitHeld(t, 1)
	wantError(t, <-f.pollAsync(t.Context()), http.StatusBadRequest, "slow_down")
	f.waitHeld(t, 1)
	f.decide(t, true)
	if r := <-held; r.status != http.StatusOK {
		t.Fatalf("held poll after approval = %d %v, want 200", r.status, r.body)
	}
}

// TestLongPollClientGone: a client that gives up on a held poll frees
// what the poll held, and the request stays pending and redeemable.
func TestLongPollClientGone(t *testing.T) {
	f := newLongPollFlow(t, time.Minute)
	f.clock.Advance(5 * time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	answer := f.pollAsync(ctx)
	f.waitHeld(t, 1)
	cancel()
	if r := <-answer; r.status != 0 || !strings.Contains(r.str("transport_error"), context.Canceled.Error()) {
		t.Errorf("canceled poll = %d %v, want a canceled request", r.status, r.body)
	}
	f.waitHeld(t, 0)
	f.decide(t, true)
	f.clock.Advance(5 * time.Second)
	if r := f.poll(f.authReqID); r.status != http.StatusOK {
		t.Fatalf("poll after the approval = %d %v, want 200", r.status, r.body)
	}
}
