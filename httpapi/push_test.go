package httpapi_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backchannel/backchannel/device/agent"
	"github.com/backchannel/backchannel/egress"
	"github.com/backchannel/backchannel/httpapi"
	"github.com/backchannel/backchannel/notify"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/webpush"
)

const pushSubject = "mailto:ops@example.com"

// pushMessage is one message the fake push service received.
type pushMessage struct {
	path   string
	header http.Header
	body   []byte
}

// pushService is a push service (RFC 8030) on 127.0.0.1 over TLS: it
// records each message and answers with the next status of statuses,
// then 201.
type pushService struct {
	*httptest.Server
	got      chan pushMessage
	statuses []int
	calls    atomic.Int32
}

func newPushService(t *testing.T, statuses ...int) *pushService {
	ps := &pushService{got: make(chan pushMessage, 16), statuses: statuses}
	ps.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n := int(ps.calls.Add(1)) - 1
		ps.got <- pushMessage{path: r.URL.Path, header: r.Header.Clone(), body: b}
		status := http.StatusCreated
		if n < len(ps.statuses) {
			status = ps.statuses[n]
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(ps.Close)
	return ps
}

func (ps *pushService) wait(t *testing.T) pushMessage {
	t.Helper()
	select {
	case m := <-ps.got:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no push message within 10 s")
		return pushMessage{}
	}
}

// none checks that no message arrives within d.
func (ps *pushService) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-ps.got:
		t.Errorf("push message to %s, want none", m.path)
	case <-time.After(d):
	}
}

// browser is the user agent's side of a push subscription (RFC 8291 §3).
type browser struct {
	priv     *ecdh.PrivateKey
	auth     []byte
	endpoint string
}

func newBrowser(t *testing.T, endpoint string) *browser {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return &browser{priv: priv, auth: auth, endpoint: endpoint}
}

// subscription is the browser's PushSubscription.toJSON().
func (b *browser) subscription() map[string]any {
	return map[string]any{
		"endpoint":       b.endpoint,
		"expirationTime": nil,
		"keys": map[string]string{
			"p256dh": base64.RawURLEncoding.EncodeToString(b.priv.PublicKey().Bytes()),
			"auth":   base64.RawURLEncoding.EncodeToString(b.auth),
		},
	}
}

// decrypt opens an aes128gcm message (RFC 8188 §2) encrypted for b as
// RFC 8291 §3.4 and §4 describe.
func (b *browser) decrypt(t *testing.T, body []byte) []byte {
	t.Helper()
	if len(body) < 21 {
		t.Fatalf("message of %d bytes is shorter than its header", len(body))
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		t.Fatalf("keyid length = %d, want 65 (the sender's P-256 key)", idlen)
	}
	asPublic, ciphertext := body[21:21+idlen], body[21+idlen:]
	if uint32(len(ciphertext)) > rs {
		t.Fatalf("one record of %d bytes exceeds rs %d", len(ciphertext), rs)
	}
	asKey, err := ecdh.P256().NewPublicKey(asPublic)
	if err != nil {
		t.Fatalf("keyid is not a P-256 point: %v", err)
	}
	secret, err := b.priv.ECDH(asKey)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 8291 §3.4: IKM from the ECDH secret and the auth secret.
	keyInfo := append(append([]byte("WebPush: info\x00"), b.priv.PublicKey().Bytes()...), asPublic...)
	ikm, err := hkdf.Key(sha256.New, secret, b.auth, string(keyInfo), 32)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 8188 §2.2, §2.3: the content encryption key and nonce.
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		t.Fatalf("decrypt the message: %v", err)
	}
	// The last record ends with the delimiter 0x02 and zero padding.
	end := bytes.LastIndexFunc(plain, func(r rune) bool { return r != 0 })
	if end < 0 || plain[end] != 2 {
		t.Fatalf("the record has no last-record delimiter")
	}
	return plain[:end]
}

