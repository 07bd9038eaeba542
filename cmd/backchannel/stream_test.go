package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/device/agent"
)

// TestHeldResponsesOutliveTimeouts checks that server.read_timeout,
// which bounds how long a client may take to send its request, does not
// cut a device's request stream or a held long poll, both answers that
// take long by design; and that the device agent's stream outlives its
// HTTP client's timeout.
func TestHeldResponsesOutliveTimeouts(t *testing.T) {
	const adminToken = "stream-test-admin-token-0123456789"
	p := startServe(t, map[string]string{
		"BACKCHANNEL_DATA_DIR":            t.TempDir(),
		"BACKCHANNEL_LOG_LEVEL":           "warn",
		"BACKCHANNEL_ADMIN_TOKEN":         adminToken,
		"BACKCHANNEL_SERVER_READ_TIMEOUT": "1s",
		"BACKCHANNEL_CIBA_LONG_POLL":      "3s",
		"BACKCHANNEL_CIBA_INTERVAL":       "1s",
	}, "--dev", "--addr", "127.0.0.1:0")
	ctx := t.Context()
	hc := &http.Client{Timeout: 20 * time.Second}
	admin := func(path string, body any) map[string]any {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, "POST", p.issuer+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		return doJSON(t, hc, req, http.StatusCreated)
	}
	admin("/admin/v1/users", map[string]any{"sub": "u-1"})
	enrol := admin("/admin/v1/enrolments", map[string]any{"subject": "u-1"})
	creds, err := agent.Register(ctx, hc, p.issuer, enrol["code"].(string), "phone")
	if err != nil {
		t.Fatal(err)
	}
	// The device's client has a timeout, as clients should: it must
	// bound its calls, not the stream.
	phone, err := agent.New(ctx, &http.Client{Timeout: 2 * time.Second}, creds)
	if err != nil {
		t.Fatal(err)
	}
	var lost atomic.Int32
	phone.OnRetry = func(error, time.Duration) { lost.Add(1) }
	shown := make(chan ciba.Summary, 8)
	go phone.Stream(ctx, func(s ciba.Summary) error { shown <- s; return nil })

	// A held poll: 3 s of long polling, three read timeouts.
	m := regexp.MustCompile(`client_secret\s+(\S+)`).FindStringSubmatch(p.stdout.String())
	if m == nil {
		t.Fatalf("no demo client secret in the output:\n%s", p.stdout.String())
	}
	post := func(path string, form url.Values) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "POST", p.issuer+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("demo-client", m[1])
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	status, started := post("/bc-authorize", url.Values{"scope": {"openid"}, "login_hint": {"u-1"}})
	if status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", status, started)
	}
	time.Sleep(time.Duration(started["interval"].(float64)) * time.Second)
	begin := time.Now()
	status, body := post("/token", url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {started["auth_req_id"].(string)}})
	if held := time.Since(begin); status != http.StatusBadRequest || body["error"] != "authorization_pending" || held < 2500*time.Millisecond {
		t.Errorf("long poll = %d %v after %v, want authorization_pending after about 3s", status, body["error"], held)
	}

	// The stream, open for more than three read timeouts by now, still
	// shows the request, and was never lost.
	select {
	case s := <-shown:
		if s.ClientID != "demo-client" {
			t.Errorf("the stream showed %+v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the device stream did not show the request")
	}
	if n := lost.Load(); n != 0 {
		t.Errorf("the device stream was lost %d times within %v; neither read_timeout 1s nor the client's 2s timeout may end it", n, time.Since(begin)+time.Second)
	}
}
