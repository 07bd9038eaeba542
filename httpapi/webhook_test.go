package httpapi_test

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/httpapi"
	"github.com/backchannel/backchannel/mtls"
	"github.com/backchannel/backchannel/mtls/mtlstest"
	"github.com/backchannel/backchannel/notify"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/webhook"
)

// withDeps applies opts.deps to d.
func withDeps(opts testOptions, d httpapi.Deps) httpapi.Deps {
	if opts.deps != nil {
		opts.deps(&d)
	}
	return d
}

var webhookSecret = []byte("webhook-secret-0123456789abcdefghij")

// webhookReceiver is the bank's backend on 127.0.0.1: it verifies each
// notification's signature and hands the notification to the test.
type webhookReceiver struct {
	*httptest.Server
	got chan ciba.WebhookNotification
}

func newWebhookReceiver(t *testing.T, now func() time.Time) *webhookReceiver {
	wr := &webhookReceiver{got: make(chan ciba.WebhookNotification, 16)}
	wr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if _, err := webhook.Verify(webhookSecret, r.Header.Get(webhook.Header), b, now(), webhook.DefaultTolerance); err != nil {
			t.Errorf("notification signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Authorization") != "" {
			t.Errorf("webhook notification has Authorization %q, want none", r.Header.Get("Authorization"))
		}
		var n ciba.WebhookNotification
		if err := json.Unmarshal(b, &n); err != nil {
			t.Errorf("notification %q: %v", b, err)
		}
		if bytes.Contains(b, []byte("auth_req_id")) {
			t.Errorf("notification %s names the auth_req_id", b)
		}
		wr.got <- n
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(wr.Close)
	return wr
}

func (wr *webhookReceiver) wait(t *testing.T) ciba.WebhookNotification {
	t.Helper()
	select {
	case n := <-wr.got:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook notification within 10 s")
		return ciba.WebhookNotification{}
	}
}

// newWebhookFlow runs a server with the webhook channel, a poll client
// and a user without any device.
func newWebhookFlow(t *testing.T) (*flow, *webhookReceiver) {
	var wr *webhookReceiver
	opts := testOptions{notify: true}
	opts.deps = func(d *httpapi.Deps) {
		wr = newWebhookReceiver(t, d.Now) // verifies with the server's clock
		d.CIBA.WebhookURL = wr.URL + "/hook"
		d.Webhook = &httpapi.WebhookCallback{Secret: webhookSecret}
	}
	opts.worker = func(w *notify.Worker) { w.Authorize = ciba.WebhookSigner(webhookSecret, w.Now) }
	s := startTestServer(t, opts)
	id, secret := s.createClient(nil)
	s.createUser(map[string]any{"sub": "u1", "email": "hana@example.jp", "phone_number": "+81312345678"})
	return &flow{testServer: s, clientID: id, secret: secret}, wr
}

// callback posts a decision to the webhook callback, signed by header.
func (s *testServer) callback(requestID string, body []byte, header string) response {
	s.t.Helper()
	req, _ := http.NewRequestWithContext(s.t.Context(), http.MethodPost, s.URL+"/webhook/v1/requests/"+url.PathEscape(requestID)+"/decision", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set(webhook.Header, header)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &r.body); err != nil {
			s.t.Fatalf("callback: body %q is not JSON", b)
		}
	}
	return r
}