// checkVAPID checks the Authorization of m (RFC 8292 §3): an ES256 JWT
// signed by the published key k, for the endpoint's origin.
func checkVAPID(t *testing.T, m pushMessage, endpoint, wantKey string) {
	t.Helper()
	scheme, params, ok := strings.Cut(m.header.Get("Authorization"), " ")
	if !ok || scheme != "vapid" {
		t.Fatalf("Authorization = %q, want the vapid scheme", m.header.Get("Authorization"))
	}
	var jwt, k string
	for p := range strings.SplitSeq(params, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch name {
		case "t":
			jwt = value
		case "k":
			k = value
		}
	}
	if k != wantKey {
		t.Errorf("vapid k = %q, want the application_server_key %q", k, wantKey)
	}
	rawKey, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil {
		t.Fatalf("vapid k: %v", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), rawKey)
	if err != nil {
		t.Fatalf("vapid k is not a P-256 key: %v", err)
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("vapid t = %q, want a compact JWS", jwt)
	}
	var header struct{ Alg string }
	decodeSegment(t, parts[0], &header)
	if header.Alg != "ES256" {
		t.Errorf("JWT alg = %q, want ES256", header.Alg)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if len(sig) != 64 || !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatalf("the VAPID JWT is not signed by the published key")
	}
	var claims struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}
	decodeSegment(t, parts[1], &claims)
	u, _ := url.Parse(endpoint)
	if want := u.Scheme + "://" + u.Host; claims.Aud != want {
		t.Errorf("JWT aud = %q, want the endpoint's origin %q", claims.Aud, want)
	}
	// RFC 8292 §2: exp no more than 24 hours ahead.
	if exp := time.Unix(claims.Exp, 0); !exp.After(time.Now()) || exp.After(time.Now().Add(24*time.Hour)) {
		t.Errorf("JWT exp = %v, want within the next 24 h", exp)
	}
	if claims.Sub != pushSubject {
		t.Errorf("JWT sub = %q, want %q", claims.Sub, pushSubject)
	}
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("JWT segment: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("JWT segment %s: %v", b, err)
	}
}

// pushFlow is a server with Web Push on, a poll client and user u1.
type pushFlow struct {
	*flow
	key *webpush.Key
}

// newPushFlow starts the server; client, when set, replaces the worker's
// HTTP client (the push service's own by default, which trusts its
// certificate).
func newPushFlow(t *testing.T, ps *pushService, client *http.Client) *pushFlow {
	var key *webpush.Key
	opts := testOptions{notify: true}
	opts.deps = func(d *httpapi.Deps) {
		var err error
		if key, err = webpush.LoadKey(t.Context(), d.Store); err != nil {
			t.Fatal(err)
		}
		d.WebPushKey = key
		d.CIBA.WebPush = true
	}
	opts.worker = func(w *notify.Worker) {
		sender := &webpush.Sender{Store: w.Store, Key: key, Subject: pushSubject, Now: w.Now}
		w.WebPush = sender.Send
		w.HTTP = ps.Client()
		if client != nil {
			w.HTTP = client
		}
	}
	s := startTestServer(t, opts)
	id, secret := s.createClient(nil)
	s.createUser(map[string]any{"sub": "u1", "email": "hana@example.jp"})
	return &pushFlow{flow: &flow{testServer: s, clientID: id, secret: secret}, key: key}
}

// deviceCall makes a signed device API call and returns its status and
// body.
func (f *pushFlow) deviceCall(a *agent.Agent, method, path string, body any) (int, []byte) {
	f.t.Helper()
	var r io.Reader
	ct := ""
	if body != nil {
		b, _ := json.Marshal(body)
		r, ct = bytes.NewReader(b), "application/json"
	}
	req, err := a.NewRequest(f.t.Context(), method, path, ct, r)
	if err != nil {
		f.t.Fatal(err)
	}
	return do(f.t, f.Client(), req)
}

func (f *pushFlow) subscribe(a *agent.Agent, b *browser) {
	f.t.Helper()
	if status, body := f.deviceCall(a, http.MethodPut, "/push", b.subscription()); status != http.StatusNoContent {
		f.t.Fatalf("PUT /push = %d %s, want 204", status, body)
	}
}

func (f *pushFlow) startRequest(binding string) response {
	f.t.Helper()
	r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"hana@example.jp"}, "binding_message": {binding}})
	if r.status != http.StatusOK {
		f.t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	return r
}

