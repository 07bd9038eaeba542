package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/audit"
	"github.com/backchannel/backchannel/device/agent"
	"github.com/backchannel/backchannel/store"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// secrets collects the secrets a test saw, by name.
type secrets map[string]string

func (s secrets) add(name, value string) {
	if value == "" {
		return
	}
	s[name] = value
	// A JWT's signature is the secret part; the claims may be quoted
	// harmlessly elsewhere, but never the whole token or its signature.
	if parts := strings.Split(value, "."); len(parts) == 3 && len(parts[2]) > 20 {
		s[name+" signature"] = parts[2]
	}
	if q := url.QueryEscape(value); q != value {
		s[name+" (form-encoded)"] = q
	}
}

// leaks returns the names of the secrets found in b.
func (s secrets) leaks(b []byte) []string {
	var out []string
	for name, v := range s {
		if bytes.Contains(b, []byte(v)) {
			out = append(out, name)
		}
	}
	return out
}

// TestNoSecretInLogsOrAudit runs the poll, ping and push flows, a
// refresh, an enrolment and a notification that fails before it is
// delivered, with every log record captured at Debug level, and checks
// that no secret the flows used appears in the logs or the audit trail.
func TestNoSecretInLogsOrAudit(t *testing.T) {
	logs := &syncBuffer{}
	s := startTestServer(t, testOptions{notify: true, logTo: logs})
	sec := secrets{}
	sec.add("admin token", testAdminToken)
	s.createUser(map[string]any{"sub": "u1", "email": "hana@example.jp", "name": "Hana Sato"})

	// Enrolment, by hand so that the code and the key are at hand.
	enr := s.admin(http.MethodPost, "/enrolments", map[string]any{"subject": "u1"}, http.StatusCreated)
	code := enr["code"].(string)
	sec.add("enrolment code", code)
	creds, err := agent.Register(t.Context(), s.Client(), s.URL, code, "test phone")
	if err != nil {
		t.Fatal(err)
	}
	d, err := creds.Key.Bytes()
	if err != nil {
		t.Fatal(err)
	}

	sec.add("device key d", base64.RawURLEncoding.EncodeToString(d))
	sec.add("device key d (base64)", base64.StdEncoding.EncodeToString(d))
	sec.add("device key d (hex)", hex.EncodeToString(d))
	sec.add("device key d (decimal)", new(big.Int).SetBytes(d).String())
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: creds.Key})
	sec.add("device private JWK", string(jwk))
	dev, err := agent.New(t.Context(), s.Client(), creds)
	if err != nil {
		t.Fatal(err)
	}
	dev.Now = s.clock.Now
	decideNext := func(approve bool) string {
		t.Helper()
		p, err := dev.Pending(t.Context())
		if err != nil || len(p) != 1 {
			t.Fatalf("Pending = %v, %v", p, err)
		}
		if err := dev.Decide(t.Context(), p[0], approve); err != nil {
			t.Fatal(err)
		}
		return p[0].RequestID
	}
	tokens := func(prefix string, r response) {
		t.Helper()
		for _, name := range []string{"access_token", "refresh_token", "id_token"} {
			sec.add(prefix+" "+name, r.str(name))
		}
	}

	// Poll: pending, slow_down, approval, tokens, refresh, userinfo.
	poll := &flow{testServer: s}
	poll.clientID, poll.secret = s.createClient(nil)
	sec.add("poll client secret", poll.secret)
	r := poll.start(url.Values{"scope": {"openid email"}, "login_hint": {"u1"}, "binding_message": {"Order 1234"}})
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	sec.add("poll auth_req_id", r.str("auth_req_id"))
	wantError(t, poll.poll(r.str("auth_req_id")), http.StatusBadRequest, "slow_down")
	decideNext(true)
	s.clock.Advance(time.Minute)
	tok := poll.poll(r.str("auth_req_id"))
	if tok.status != http.StatusOK {
		t.Fatalf("token = %d %v", tok.status, tok.body)
	}
	tokens("poll", tok)
	ref := s.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.str("refresh_token")}}, poll.clientID, poll.secret)
	if ref.status != http.StatusOK {
		t.Fatalf("refresh = %d %v", ref.status, ref.body)
	}
	tokens("refreshed", ref)
	// A replayed refresh token is an error that must not log the token.
	wantError(t, s.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.str("refresh_token")}}, poll.clientID, poll.secret), http.StatusBadRequest, "invalid_grant")
	// So is a wrong client secret, and an unknown auth_req_id.
	wantError(t, s.postForm("/token", url.Values{"grant_type": {cibaGrant}, "auth_req_id": {r.str("auth_req_id")}}, poll.clientID, poll.secret+"x"), http.StatusUnauthorized, "invalid_client")
	sec.add("wrong client secret", poll.secret+"x")

	// Ping, whose first notification fails.
	for _, c := range []struct {
		mode      string
		failFirst int
		token     string
	}{
		{"ping", 1, "ping-notification-token-" + strings.Repeat("p", 20)},
		{"push", 0, "push-notification-token-" + strings.Repeat("q", 20)},
	} {
		rc := newReceiver(t, c.failFirst)
		id, secret := s.createClient(map[string]any{
			"backchannel_token_delivery_mode":          c.mode,
			"backchannel_client_notification_endpoint": rc.URL + "/cb",
		})
		sec.add(c.mode+" client secret", secret)
		sec.add(c.mode+" client_notification_token", c.token)
		f := &flow{testServer: s, clientID: id, secret: secret}
		r := f.start(url.Values{"scope": {"openid email"}, "login_hint": {"u1"}, "client_notification_token": {c.token}})
		if r.status != http.StatusOK {
			t.Fatalf("%s bc-authorize = %d %v", c.mode, r.status, r.body)
		}
		sec.add(c.mode+" auth_req_id", r.str("auth_req_id"))
		reqID := decideNext(true)
		n := rc.wait(t)
		waitKind(t, s, reqID, audit.NotificationDelivered)
		if c.mode == "ping" {
			tok := f.poll(r.str("auth_req_id"))
			if tok.status != http.StatusOK {
				t.Fatalf("ping token = %d %v", tok.status, tok.body)
			}
			tokens("ping", tok)
			continue
		}
		for _, name := range []string{"access_token", "refresh_token", "id_token"} {
			v, _ := n.body[name].(string)
			sec.add("push "+name, v)
		}
		if sec["push access_token"] == "" {
			t.Fatalf("push notification = %v, want tokens", n.body)
		}
	}
	// A denied poll request, and a push request that expires unanswered
	// and whose notification the client refuses, for the events and the
	// log lines of those paths too.
	r = poll.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}})
	sec.add("denied auth_req_id", r.str("auth_req_id"))
	decideNext(false)
	s.clock.Advance(time.Minute)
	wantError(t, poll.poll(r.str("auth_req_id")), http.StatusBadRequest, "access_denied")
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadRequest) }))
	t.Cleanup(refusing.Close)
	id, secret := s.createClient(map[string]any{
		"backchannel_token_delivery_mode":          "push",
		"backchannel_client_notification_endpoint": refusing.URL + "/cb",
	})
	sec.add("refused client secret", secret)
	const refusedToken = "refused-notification-token-0123456789"
	sec.add("refused client_notification_token", refusedToken)
	r = s.postForm("/bc-authorize", url.Values{"scope": {"openid"}, "login_hint": {"u1"}, "client_notification_token": {refusedToken}}, id, secret)
	sec.add("expired auth_req_id", r.str("auth_req_id"))
	expiring, _ := dev.Pending(t.Context())
	s.clock.Advance(time.Hour)
	if n, err := s.svc.ExpireDue(t.Context(), 10); err != nil || n != 1 {
		t.Fatalf("ExpireDue = %d, %v", n, err)
	}
	waitKind(t, s, expiring[0].RequestID, audit.NotificationFailed)

	// Every secret was seen, and the trail has every kind but
	// device.notified (no stream here).
	if len(sec) < 25 {
		t.Fatalf("only %d secrets collected: %v", len(sec), sec)
	}
	var trail bytes.Buffer
	seen := map[string]bool{}
	for _, q := range []store.AuditQuery{{Subject: "u1", Limit: 10000}} {
		events, err := s.store.AuditEvents(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			b, _ := json.Marshal(e)
			trail.Write(append(b, '\n'))
			seen[e.Kind] = true
		}
	}
	resp, export := s.auditGet("user=u1&format=jsonl", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export = %d %s", resp.StatusCode, export)
	}
	trail.Write(export)
	for _, k := range audit.Kinds {
		if !seen[string(k)] && k != audit.DeviceNotified {
			t.Errorf("the trail has no %s event", k)
		}
	}

	logged := logs.Bytes()
	if len(logged) == 0 || !bytes.Contains(logged, []byte(`"level":"DEBUG"`)) {
		t.Fatalf("no Debug log records were captured:\n%s", logged)
	}
	t.Logf("%d secrets; %d bytes of logs; %d bytes of audit trail", len(sec), len(logged), trail.Len())
	if leaks := sec.leaks(logged); len(leaks) > 0 {
		t.Errorf("the logs hold secrets: %v\n%s", leaks, logged)
	}
	if leaks := sec.leaks(trail.Bytes()); len(leaks) > 0 {
		t.Errorf("the audit trail holds secrets: %v\n%s", leaks, trail.Bytes())
	}
}
