package httpapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel/device/agent"
)

// notification is one request a client's notification endpoint received.
type notification struct {
	auth string
	body map[string]any
}

// receiver is a client's notification endpoint on 127.0.0.1. It answers
// 503 to the first failFirst requests.
type receiver struct {
	*httptest.Server
	mu        sync.Mutex
	hits      int
	failFirst int
	got       chan notification
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	rc := &receiver{failFirst: failFirst, got: make(chan notification, 16)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		rc.hits++
		fail := rc.hits <= rc.failFirst
		rc.mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("notification %q (Content-Type %q) is not JSON", b, r.Header.Get("Content-Type"))
		}
		rc.got <- notification{auth: r.Header.Get("Authorization"), body: body}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) wait(t *testing.T) notification {
	t.Helper()
	select {
	case n := <-rc.got:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no notification within 10 s")
		return notification{}
	}
}

func (rc *receiver) hitCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.hits
}

// notifyFlow is a ping or push client with a receiver, a user and a device.
type notifyFlow struct {
	*flow
	rc  *receiver
	dev *agent.Agent
}

func newNotifyFlow(t *testing.T, mode string, failFirst int, opts testOptions) *notifyFlow {
	opts.notify = true
	s := startTestServer(t, opts)
	rc := newReceiver(t, failFirst)
	id, secret := s.createClient(map[string]any{
		"backchannel_token_delivery_mode":          mode,
		"backchannel_client_notification_endpoint": rc.URL + "/cb",
	})
	s.createUser(map[string]any{"sub": "u1", "email": "hana@example.jp", "name": "Hana Sato"})
	return &notifyFlow{flow: &flow{testServer: s, clientID: id, secret: secret}, rc: rc, dev: s.enrolDevice("u1")}
}

const notifyToken = "8d67dc78-7faa-4d41-aabd-67707b374255"

// startAndDecide starts a request and answers it on the device; it
// returns the auth_req_id and the device-facing request id.
func (f *notifyFlow) startAndDecide(t *testing.T, approve bool) (string, string) {
	t.Helper()
	r := f.start(url.Values{"scope": {"openid email profile"}, "login_hint": {"u1"}, "client_notification_token": {notifyToken}})
	if r.status != 200 {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	p, err := f.dev.Pending(t.Context())
	if err != nil || len(p) != 1 {
		t.Fatalf("Pending = %v, %v", p, err)
	}
	if err := f.dev.Decide(t.Context(), p[0], approve); err != nil {
		t.Fatal(err)
	}
	return r.str("auth_req_id"), p[0].RequestID
}

func TestPingMode(t *testing.T) {
	f := newNotifyFlow(t, "ping", 0, testOptions{})
	id, _ := f.startAndDecide(t, true)
	n := f.rc.wait(t)
	if n.auth != "Bearer "+notifyToken {
		t.Errorf("Authorization = %q, want the client_notification_token as Bearer", n.auth)
	}
	if len(n.body) != 1 || n.body["auth_req_id"] != id {
		t.Errorf("ping body = %v, want exactly {auth_req_id}", n.body)
	}
	tok := f.poll(id)
	if tok.status != 200 || tok.str("id_token") == "" {
		t.Fatalf("token after ping = %d %v", tok.status, tok.body)
	}

	denied, _ := f.startAndDecide(t, false)
	if n := f.rc.wait(t); n.body["auth_req_id"] != denied {
		t.Errorf("ping after denial = %v", n.body)
	}
	wantError(t, f.poll(denied), 400, "access_denied")
}

// halfHash is at_hash computed independently of the server: the left
// half of SHA-256, base64url (OIDC Core §3.1.3.6, for ES256).
func halfHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

func TestPushMode(t *testing.T) {
	f := newNotifyFlow(t, "push", 0, testOptions{})
	id, _ := f.startAndDecide(t, true)
	n := f.rc.wait(t)
	if n.auth != "Bearer "+notifyToken {
		t.Errorf("Authorization = %q", n.auth)
	}
	b := n.body
	if b["auth_req_id"] != id || b["token_type"] != "Bearer" || b["expires_in"] == nil {
		t.Errorf("push body = %v", b)
	}
	at, _ := b["access_token"].(string)
	rt, _ := b["refresh_token"].(string)
	idt, _ := b["id_token"].(string)
	if at == "" || rt == "" || idt == "" {
		t.Fatalf("push body lacks a token: %v", b)
	}
	claims := verifyIDToken(t, f.testServer, idt)
	if claims["urn:openid:params:jwt:claim:auth_req_id"] != id {
		t.Errorf("ID token auth_req_id = %v, want %s", claims["urn:openid:params:jwt:claim:auth_req_id"], id)
	}
	if claims["at_hash"] != halfHash(at) {
		t.Errorf("at_hash = %v, want %s", claims["at_hash"], halfHash(at))
	}
	if claims["urn:openid:params:jwt:claim:rt_hash"] != halfHash(rt) {
		t.Errorf("rt_hash = %v, want %s", claims["urn:openid:params:jwt:claim:rt_hash"], halfHash(rt))
	}
	if claims["sub"] != "u1" || claims["email"] != "hana@example.jp" {
		t.Errorf("ID token claims = %v", claims)
	}
	// The auth_req_id is not a credential at the token endpoint for push
	// clients.
	wantError(t, f.poll(id), 400, "unauthorized_client")

	denied, _ := f.startAndDecide(t, false)
	n = f.rc.wait(t)
	if n.body["error"] != "access_denied" || n.body["auth_req_id"] != denied || n.body["access_token"] != nil {
		t.Errorf("push after denial = %v, want the access_denied error payload", n.body)
	}
}

func TestPushExpiry(t *testing.T) {
	f := newNotifyFlow(t, "push", 0, testOptions{})
	r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}, "client_notification_token": {notifyToken}})
	id := r.str("auth_req_id")
	f.clock.Advance(301 * time.Second)
	if n, err := f.svc.ExpireDue(t.Context(), 10); err != nil || n != 1 {
		t.Fatalf("ExpireDue = %d, %v, want 1", n, err)
	}
	n := f.rc.wait(t)
	if n.body["error"] != "expired_token" || n.body["auth_req_id"] != id {
		t.Errorf("push after expiry = %v, want expired_token", n.body)
	}
	// Handled once.
	if n, _ := f.svc.ExpireDue(t.Context(), 10); n != 0 {
		t.Errorf("second ExpireDue handled %d requests", n)
	}
}