func TestWebPushDelivers(t *testing.T) {
	ps := newPushService(t)
	f := newPushFlow(t, ps, nil)
	a := f.enrolDevice("u1")

	status, body := f.deviceCall(a, http.MethodGet, "/push", nil)
	var doc struct {
		Key        string `json:"application_server_key"`
		Subscribed bool   `json:"subscribed"`
	}
	if err := json.Unmarshal(body, &doc); status != http.StatusOK || err != nil {
		t.Fatalf("GET /push = %d %s", status, body)
	}
	if raw, _ := base64.RawURLEncoding.DecodeString(doc.Key); len(raw) != 65 || raw[0] != 4 || doc.Subscribed {
		t.Fatalf("GET /push = %s, want an uncompressed P-256 point and subscribed false", body)
	}

	b := newBrowser(t, ps.URL+"/push/device-1")
	f.subscribe(a, b)
	if _, body := f.deviceCall(a, http.MethodGet, "/push", nil); !strings.Contains(string(body), `"subscribed":true`) {
		t.Errorf("GET /push after subscribing = %s, want subscribed true", body)
	}

	started := f.startRequest("Order 4711")
	m := ps.wait(t)
	pending, err := a.Pending(t.Context())
	if err != nil || len(pending) != 1 {
		t.Fatalf("Pending = %v, %v, want one request", pending, err)
	}
	if m.path != "/push/device-1" {
		t.Errorf("push to %s, want /push/device-1", m.path)
	}
	checkVAPID(t, m, b.endpoint, doc.Key)
	for name, want := range map[string]string{"Content-Encoding": "aes128gcm", "Urgency": "high", "Topic": webpush.Topic} {
		if got := m.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	expiresIn := int64(started.body["expires_in"].(float64))
	if ttl, err := strconv.ParseInt(m.header.Get("TTL"), 10, 64); err != nil || ttl >= expiresIn || ttl < expiresIn-30 {
		t.Errorf("TTL = %q, want a bit under expires_in %d", m.header.Get("TTL"), expiresIn)
	}

	plain := b.decrypt(t, m.body)
	if bytes.Contains(plain, []byte(started.str("auth_req_id"))) || bytes.Contains(plain, []byte("auth_req_id")) {
		t.Errorf("message %s holds the auth_req_id", plain)
	}
	var msg webpush.Message
	if err := json.Unmarshal(plain, &msg); err != nil {
		t.Fatalf("message %q: %v", plain, err)
	}
	want := webpush.Message{RequestID: pending[0].RequestID, ClientName: "Test Client", BindingMessage: "Order 4711", ExpiresAt: pending[0].ExpiresAt}
	if msg != want {
		t.Errorf("message = %+v, want %+v", msg, want)
	}
	waitOutbound(t, f.store, pending[0].RequestID, store.Delivered, 1)

	// The trail says which device was pushed to, and that it was
	// delivered (recorded just after the row is finished).
	var queued, delivered bool
	for deadline := time.Now().Add(5 * time.Second); !(queued && delivered) && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, e := range f.trail("request=" + url.QueryEscape(pending[0].RequestID)) {
			switch e.Kind {
			case "notification.queued":
				queued = e.DeviceID == a.Credentials().DeviceID && e.Detail["channel"] == "web_push"
			case "notification.delivered":
				delivered = true
			}
		}
	}
	if !queued || !delivered {
		t.Errorf("audit trail: web push queued for the device %v, delivered %v; want both", queued, delivered)
	}
}