func TestWebhookEndToEnd(t *testing.T) {
	f, wr := newWebhookFlow(t)
	// The user has no device: with a webhook, the bank's app is it.
	r := f.start(url.Values{"scope": {"openid email"}, "login_hint": {"hana@example.jp"}, "binding_message": {"Transfer 42"}})
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	authReqID := r.str("auth_req_id")
	n := wr.wait(t)
	if n.Event != ciba.WebhookRequestCreated || n.RequestID == "" || n.User.Subject != "u1" || n.User.Email != "hana@example.jp" ||
		n.Client.ID != f.clientID || n.Client.Name != "Test Client" || n.BindingMessage != "Transfer 42" ||
		!slices.Equal(n.Scopes, []string{"openid", "email"}) || n.Summary == "" || n.ExpiresAt == 0 {
		t.Errorf("notification = %+v", n)
	}

	approve, _ := json.Marshal(map[string]any{"decision": "approve", "summary": n.Summary, "amr": []string{"face"}})
	now := f.clock.Now()
	t.Run("refusals", func(t *testing.T) {
		tests := []struct {
			name   string
			header string
		}{
			{"no signature", ""},
			{"forged signature", webhook.Sign([]byte("not the secret, but just as long"), now, approve)},
			{"signature over another body", webhook.Sign(webhookSecret, now, []byte(`{"decision":"deny"}`))},
			{"stale timestamp", webhook.Sign(webhookSecret, now.Add(-6*time.Minute), approve)},
			{"future timestamp", webhook.Sign(webhookSecret, now.Add(6*time.Minute), approve)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := f.callback(n.RequestID, approve, tt.header)
				wantError(t, res, http.StatusUnauthorized, "invalid_token")
			})
		}
	})
	res := f.callback("no-such-request", approve, webhook.Sign(webhookSecret, now.Add(-time.Second), approve))
	wantError(t, res, http.StatusNotFound, "not_found")

	signed := webhook.Sign(webhookSecret, now, approve)
	if res := f.callback(n.RequestID, approve, signed); res.status != http.StatusNoContent {
		t.Fatalf("callback = %d %v, want 204", res.status, res.body)
	}
	// The same signed callback again is a replay, however its header is
	// spelt.
	for _, h := range []string{signed, " " + signed, strings.Replace(signed, ",", ", ", 1), signed + ",v1=" + strings.Repeat("0", 64)} {
		wantError(t, f.callback(n.RequestID, approve, h), http.StatusUnauthorized, "invalid_token")
	}
	// A fresh signature on a decided request: as a device decision.
	wantError(t, f.callback(n.RequestID, approve, webhook.Sign(webhookSecret, now.Add(time.Second), approve)), http.StatusConflict, "invalid_request")

	tok := f.poll(authReqID)
	if tok.status != http.StatusOK || tok.str("access_token") == "" || tok.str("id_token") == "" {
		t.Fatalf("token = %d %v", tok.status, tok.body)
	}
	if d := wr.wait(t); d.Event != ciba.WebhookRequestDecided || d.RequestID != n.RequestID || d.State != "approved" {
		t.Errorf("decided notification = %+v", d)
	}
	req, err := f.store.Request(t.Context(), n.RequestID)
	if err != nil || req.DeviceID != ciba.WebhookDeviceID || req.ACR != ciba.ACRWebhook || !slices.Equal(req.AMR, []string{"face"}) {
		t.Errorf("request = %+v, %v; want decided by the webhook", req, err)
	}
}

func TestWebhookDecisionSummaryMismatch(t *testing.T) {
	f, wr := newWebhookFlow(t)
	r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}, "binding_message": {"Pay 10"}})
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	n := wr.wait(t)
	body, _ := json.Marshal(map[string]any{"decision": "approve", "summary": "another-summary"})
	wantError(t, f.callback(n.RequestID, body, webhook.Sign(webhookSecret, f.clock.Now(), body)), http.StatusBadRequest, "invalid_request")
	body = []byte(`{"decision":"maybe","summary":"x"}`)
	wantError(t, f.callback(n.RequestID, body, webhook.Sign(webhookSecret, f.clock.Now(), body)), http.StatusBadRequest, "invalid_request")
	// Over 16 KiB, signed or not: 413 before the signature is checked.
	body, _ = json.Marshal(map[string]any{"decision": "approve", "summary": strings.Repeat("x", 16<<10)})
	wantError(t, f.callback(n.RequestID, body, webhook.Sign(webhookSecret, f.clock.Now(), body)), http.StatusRequestEntityTooLarge, "invalid_request")
}

