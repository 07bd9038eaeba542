package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel/audit"
	"github.com/backchannel/backchannel/ciba"
)

// auditEvent is an event as the admin API returns it.
type auditEvent struct {
	ID        string         `json:"id"`
	At        time.Time      `json:"at"`
	Kind      string         `json:"kind"`
	RequestID string         `json:"request_id"`
	ClientID  string         `json:"client_id"`
	Subject   string         `json:"sub"`
	DeviceID  string         `json:"device_id"`
	Detail    map[string]any `json:"detail"`
}

// auditGet calls GET /admin/v1/audit?query and returns the raw answer.
func (s *testServer) auditGet(query, accept string) (*http.Response, []byte) {
	s.t.Helper()
	req, _ := http.NewRequestWithContext(s.t.Context(), http.MethodGet, s.URL+"/admin/v1/audit?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// trail returns the events the admin API lists for query.
func (s *testServer) trail(query string) []auditEvent {
	s.t.Helper()
	resp, b := s.auditGet(query, "")
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET /admin/v1/audit?%s = %d %s", query, resp.StatusCode, b)
	}
	var out struct {
		Events []auditEvent `json:"events"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Events == nil {
		s.t.Fatalf("GET /admin/v1/audit?%s: %s: %v", query, b, err)
	}
	return out.Events
}

func kinds(events []auditEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Kind
	}
	return out
}

// wantKinds checks the kinds of the trail of request id, in order.
func wantKinds(t *testing.T, s *testServer, requestID string, want ...audit.Kind) []auditEvent {
	t.Helper()
	events := s.trail("request=" + url.QueryEscape(requestID))
	w := make([]string, len(want))
	for i, k := range want {
		w[i] = string(k)
	}
	if got := kinds(events); !slices.Equal(got, w) {
		t.Fatalf("trail of %s = %v, want %v", requestID, got, w)
	}
	for i := 1; i < len(events); i++ {
		if events[i].At.Before(events[i-1].At) {
			t.Errorf("trail of %s: %s at %v is before %s at %v", requestID, events[i].Kind, events[i].At, events[i-1].Kind, events[i-1].At)
		}
	}
	return events
}

// waitKind waits until the trail of request id holds an event of kind.
func waitKind(t *testing.T, s *testServer, requestID string, kind audit.Kind) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if slices.Contains(kinds(s.trail("request="+url.QueryEscape(requestID))), string(kind)) {
			return
		}
	}
	t.Fatalf("no %s event for request %s within 10 s", kind, requestID)
}

func TestAuditPollFlow(t *testing.T) {
	f := newFlow(t, nil)
	dev := f.enrolDevice("u1")
	devID := dev.Credentials().DeviceID
	r := f.start(url.Values{"scope": {"openid email"}, "login_hint": {"hana"}, "binding_message": {"Order 1234"}})
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	p, err := dev.Pending(t.Context())
	if err != nil || len(p) != 1 {
		t.Fatalf("Pending = %v, %v", p, err)
	}
	if _, err := dev.Pending(t.Context()); err != nil { // shown again: recorded once
		t.Fatal(err)
	}
	if err := dev.Decide(t.Context(), p[0], true); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(5 * time.Second)
	if tok := f.poll(r.str("auth_req_id")); tok.status != http.StatusOK {
		t.Fatalf("token = %d %v", tok.status, tok.body)
	}
	ev := wantKinds(t, f.testServer, p[0].RequestID, audit.RequestCreated, audit.RequestShown, audit.RequestApproved, audit.RequestRedeemed)
	for _, e := range ev {
		if e.RequestID != p[0].RequestID || e.ClientID != f.clientID || e.Subject != "u1" {
			t.Errorf("%s names request %q client %q sub %q, want %q %q u1", e.Kind, e.RequestID, e.ClientID, e.Subject, p[0].RequestID, f.clientID)
		}
	}
	created, shown, approved, redeemed := ev[0], ev[1], ev[2], ev[3]
	if created.Detail["binding_message"] != "Order 1234" || created.Detail["delivery_mode"] != "poll" {
		t.Errorf("request.created detail = %v, want the binding message and mode", created.Detail)
	}
	if shown.DeviceID != devID || shown.Detail["via"] != ciba.ShownList {
		t.Errorf("request.shown = device %q detail %v, want device %q via list", shown.DeviceID, shown.Detail, devID)
	}
	if approved.DeviceID != devID || approved.Detail["acr"] != ciba.ACRDeviceKey {
		t.Errorf("request.approved = device %q detail %v, want device %q and the device-key acr", approved.DeviceID, approved.Detail, devID)
	}
	if got := redeemed.Detail["tokens"]; !equalJSON(got, []string{"access_token", "refresh_token"}) {
		t.Errorf("request.redeemed tokens = %v", got)
	}
}

func equalJSON(got any, want any) bool {
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	return bytes.Equal(a, b)
}

func TestAuditDenyAndFailedDecisions(t *testing.T) {
	f := newFlow(t, nil)
	dev := f.enrolDevice("u1")
	f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}, "binding_message": {"Pay 10 EUR"}})
	p, err := dev.Pending(t.Context())
	if err != nil || len(p) != 1 {
		t.Fatalf("Pending = %v, %v", p, err)
	}
	// A decision over another summary than the server holds is refused,
	// and nothing of it is recorded.
	forged := p[0]
	forged.BindingMessage = "Pay 1 EUR"
	if err := dev.Decide(t.Context(), forged, true); err == nil {
		t.Fatal("a decision over a forged summary was accepted")
	}
	if err := dev.Decide(t.Context(), p[0], false); err != nil {
		t.Fatal(err)
	}
	// A second decision conflicts, and is not recorded either.
	if err := dev.Decide(t.Context(), p[0], true); err == nil {
		t.Fatal("a second decision was accepted")
	}
	ev := wantKinds(t, f.testServer, p[0].RequestID, audit.RequestCreated, audit.RequestShown, audit.RequestDenied)
	if ev[2].DeviceID != dev.Credentials().DeviceID {
		t.Errorf("request.denied device = %q, want %q", ev[2].DeviceID, dev.Credentials().DeviceID)
	}
}

func TestAuditPollExpiry(t *testing.T) {
	f := newFlow(t, nil)
	f.enrolDevice("u1")
	r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}})
	reqs, err := f.store.PendingRequests(t.Context(), "u1", f.clock.Now())
	if err != nil || len(reqs) != 1 {
		t.Fatalf("PendingRequests = %v, %v", reqs, err)
	}
	f.clock.Advance(10 * time.Minute)
	for range 2 {
		wantError(t, f.poll(r.str("auth_req_id")), http.StatusBadRequest, "expired_token")
	}
	ev := wantKinds(t, f.testServer, reqs[0].ID, audit.RequestCreated, audit.RequestExpired)
	if ev[1].Detail["noticed_by"] != "poll" {
		t.Errorf("request.expired detail = %v", ev[1].Detail)
	}
}

func TestAuditPingRetryAndExpiry(t *testing.T) {
	f := newNotifyFlow(t, "ping", 1, testOptions{})
	authReqID, reqID := f.startAndDecide(t, true)
	f.rc.wait(t)
	waitKind(t, f.testServer, reqID, audit.NotificationDelivered)
	if tok := f.poll(authReqID); tok.status != http.StatusOK {
		t.Fatalf("token = %d %v", tok.status, tok.body)
	}
	ev := wantKinds(t, f.testServer, reqID, audit.RequestCreated, audit.RequestShown, audit.RequestApproved,
		audit.NotificationQueued, audit.NotificationAttempt, audit.NotificationAttempt, audit.NotificationDelivered,
		audit.RequestRedeemed)
	queued, first, second, delivered := ev[3], ev[4], ev[5], ev[6]
	ob := queued.Detail["outbound_id"]
	for _, e := range ev[3:7] {
		if e.Detail["outbound_id"] != ob || e.Subject != "u1" || e.ClientID != f.clientID {
			t.Errorf("%s = outbound %v sub %q client %q, want %v u1 %q", e.Kind, e.Detail["outbound_id"], e.Subject, e.ClientID, ob, f.clientID)
		}
	}
	if first.Detail["status"] != float64(503) || first.Detail["attempt"] != float64(1) || first.Detail["duration_ms"] == nil {
		t.Errorf("first attempt detail = %v, want status 503, attempt 1, a duration", first.Detail)
	}
	if second.Detail["status"] != float64(204) || second.Detail["attempt"] != float64(2) {
		t.Errorf("second attempt detail = %v, want status 204, attempt 2", second.Detail)
	}
	if delivered.Detail["attempts"] != float64(2) {
		t.Errorf("delivered detail = %v", delivered.Detail)
	}

	// A ping request left unanswered expires through the expiry loop,
	// which queues its ping.
	r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}, "client_notification_token": {notifyToken}})
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	p, _ := f.dev.Pending(t.Context())
	f.clock.Advance(10 * time.Minute)
	if n, err := f.svc.ExpireDue(t.Context(), 10); err != nil || n != 1 {
		t.Fatalf("ExpireDue = %d, %v", n, err)
	}
	f.rc.wait(t)
	waitKind(t, f.testServer, p[0].RequestID, audit.NotificationDelivered)
	ev = wantKinds(t, f.testServer, p[0].RequestID, audit.RequestCreated, audit.RequestShown, audit.RequestExpired,
		audit.NotificationQueued, audit.NotificationAttempt, audit.NotificationDelivered)
	if ev[2].Detail["noticed_by"] != "expiry" || ev[3].Detail["outcome"] != "expired" {
		t.Errorf("expiry details = %v, %v", ev[2].Detail, ev[3].Detail)
	}
}

func TestAuditPushFailure(t *testing.T) {
	f := newNotifyFlow(t, "push", 0, testOptions{})
	f.rc.Close() // nobody listens: every attempt fails to connect
	_, reqID := f.startAndDecide(t, true)
	waitKind(t, f.testServer, reqID, audit.NotificationAttempt)
	ev := wantKinds(t, f.testServer, reqID, audit.RequestCreated, audit.RequestShown, audit.RequestApproved,
		audit.RequestRedeemed, audit.NotificationQueued, audit.NotificationAttempt)
	if ev[3].Detail["delivery_mode"] != "push" || ev[5].Detail["error"] != "connection" {
		t.Errorf("push details = %v, %v; want push mode, a connection error", ev[3].Detail, ev[5].Detail)
	}
}

func TestAuditStreamNotified(t *testing.T) {
	f := newFlow(t, nil)
	dev := f.enrolDevice("u1")
	f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}, "binding_message": {"first"}})
	got := make(chan ciba.Summary, 4)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		dev.Stream(ctx, func(s ciba.Summary) error { got <- s; return nil })
	}()
	t.Cleanup(func() { cancel(); <-done })
	next := func() ciba.Summary {
		t.Helper()
		select {
		case s := <-got:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("the stream sent nothing")
			return ciba.Summary{}
		}
	}
	first := next() // sent on connecting: the stream is subscribed now
	f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}, "binding_message": {"second"}})
	second := next()
	devID := dev.Credentials().DeviceID

	waitKind(t, f.testServer, second.RequestID, audit.RequestShown)
	ev := wantKinds(t, f.testServer, first.RequestID, audit.RequestCreated, audit.RequestShown)
	if ev[1].Detail["via"] != ciba.ShownStream || ev[1].DeviceID != devID {
		t.Errorf("first shown = %v on %q, want via stream on %q", ev[1].Detail, ev[1].DeviceID, devID)
	}
	ev = wantKinds(t, f.testServer, second.RequestID, audit.RequestCreated, audit.DeviceNotified, audit.RequestShown)
	if ev[1].DeviceID != devID || ev[2].Detail["via"] != ciba.ShownLive {
		t.Errorf("second = %v on %q, %v; want notified on %q and shown live", ev[1].Detail, ev[1].DeviceID, ev[2].Detail, devID)
	}
}

func TestAdminAuditQuery(t *testing.T) {
	f := newFlow(t, nil)
	dev := f.enrolDevice("u1")
	other, otherSecret := f.createClient(nil)
	var refs []string
	for i, c := range []struct{ id, secret string }{{f.clientID, f.secret}, {other, otherSecret}, {f.clientID, f.secret}} {
		r := f.postForm("/bc-authorize", url.Values{"scope": {"openid"}, "login_hint": {"u1"}}, c.id, c.secret)
		if r.status != http.StatusOK {
			t.Fatalf("bc-authorize %d = %d %v", i, r.status, r.body)
		}
		f.clock.Advance(time.Second)
	}
	p, err := dev.Pending(t.Context())
	if err != nil || len(p) != 3 {
		t.Fatalf("Pending = %v, %v", p, err)
	}
	for _, s := range p {
		refs = append(refs, s.RequestID)
	}

	all := f.trail("user=u1")
	if len(all) != 6 { // three created, three shown
		t.Fatalf("trail of u1 = %v, want 6 events", kinds(all))
	}
	if got := f.trail("client=" + url.QueryEscape(other)); len(got) != 2 || got[0].RequestID != refs[1] {
		t.Errorf("trail of client %s = %v", other, got)
	}
	if got := f.trail("request=" + refs[2]); len(got) != 2 || got[0].RequestID != refs[2] {
		t.Errorf("trail of request %s = %v", refs[2], got)
	}
	if got := f.trail("user=u1&client=" + url.QueryEscape(f.clientID)); len(got) != 4 {
		t.Errorf("trail of u1 and client %s = %d events, want 4", f.clientID, len(got))
	}
	since := all[1].At.Add(time.Second).Format(time.RFC3339Nano)
	if got := f.trail("user=u1&since=" + url.QueryEscape(since)); len(got) != 4 || got[0].Kind != string(audit.RequestCreated) {
		t.Errorf("trail since %s = %v, want the last two requests", since, kinds(got))
	}
	if got := f.trail("user=u1&limit=2"); len(got) != 2 || got[0].ID != all[0].ID || got[1].ID != all[1].ID {
		t.Errorf("trail limit 2 = %v", got)
	}

	// JSON lines, by Accept and by format: the same events, one a line.
	for _, c := range []struct{ query, accept string }{{"user=u1", "application/x-ndjson"}, {"user=u1&format=jsonl", ""}} {
		resp, b := f.auditGet(c.query, c.accept)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("export %v = %d %s %s", c, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		var ids []string
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			var e auditEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("export line %q: %v", sc.Text(), err)
			}
			ids = append(ids, e.ID)
		}
		var want []string
		for _, e := range all {
			want = append(want, e.ID)
		}
		if !slices.Equal(ids, want) {
			t.Errorf("export %v = %v, want %v", c, ids, want)
		}
	}
	if resp, b := f.auditGet("user=u1&format=jsonl&limit=3", ""); strings.Count(string(b), "\n") != 3 {
		t.Errorf("export with limit 3 = %d %q", resp.StatusCode, b)
	}

	for _, q := range []string{"", "since=2020-01-01T00:00:00Z", "user=u1&since=yesterday", "user=u1&limit=0", "user=u1&limit=x"} {
		if resp, b := f.auditGet(q, ""); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "invalid_request") {
			t.Errorf("GET /admin/v1/audit?%s = %d %s, want 400 invalid_request", q, resp.StatusCode, b)
		}
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.URL+"/admin/v1/audit?user=u1", nil)
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("audit without the admin token = %d, want 401", resp.StatusCode)
	}
}