// waitOutbound waits until the request's one outbox row is in state
// after attempts attempts.
func waitOutbound(t *testing.T, st store.Store, requestID string, state store.OutboundState, attempts int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := st.OutboundByRequest(t.Context(), requestID)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 1 && rows[0].State == state && rows[0].Attempts == attempts {
			if !strings.HasPrefix(rows[0].ID, webpush.OutboundPrefix) || len(rows[0].Payload) != 0 {
				t.Errorf("row = %+v, want a Web Push row with its payload cleared", rows[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox rows of %s = %+v, want one %s after %d attempts", requestID, rows, state, attempts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWebPushGoneRemovesSubscription(t *testing.T) {
	ps := newPushService(t, http.StatusGone)
	f := newPushFlow(t, ps, nil)
	a := f.enrolDevice("u1")
	f.subscribe(a, newBrowser(t, ps.URL+"/push/old"))

	f.startRequest("first")
	ps.wait(t)
	pending, _ := a.Pending(t.Context())
	waitOutbound(t, f.store, pending[0].RequestID, store.Failed, 1)
	dev, err := f.store.Device(t.Context(), a.Credentials().DeviceID)
	if err != nil || dev.Push.Endpoint != "" {
		t.Fatalf("Device after 410 = %+v, %v, want no subscription", dev.Push, err)
	}
	// The next request queues no message at all.
	f.startRequest("second")
	pending, _ = a.Pending(t.Context())
	if rows, _ := f.store.OutboundByRequest(t.Context(), pending[1].RequestID); len(rows) != 0 {
		t.Errorf("outbox rows after the subscription was gone = %+v, want none", rows)
	}
	ps.none(t, 200*time.Millisecond)
}

func TestWebPushRetries(t *testing.T) {
	ps := newPushService(t, http.StatusServiceUnavailable, http.StatusTooManyRequests)
	f := newPushFlow(t, ps, nil)
	a := f.enrolDevice("u1")
	b := newBrowser(t, ps.URL+"/push/1")
	f.subscribe(a, b)

	f.startRequest("retry me")
	for range 3 {
		m := ps.wait(t)
		b.decrypt(t, m.body) // every attempt is a complete message
	}
	pending, _ := a.Pending(t.Context())
	waitOutbound(t, f.store, pending[0].RequestID, store.Delivered, 3)
	if dev, _ := f.store.Device(t.Context(), a.Credentials().DeviceID); dev.Push.Endpoint == "" {
		t.Error("a 503 or 429 removed the subscription")
	}
}

func TestWebPushRejectedIsFinal(t *testing.T) {
	ps := newPushService(t, http.StatusBadRequest)
	f := newPushFlow(t, ps, nil)
	a := f.enrolDevice("u1")
	f.subscribe(a, newBrowser(t, ps.URL+"/push/1"))
	f.startRequest("bad")
	ps.wait(t)
	pending, _ := a.Pending(t.Context())
	waitOutbound(t, f.store, pending[0].RequestID, store.Failed, 1)
	ps.none(t, 200*time.Millisecond)
}

func TestWebPushRevokedDeviceGetsNothing(t *testing.T) {
	ps := newPushService(t)
	f := newPushFlow(t, ps, nil)
	kept, revoked := f.enrolDevice("u1"), f.enrolDevice("u1")
	f.subscribe(kept, newBrowser(t, ps.URL+"/push/kept"))
	f.subscribe(revoked, newBrowser(t, ps.URL+"/push/revoked"))
	f.admin(http.MethodDelete, "/devices/"+revoked.Credentials().DeviceID, nil, http.StatusNoContent)

	f.startRequest("only one")
	if m := ps.wait(t); m.path != "/push/kept" {
		t.Errorf("push to %s, want /push/kept", m.path)
	}
	ps.none(t, 300*time.Millisecond)
}

func TestWebPushNoSubscriptionNoRow(t *testing.T) {
	ps := newPushService(t)
	f := newPushFlow(t, ps, nil)
	a := f.enrolDevice("u1")
	f.startRequest("no push")
	pending, _ := a.Pending(t.Context())
	if rows, _ := f.store.OutboundByRequest(t.Context(), pending[0].RequestID); len(rows) != 0 {
		t.Errorf("outbox rows of a user without subscriptions = %+v, want none", rows)
	}
	// Unsubscribing stops the messages too.
	f.subscribe(a, newBrowser(t, ps.URL+"/push/1"))
	if status, body := f.deviceCall(a, http.MethodDelete, "/push", nil); status != http.StatusNoContent {
		t.Fatalf("DELETE /push = %d %s, want 204", status, body)
	}
	f.startRequest("after unsubscribing")
	ps.none(t, 300*time.Millisecond)
}

// TestWebPushEgress: the endpoint comes from a device, so the worker's
// egress client refuses one on a loopback address, as in production.
func TestWebPushEgress(t *testing.T) {
	ps := newPushService(t)
	f := newPushFlow(t, ps, egress.NewClient(egress.Policy{}, 5*time.Second))
	a := f.enrolDevice("u1")
	f.subscribe(a, newBrowser(t, ps.URL+"/push/1"))
	f.startRequest("ssrf")
	pending, _ := a.Pending(t.Context())
	waitOutbound(t, f.store, pending[0].RequestID, store.Failed, 1)
	rows, _ := f.store.OutboundByRequest(t.Context(), pending[0].RequestID)
	if !strings.Contains(rows[0].LastError, "refused") || strings.Contains(rows[0].LastError, "/push/1") {
		t.Errorf("LastError = %q, want the refusal without the endpoint", rows[0].LastError)
	}
	ps.none(t, 100*time.Millisecond)
}

func TestWebPushSubscriptionErrors(t *testing.T) {
	ps := newPushService(t)
	f := newPushFlow(t, ps, nil)
	a := f.enrolDevice("u1")
	valid := newBrowser(t, "https://push.example/abc")
	key := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	with := func(change func(m map[string]any)) map[string]any {
		m := valid.subscription()
		m["keys"] = map[string]any{"p256dh": m["keys"].(map[string]string)["p256dh"], "auth": m["keys"].(map[string]string)["auth"]}
		change(m)
		return m
	}
	notOnCurve := append([]byte{4}, make([]byte, 64)...)
	tests := []struct {
		name string
		body any
		want string // a part of the error_description
	}{
		{"no endpoint", with(func(m map[string]any) { delete(m, "endpoint") }), "endpoint is required"},
		{"http endpoint", with(func(m map[string]any) { m["endpoint"] = "http://push.example/abc" }), "https URL"},
		{"relative endpoint", with(func(m map[string]any) { m["endpoint"] = "/push/abc" }), "https URL"},
		{"user info", with(func(m map[string]any) { m["endpoint"] = "https://u:p@push.example/abc" }), "https URL"},
		{"fragment", with(func(m map[string]any) { m["endpoint"] = "https://push.example/abc#x" }), "https URL"},
		{"long endpoint", with(func(m map[string]any) {
			m["endpoint"] = "https://push.example/" + strings.Repeat("a", webpush.MaxEndpoint)
		}), "longer than"},
		{"no p256dh", with(func(m map[string]any) { delete(m["keys"].(map[string]any), "p256dh") }), "keys.p256dh"},
		{"p256dh not base64url", with(func(m map[string]any) { m["keys"].(map[string]any)["p256dh"] = "!!!" }), "keys.p256dh"},
		{"p256dh compressed", with(func(m map[string]any) { m["keys"].(map[string]any)["p256dh"] = key(make([]byte, 33)) }), "keys.p256dh"},
		{"p256dh off the curve", with(func(m map[string]any) { m["keys"].(map[string]any)["p256dh"] = key(notOnCurve) }), "not a point on P-256"},
		{"auth short", with(func(m map[string]any) { m["keys"].(map[string]any)["auth"] = key(make([]byte, 15)) }), "keys.auth"},
		{"auth long", with(func(m map[string]any) { m["keys"].(map[string]any)["auth"] = key(make([]byte, 17)) }), "keys.auth"},
		{"unknown field", with(func(m map[string]any) { m["extra"] = 1 }), "extra"},
		{"not an object", "subscription", "not a valid document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.deviceCall(a, http.MethodPut, "/push", tt.body)
			var e struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			json.Unmarshal(body, &e)
			if status != http.StatusBadRequest || e.Error != "invalid_request" || !strings.Contains(e.Description, tt.want) {
				t.Errorf("PUT /push = %d %s, want 400 invalid_request mentioning %q", status, body, tt.want)
			}
		})
	}
	dev, _ := f.store.Device(t.Context(), a.Credentials().DeviceID)
	if dev.Push.Endpoint != "" {
		t.Errorf("a refused subscription was saved: %q", dev.Push.Endpoint)
	}

	// Padded base64url is accepted: browsers differ.
	padded := with(func(m map[string]any) {
		k := m["keys"].(map[string]any)
		k["auth"] = base64.URLEncoding.EncodeToString(valid.auth)
	})
	if status, body := f.deviceCall(a, http.MethodPut, "/push", padded); status != http.StatusNoContent {
		t.Errorf("PUT /push with padded keys = %d %s, want 204", status, body)
	}

	// The other refusals, each with its exact status and code.
	wantRefused := func(what string, status int, body []byte, wantStatus int, wantCode string) {
		t.Helper()
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(body, &e)
		if status != wantStatus || e.Error != wantCode {
			t.Errorf("PUT /push %s = %d %s, want %d %s", what, status, body, wantStatus, wantCode)
		}
	}
	status, body := f.deviceCall(a, http.MethodPut, "/push", map[string]any{"endpoint": "https://push.example/" + strings.Repeat("a", 300<<10)})
	wantRefused("with a body over 256 KiB", status, body, http.StatusRequestEntityTooLarge, "invalid_request")
	req, err := a.NewRequest(t.Context(), http.MethodPut, "/push", "text/plain", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	status, body = do(t, f.Client(), req)
	wantRefused("as text/plain", status, body, http.StatusBadRequest, "invalid_request")
	// Without a device proof.
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPut, f.URL+"/device/v1/push", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	status, body = do(t, f.Client(), req)
	wantRefused("without a proof", status, body, http.StatusUnauthorized, "invalid_token")
}

// do sends req and returns the status and body of the answer.
func do(t *testing.T, hc *http.Client, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestWebPushOff: without a VAPID key the push calls do not exist.
func TestWebPushOff(t *testing.T) {
	s := newTestServer(t)
	s.createUser(map[string]any{"sub": "u1"})
	a := s.enrolDevice("u1")
	f := &pushFlow{flow: &flow{testServer: s}}
	if status, body := f.deviceCall(a, http.MethodGet, "/push", nil); status != http.StatusNotFound {
		t.Errorf("GET /push with Web Push off = %d %s, want 404", status, body)
	}
}