// TestWebhookPasskeyRequired: a request that needs a passkey is approved
// through the webhook only when the deployment's app reports the passkey
// acr (its own user verification).
func TestWebhookPasskeyRequired(t *testing.T) {
	f, wr := newWebhookFlow(t)
	r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}, "acr_values": {ciba.ACRPasskey}})
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	n := wr.wait(t)
	if !slices.Equal(n.ACRValues, []string{ciba.ACRPasskey}) {
		t.Errorf("notification acr_values = %v", n.ACRValues)
	}
	plain, _ := json.Marshal(map[string]any{"decision": "approve", "summary": n.Summary})
	wantError(t, f.callback(n.RequestID, plain, webhook.Sign(webhookSecret, f.clock.Now(), plain)), http.StatusForbidden, "passkey_required")
	verified, _ := json.Marshal(map[string]any{"decision": "approve", "summary": n.Summary, "acr": ciba.ACRPasskey, "amr": []string{"face", "hwk"}})
	if res := f.callback(n.RequestID, verified, webhook.Sign(webhookSecret, f.clock.Now(), verified)); res.status != http.StatusNoContent {
		t.Fatalf("callback with the passkey acr = %d %v, want 204", res.status, res.body)
	}
	f.clock.Advance(5 * time.Second)
	tok := f.poll(r.str("auth_req_id"))
	if tok.status != http.StatusOK {
		t.Fatalf("token = %d %v", tok.status, tok.body)
	}
	if acr := verifyIDToken(t, f.testServer, tok.str("id_token"))["acr"]; acr != ciba.ACRPasskey {
		t.Errorf("id_token acr = %v, want %s", acr, ciba.ACRPasskey)
	}
}

func TestWebhookExpiredAndNotMe(t *testing.T) {
	f, wr := newWebhookFlow(t)
	reg := func() string {
		r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}})
		if r.status != http.StatusOK {
			t.Fatalf("bc-authorize = %d %v", r.status, r.body)
		}
		return r.str("auth_req_id")
	}
	first := reg()
	n1 := wr.wait(t)
	second := reg()
	n2 := wr.wait(t)

	// "This wasn't me" through the webhook: denied and audited.
	body, _ := json.Marshal(map[string]any{"decision": "deny", "summary": n1.Summary, "reason": "not_me"})
	if res := f.callback(n1.RequestID, body, webhook.Sign(webhookSecret, f.clock.Now(), body)); res.status != http.StatusNoContent {
		t.Fatalf("not_me callback = %d %v, want 204", res.status, res.body)
	}
	wantError(t, f.poll(first), http.StatusBadRequest, "access_denied")
	evs, _ := f.store.AuditEvents(t.Context(), store.AuditQuery{RequestID: n1.RequestID})
	if !hasDenial(evs, ciba.ReasonNotMe) {
		t.Errorf("audit = %+v, want request.denied with reason not_me", evs)
	}
	bad, _ := json.Marshal(map[string]any{"decision": "approve", "summary": n2.Summary, "reason": "not_me"})
	wantError(t, f.callback(n2.RequestID, bad, webhook.Sign(webhookSecret, f.clock.Now(), bad)), http.StatusBadRequest, "invalid_request")

	// A decision after expiry: as a device decision.
	f.clock.Advance(10 * time.Minute)
	body, _ = json.Marshal(map[string]any{"decision": "approve", "summary": n2.Summary})
	wantError(t, f.callback(n2.RequestID, body, webhook.Sign(webhookSecret, f.clock.Now(), body)), http.StatusGone, "invalid_request")
	wantError(t, f.poll(second), http.StatusBadRequest, "expired_token")
}

