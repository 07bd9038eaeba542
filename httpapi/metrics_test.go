package httpapi_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/httpapi"
	"github.com/backchannel/backchannel/metrics"
)

// testMetrics are the observers a test server is wired with: all nil
// unless the test asked for a registry.
type testMetrics struct {
	http    httpapi.Observer
	ciba    ciba.Observer
	handler http.Handler
}

func newTestMetrics(reg *prometheus.Registry, hub *device.Hub) testMetrics {
	if reg == nil {
		return testMetrics{}
	}
	m := metrics.New(reg)
	m.WatchDeviceStreams(hub.Subscribers)
	return testMetrics{http: m, ciba: m, handler: m.Handler()}
}

// scrape fetches /metrics and returns its samples by series, as the text
// format writes them: name{label="value",…} with the labels sorted.
func (s *testServer) scrape() map[string]string {
	s.t.Helper()
	resp, err := s.Client().Get(s.URL + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		s.t.Fatalf("GET /metrics = %d %s", resp.StatusCode, b)
	}
	samples := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		samples[line[:i]] = line[i+1:]
	}
	if err := sc.Err(); err != nil {
		s.t.Fatal(err)
	}
	return samples
}

func TestMetricsAfterPollFlow(t *testing.T) {
	s := startTestServer(t, testOptions{limits: ciba.Limits{MaxUserCodeFailures: 3}, registry: prometheus.NewRegistry()})
	f := &flow{testServer: s}
	f.clientID, f.secret = s.createClient(nil)
	s.createUser(map[string]any{"sub": "u1", "email": "hana@example.jp"})
	dev := s.enrolDevice("u1")

	r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"hana@example.jp"}})
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	authReqID := r.str("auth_req_id")
	wantError(t, f.poll(authReqID), http.StatusBadRequest, "slow_down")
	s.clock.Advance(10 * time.Second)
	wantError(t, f.poll(authReqID), http.StatusBadRequest, "authorization_pending")
	pending, err := dev.Pending(t.Context())
	if err != nil || len(pending) != 1 {
		t.Fatalf("Pending = %v, %v; want 1 request", pending, err)
	}
	s.clock.Advance(7 * time.Second)
	if err := dev.Decide(t.Context(), pending[0], true); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(10 * time.Second)
	if r := f.poll(authReqID); r.status != http.StatusOK {
		t.Fatalf("token = %d %v", r.status, r.body)
	}
	wantError(t, f.poll(authReqID), http.StatusBadRequest, "invalid_grant")
	if resp, err := s.Client().Get(s.URL + "/no/such/path"); err == nil {
		resp.Body.Close()
	}

	got := s.scrape()
	for series, want := range map[string]string{
		`backchannel_http_requests_total{code="slow_down",method="POST",route="POST /token",status="400"}`:                   "1",
		`backchannel_http_requests_total{code="authorization_pending",method="POST",route="POST /token",status="400"}`:       "1",
		`backchannel_http_requests_total{code="",method="POST",route="POST /token",status="200"}`:                            "1",
		`backchannel_http_requests_total{code="invalid_grant",method="POST",route="POST /token",status="400"}`:               "1",
		`backchannel_http_requests_total{code="",method="POST",route="POST /bc-authorize",status="200"}`:                     "1",
		`backchannel_http_requests_total{code="",method="POST",route="POST /admin/v1/clients",status="201"}`:                 "1",
		`backchannel_http_requests_total{code="",method="POST",route="POST /device/v1/requests/{id}/decision",status="204"}`: "1",
		`backchannel_http_requests_total{code="",method="GET",route="unmatched",status="404"}`:                               "1",
		`backchannel_http_request_duration_seconds_count{method="POST",route="POST /token"}`:                                 "4",
		`backchannel_tokens_issued_total{grant_type="urn:openid:params:grant-type:ciba"}`:                                    "1",
		`backchannel_requests_started_total{mode="poll"}`:                                                                    "1",
		`backchannel_requests_decided_total{mode="poll",outcome="approved"}`:                                                 "1",
		`backchannel_request_decision_seconds_count{outcome="approved"}`:                                                     "1",
		`backchannel_request_decision_seconds_bucket{outcome="approved",le="15"}`:                                            "0",
		`backchannel_request_decision_seconds_bucket{outcome="approved",le="20"}`:                                            "1",
		`backchannel_rate_limited_total{scope="client"}`:                                                                     "0",
		`backchannel_device_streams_open`:                                                                                    "0",
	} {
		if got[series] != want {
			t.Errorf("%s = %q, want %q", series, got[series], want)
		}
	}
	for series := range got {
		if strings.Contains(series, authReqID) || strings.Contains(series, pending[0].RequestID) {
			t.Errorf("series %s names a request", series)
		}
	}
}

func TestMetricsNotServedByDefault(t *testing.T) {
	s := newTestServer(t)
	resp, err := s.Client().Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics without metrics = %d, want 404", resp.StatusCode)
	}
}

func TestReadyz(t *testing.T) {
	s := newTestServer(t)
	get := func() (int, map[string]any) {
		t.Helper()
		resp, err := s.Client().Get(s.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	if status, body := get(); status != http.StatusOK || body["status"] != "ready" {
		t.Errorf("GET /readyz = %d %v, want 200 ready", status, body)
	}
	s.store.Close()
	status, body := get()
	if status != http.StatusServiceUnavailable || body["status"] != "unavailable" {
		t.Errorf("GET /readyz with the store closed = %d %v, want 503 unavailable", status, body)
	}
	if failed, _ := body["failed"].([]any); len(failed) != 1 || failed[0] != "database" {
		t.Errorf("failed = %v, want [database]", body["failed"])
	}
}