// TestDeliveryRetries: a receiver that fails twice and then succeeds gets
// exactly one successful delivery.
func TestDeliveryRetries(t *testing.T) {
	f := newNotifyFlow(t, "ping", 2, testOptions{})
	id, ref := f.startAndDecide(t, true)
	n := f.rc.wait(t)
	if n.body["auth_req_id"] != id {
		t.Errorf("ping = %v", n.body)
	}
	time.Sleep(200 * time.Millisecond) // room for a wrong extra delivery
	if hits := f.rc.hitCount(); hits != 3 {
		t.Errorf("receiver hit %d times, want 2 failures and 1 success", hits)
	}
	select {
	case extra := <-f.rc.got:
		t.Errorf("a second successful delivery: %v", extra)
	default:
	}
	rows, err := f.store.OutboundByRequest(t.Context(), ref)
	if err != nil || len(rows) != 1 || rows[0].State != "delivered" || rows[0].Attempts != 3 || rows[0].Token != "" || len(rows[0].Payload) != 0 {
		t.Errorf("outbox rows = %+v, %v; want one delivered row after 3 attempts, token and payload cleared", rows, err)
	}
}

// TestDeliveryAfterRestart: a decision taken while no worker runs is
// delivered by the next server on the same database.
func TestDeliveryAfterRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "backchannel.db")
	first := startTestServer(t, testOptions{dbPath: db})
	rc := newReceiver(t, 0)
	id, secret := first.createClient(map[string]any{
		"backchannel_token_delivery_mode":          "ping",
		"backchannel_client_notification_endpoint": rc.URL,
	})
	first.createUser(map[string]any{"sub": "u1"})
	dev := first.enrolDevice("u1")
	r := first.postForm("/bc-authorize", url.Values{"scope": {"openid"}, "login_hint": {"u1"}, "client_notification_token": {notifyToken}}, id, secret)
	p, _ := dev.Pending(t.Context())
	if err := dev.Decide(t.Context(), p[0], true); err != nil {
		t.Fatal(err)
	}
	first.Close()
	first.store.Close()
	if rc.hitCount() != 0 {
		t.Fatal("delivered without a worker")
	}

	second := startTestServer(t, testOptions{dbPath: db, notify: true})
	_ = second
	if n := rc.wait(t); n.body["auth_req_id"] != r.str("auth_req_id") {
		t.Errorf("ping after restart = %v", n.body)
	}
}