func TestWebhookNumberMatching(t *testing.T) {
	f, wr := newWebhookFlow(t)
	f.svc.Fatigue.NumberMatching = true
	for _, right := range []bool{false, true} {
		r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}})
		code := r.str("matching_number")
		if r.status != http.StatusOK || code == "" {
			t.Fatalf("bc-authorize = %d %v, want a matching_number", r.status, r.body)
		}
		n := wr.wait(t)
		if len(n.NumberChoices) != 3 || !slices.Contains(n.NumberChoices, code) {
			t.Fatalf("number_choices = %v, want 3 including %s", n.NumberChoices, code)
		}
		pick := code
		if !right {
			pick = n.NumberChoices[slices.IndexFunc(n.NumberChoices, func(c string) bool { return c != code })]
		}
		body, _ := json.Marshal(map[string]any{"decision": "approve", "summary": n.Summary, "number": pick})
		res := f.callback(n.RequestID, body, webhook.Sign(webhookSecret, f.clock.Now(), body))
		tok := f.poll(r.str("auth_req_id"))
		if right {
			if res.status != http.StatusNoContent || tok.status != http.StatusOK {
				t.Errorf("right pick: callback = %d %v, token = %d %v", res.status, res.body, tok.status, tok.body)
			}
			continue
		}
		wantError(t, res, http.StatusBadRequest, "invalid_request")
		wantError(t, tok, http.StatusBadRequest, "access_denied")
		wr.wait(t) // the denial's request.decided
	}
}

func TestWebhookCallbackOverMTLS(t *testing.T) {
	cert := mtlstest.SelfSigned(t, &x509.Certificate{Subject: pkix.Name{CommonName: "bank backend"}})
	other := mtlstest.SelfSigned(t, &x509.Certificate{Subject: pkix.Name{CommonName: "someone else"}})
	opts := testOptions{tls: true}
	opts.deps = func(d *httpapi.Deps) {
		d.CIBA.WebhookURL = "https://bank.invalid/hook" // not delivered: no worker runs
		d.Webhook = &httpapi.WebhookCallback{Secret: webhookSecret, CertificateSHA256: mtls.Thumbprint(cert.Leaf)}
	}
	s := startTestServer(t, opts)
	id, secret := s.createClient(nil)
	s.createUser(map[string]any{"sub": "u1"})
	f := &flow{testServer: s, clientID: id, secret: secret}
	r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}})
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	pending, err := s.svc.Pending(t.Context(), "u1")
	if err != nil || len(pending) != 1 {
		t.Fatalf("Pending = %v, %v", pending, err)
	}
	body, _ := json.Marshal(map[string]any{"decision": "approve", "summary": pending[0].Digest()})
	call := func(hc *http.Client) int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/webhook/v1/requests/"+pending[0].RequestID+"/decision", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := call(mtlstest.Client(s.Server)); got != http.StatusUnauthorized {
		t.Errorf("unsigned, no certificate = %d, want 401", got)
	}
	if got := call(mtlstest.Client(s.Server, other)); got != http.StatusUnauthorized {
		t.Errorf("unsigned, another certificate = %d, want 401", got)
	}
	if got := call(mtlstest.Client(s.Server, cert)); got != http.StatusNoContent {
		t.Fatalf("unsigned, the configured certificate = %d, want 204", got)
	}
	if tok := f.poll(r.str("auth_req_id")); tok.status != http.StatusOK {
		t.Errorf("token = %d %v", tok.status, tok.body)
	}
}

// fatigueFlow is a server with two clients and user u1 with a device.
func fatigueFlow(t *testing.T, fat ciba.Fatigue) (*testServer, *flow, *flow, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	s := startTestServer(t, testOptions{registry: reg})
	s.svc.Fatigue = fat
	a, as := s.createClient(nil)
	b, bs := s.createClient(map[string]any{"client_name": "Other Client"})
	s.createUser(map[string]any{"sub": "u1", "email": "hana@example.jp"})
	s.createUser(map[string]any{"sub": "u2", "email": "kenji@example.jp"})
	s.enrolDevice("u1")
	s.enrolDevice("u2")
	return s, &flow{testServer: s, clientID: a, secret: as}, &flow{testServer: s, clientID: b, secret: bs}, reg
}

var startU1 = url.Values{"scope": {"openid"}, "login_hint": {"u1"}}

func TestPendingCaps(t *testing.T) {
	_, a, b, _ := fatigueFlow(t, ciba.Fatigue{MaxPendingPerUser: 3, MaxPendingPerClientUser: 2})
	steps := []struct {
		name   string
		f      *flow
		status int
		code   string
	}{
		{"A first", a, http.StatusOK, ""},
		{"A second", a, http.StatusOK, ""},
		{"A third: client-user cap", a, http.StatusForbidden, "access_denied"},
		{"B first", b, http.StatusOK, ""},
		{"B second: user cap", b, http.StatusForbidden, "access_denied"},
	}
	for _, st := range steps {
		r := st.f.start(startU1)
		if st.code == "" {
			if r.status != st.status {
				t.Fatalf("%s: bc-authorize = %d %v, want %d", st.name, r.status, r.body, st.status)
			}
			continue
		}
		wantError(t, r, st.status, st.code)
		if !strings.Contains(r.str("error_description"), "pending requests") {
			t.Errorf("%s: error_description = %q, want it to name the pending requests", st.name, r.str("error_description"))
		}
	}
	// Another user is not affected.
	if r := a.start(url.Values{"scope": {"openid"}, "login_hint": {"u2"}}); r.status != http.StatusOK {
		t.Errorf("bc-authorize for u2 = %d %v, want 200", r.status, r.body)
	}
	// Expired requests do not count.
	a.clock.Advance(10 * time.Minute)
	if r := a.start(startU1); r.status != http.StatusOK {
		t.Errorf("bc-authorize after expiry = %d %v, want 200", r.status, r.body)
	}
}

func TestRateLimits(t *testing.T) {
	t.Run("client", func(t *testing.T) {
		s, a, b, _ := fatigueFlow(t, ciba.Fatigue{ClientRate: rate.Every(time.Hour), ClientBurst: 2})
		for i := range 2 {
			if r := a.start(url.Values{"scope": {"openid"}, "login_hint": {[]string{"u1", "u2"}[i]}}); r.status != http.StatusOK {
				t.Fatalf("bc-authorize %d = %d %v", i, r.status, r.body)
			}
		}
		wantError(t, a.start(startU1), http.StatusTooManyRequests, "access_denied")
		if r := b.start(startU1); r.status != http.StatusOK {
			t.Errorf("other client: bc-authorize = %d %v, want 200", r.status, r.body)
		}
		if got := s.scrape()[`backchannel_rate_limited_total{scope="client"}`]; got != "1" {
			t.Errorf(`backchannel_rate_limited_total{scope="client"} = %q, want 1`, got)
		}
	})
	t.Run("hint", func(t *testing.T) {
		s, a, b, _ := fatigueFlow(t, ciba.Fatigue{HintRate: rate.Every(time.Hour), HintBurst: 2})
		if r := a.start(startU1); r.status != http.StatusOK {
			t.Fatalf("bc-authorize = %d %v", r.status, r.body)
		}
		// Another hint of the same user shares the limit.
		if r := b.start(url.Values{"scope": {"openid"}, "login_hint": {"hana@example.jp"}}); r.status != http.StatusOK {
			t.Fatalf("bc-authorize = %d %v", r.status, r.body)
		}
		wantError(t, a.start(startU1), http.StatusTooManyRequests, "access_denied")
		if r := a.start(url.Values{"scope": {"openid"}, "login_hint": {"u2"}}); r.status != http.StatusOK {
			t.Errorf("other user: bc-authorize = %d %v, want 200", r.status, r.body)
		}
		if got := s.scrape()[`backchannel_rate_limited_total{scope="hint"}`]; got != "1" {
			t.Errorf(`backchannel_rate_limited_total{scope="hint"} = %q, want 1`, got)
		}
	})
}

func TestNumberMatching(t *testing.T) {
	s, a, _, _ := fatigueFlow(t, ciba.Fatigue{NumberMatching: true})
	dev := s.enrolDevice("u1")
	for _, tt := range []struct {
		name  string
		right bool
	}{{"wrong pick", false}, {"right pick", true}} {
		t.Run(tt.name, func(t *testing.T) {
			r := a.start(startU1)
			code := r.str("matching_number")
			if r.status != http.StatusOK || len(code) != 2 {
				t.Fatalf("bc-authorize = %d %v, want a two-digit matching_number", r.status, r.body)
			}
			p, err := dev.Pending(t.Context())
			if err != nil || len(p) != 1 {
				t.Fatalf("Pending = %v, %v", p, err)
			}
			choices := p[0].NumberChoices
			if len(choices) != 3 || !slices.Contains(choices, code) {
				t.Fatalf("NumberChoices = %v, want 3 including %s", choices, code)
			}
			pick := code
			if !tt.right {
				pick = choices[slices.IndexFunc(choices, func(c string) bool { return c != code })]
			}
			err = dev.DecideWith(t.Context(), p[0], true, map[string]string{"number": pick})
			tok := a.poll(r.str("auth_req_id"))
			if tt.right {
				if err != nil || tok.status != http.StatusOK {
					t.Fatalf("right pick: Decide = %v; token = %d %v", err, tok.status, tok.body)
				}
				return
			}
			if err == nil {
				t.Fatal("wrong pick: Decide = nil, want an error")
			}
			wantError(t, tok, http.StatusBadRequest, "access_denied")
			evs, _ := s.store.AuditEvents(t.Context(), store.AuditQuery{RequestID: p[0].RequestID})
			if !hasDenial(evs, ciba.ReasonWrongNumber) {
				t.Errorf("audit = %+v, want request.denied with reason wrong_number", evs)
			}
		})
	}
}

func TestNotMe(t *testing.T) {
	s, a, _, _ := fatigueFlow(t, ciba.Fatigue{})
	dev := s.enrolDevice("u1")
	r := a.start(startU1)
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	p, err := dev.Pending(t.Context())
	if err != nil || len(p) != 1 {
		t.Fatalf("Pending = %v, %v", p, err)
	}
	if err := dev.DecideWith(t.Context(), p[0], true, map[string]string{"reason": "not_me"}); err == nil {
		t.Error(`approve with reason "not_me" = nil, want an error`)
	}
	if err := dev.DecideWith(t.Context(), p[0], false, map[string]string{"reason": "bored"}); err == nil {
		t.Error(`deny with reason "bored" = nil, want an error`)
	}
	if err := dev.DecideWith(t.Context(), p[0], false, map[string]string{"reason": "not_me"}); err != nil {
		t.Fatal(err)
	}
	wantError(t, a.poll(r.str("auth_req_id")), http.StatusBadRequest, "access_denied")
	evs, _ := s.store.AuditEvents(t.Context(), store.AuditQuery{RequestID: p[0].RequestID})
	if !hasDenial(evs, ciba.ReasonNotMe) {
		t.Errorf("audit = %+v, want request.denied with reason not_me", evs)
	}
	key := `backchannel_reports_not_me_total{client_id="` + a.clientID + `"}`
	if got := s.scrape()[key]; got != "1" {
		t.Errorf("%s = %q, want 1", key, got)
	}
}

func hasDenial(evs []store.AuditEvent, reason string) bool {
	return slices.ContainsFunc(evs, func(e store.AuditEvent) bool {
		var d map[string]any
		json.Unmarshal(e.Detail, &d)
		return e.Kind == "request.denied" && d["reason"] == reason
	})
}
