package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/device/agent"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/store/sqlite"
)

// deviceEnv is a server with exactly the device and admin device routes,
// over a real SQLite store, with user alice and client tv.
type deviceEnv struct {
	st     store.Store
	svc    *ciba.Service
	hub    *device.Hub
	srv    *httptest.Server
	issuer string
	client store.Client
}

func newDeviceEnv(t *testing.T, heartbeat time.Duration) *deviceEnv {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "backchannel.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	if err := st.CreateUser(ctx, store.User{Subject: "alice", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, store.User{Subject: "bob", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	client := store.Client{ID: "tv", Name: "Smart TV", GrantTypes: []string{oauth.GrantCIBA}, DeliveryMode: store.Poll, CreatedAt: now}
	if err := st.CreateClient(ctx, client); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	hub := &device.Hub{}
	e := &deviceEnv{st: st, hub: hub, client: client}
	e.srv = httptest.NewUnstartedServer(nil)
	e.issuer = "http://" + e.srv.Listener.Addr().String()
	e.svc = &ciba.Service{Store: st, Issuer: e.issuer, Changed: hub.Notify}
	enr := &device.Enroller{Store: st, BaseURL: e.issuer}
	auth := &device.Authenticator{Store: st, BaseURL: e.issuer}
	nowFn := time.Now

	mux := http.NewServeMux()
	mux.Handle("GET /.well-known/openid-configuration", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		oauth.WriteJSON(w, http.StatusOK, map[string]string{"issuer": e.issuer, "device_api_uri": e.issuer + "/device/v1"})
	}))
	dev := func(h http.Handler) http.Handler { return requireDevice(auth, log, h) }
	mux.Handle("POST /device/v1/enrol", handleEnrol(enr, log))
	stream := handleDeviceRequests(e.svc, hub, log)
	if heartbeat > 0 {
		stream = requestStream{svc: e.svc, hub: hub, log: log, heartbeat: heartbeat, maxAge: time.Minute}
	}
	mux.Handle("GET /device/v1/requests", dev(stream))
	mux.Handle("POST /device/v1/requests/{id}/decision", dev(handleDecision(e.svc, log)))
	mux.Handle("GET /device/v1/device", dev(handleDeviceSelf(st, nowFn, log)))
	mux.Handle("DELETE /device/v1/device", dev(handleDeviceSelf(st, nowFn, log)))
	mux.Handle("POST /admin/v1/enrolments", handleAdminCreateEnrolment(enr, log))
	mux.Handle("GET /admin/v1/devices", handleAdminDevices(st, log))
	mux.Handle("DELETE /admin/v1/devices/{id}", handleAdminRevokeDevice(st, nowFn, log))
	e.srv.Config.Handler = mux
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

// call sends a request to the test server and returns the response with
// its body read.
func (e *deviceEnv) call(t *testing.T, method, path, contentType, body string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.issuer+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// enrolmentCode creates an enrolment code for sub through the admin API.
func (e *deviceEnv) enrolmentCode(t *testing.T, sub string) string {
	t.Helper()
	resp, body := e.call(t, "POST", "/admin/v1/enrolments", "application/json", `{"subject":"`+sub+`"}`, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /admin/v1/enrolments = %d %s, want 201", resp.StatusCode, body)
	}
	var out struct{ Code string }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out.Code
}

// register enrols a new device of sub and returns its agent.
func (e *deviceEnv) register(t *testing.T, sub string) *agent.Agent {
	t.Helper()
	creds, err := agent.Register(t.Context(), e.srv.Client(), e.issuer, e.enrolmentCode(t, sub), "test phone")
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(t.Context(), e.srv.Client(), creds)
	if err != nil {
		t.Fatal(err)
	}
	a.RetryMin, a.RetryMax = 10*time.Millisecond, 50*time.Millisecond
	return a
}

// start starts a backchannel request of client tv for sub.
func (e *deviceEnv) start(t *testing.T, sub, binding string) {
	t.Helper()
	form := oauth.Form{"scope": "openid profile", "login_hint": sub, "binding_message": binding}
	if _, err := e.svc.Start(t.Context(), e.client, form); err != nil {
		t.Fatal(err)
	}
}

// proofHeader returns an Authorization header for a call of a's device.
func proofHeader(t *testing.T, a *agent.Agent, method, url string) http.Header {
	t.Helper()
	c := a.Credentials()
	return http.Header{"Authorization": {"Device " + signAs(t, c, device.TypeRequest, map[string]any{"htm": method, "htu": url})}}
}

// signAs signs claims (iat and jti added unless present) as c's device.
func signAs(t *testing.T, c *agent.Credentials, typ string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: c.Key, KeyID: c.DeviceID}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := claims["iat"]; !ok {
		claims["iat"] = time.Now().Unix()
	}
	if _, ok := claims["jti"]; !ok {
		claims["jti"] = rand.Text()
	}
	b, _ := json.Marshal(claims)
	jws, err := signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwsPayload returns the payload of compact JWS s, unverified.
func jwsPayload(t *testing.T, s string) []byte {
	t.Helper()
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a compact JWS", s)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkError fails t unless the response is an OAuth error with status
// and code.
func checkError(t *testing.T, what string, resp *http.Response, body []byte, status int, code oauth.Code) {
	t.Helper()
	var e struct {
		Error oauth.Code `json:"error"`
	}
	json.Unmarshal(body, &e)
	if resp.StatusCode != status || e.Error != code {
		t.Errorf("%s = %d %s, want %d %s", what, resp.StatusCode, body, status, code)
	}
}

// checkAgentError fails t unless err is an *oauth.Error with status and code.
func checkAgentError(t *testing.T, what string, err error, status int, code oauth.Code) {
	t.Helper()
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code != code || oe.HTTPStatus() != status {
		t.Errorf("%s = %v, want %d %s", what, err, status, code)
	}
}

func TestAdminEnrolment(t *testing.T) {
	e := newDeviceEnv(t, 0)
	resp, body := e.call(t, "POST", "/admin/v1/enrolments", "application/json", `{"subject":"alice"}`, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /admin/v1/enrolments = %d %s, want 201", resp.StatusCode, body)
	}
	var out struct {
		Code      string    `json:"code"`
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
		QRPNG     string    `json:"qr_png"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	if out.Code == "" || out.URL != e.issuer+"/device#enrol="+out.Code {
		t.Errorf("enrolment = %s, want a code and the link %s/device#enrol=CODE", body, e.issuer)
	}
	if got := scanQR(t, out.QRPNG); got != out.URL {
		t.Errorf("qr_png says %q, want the link %q", got, out.URL)
	}
	if d := time.Until(out.ExpiresAt); d < 9*time.Minute || d > 10*time.Minute {
		t.Errorf("expires_at = %v, want about 10 minutes from now", out.ExpiresAt)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}

	tests := []struct {
		name, contentType, body string
		status                  int
		code                    oauth.Code
	}{
		{"unknown user", "application/json", `{"subject":"mallory"}`, 404, oauth.NotFound},
		{"no subject", "application/json", `{}`, 400, oauth.InvalidRequest},
		{"unknown field", "application/json", `{"subject":"alice","x":1}`, 400, oauth.InvalidRequest},
		{"form body", "application/x-www-form-urlencoded", `subject=alice`, 400, oauth.InvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.call(t, "POST", "/admin/v1/enrolments", tt.contentType, tt.body, nil)
			checkError(t, "POST /admin/v1/enrolments", resp, body, tt.status, tt.code)
		})
	}
}

func TestEnrolEndpoint(t *testing.T) {
	e := newDeviceEnv(t, 0)
	code := e.enrolmentCode(t, "alice")
	creds, err := agent.Register(t.Context(), e.srv.Client(), e.issuer, code, "phone")
	if err != nil {
		t.Fatal(err)
	}
	if creds.Subject != "alice" || creds.DeviceID == "" || creds.Server != e.issuer {
		t.Errorf("Register = %+v, want a device of alice at %s", creds, e.issuer)
	}
	dev, err := e.st.Device(t.Context(), creds.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if dev.Subject != "alice" || dev.Name != "phone" {
		t.Errorf("stored device = %+v, want alice's phone", dev)
	}

	_, err = agent.Register(t.Context(), e.srv.Client(), e.issuer, code, "again")
	checkAgentError(t, "Register with a used code", err, 400, oauth.InvalidGrant)

	tests := []struct {
		name, contentType, body string
		status                  int
		code                    oauth.Code
	}{
		{"not JSON", "application/jose", `x.y.z`, 400, oauth.InvalidRequest},
		{"bad JSON", "application/json", `{"proof":`, 400, oauth.InvalidRequest},
		{"bad proof", "application/json", `{"proof":"x.y.z"}`, 400, oauth.InvalidRequest},
		{"empty", "application/json", `{}`, 400, oauth.InvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.call(t, "POST", "/device/v1/enrol", tt.contentType, tt.body, nil)
			checkError(t, "POST /device/v1/enrol", resp, body, tt.status, tt.code)
		})
	}
}

func TestRequireDevice(t *testing.T) {
	e := newDeviceEnv(t, 0)
	a := e.register(t, "alice")
	url := e.issuer + "/device/v1/device"
	for _, tt := range []struct {
		name   string
		header http.Header
	}{
		{"no authorization", nil},
		{"bearer", http.Header{"Authorization": {"Bearer abc"}}},
		{"proof for another URL", proofHeader(t, a, "GET", e.issuer+"/device/v1/requests")},
		{"proof for another method", proofHeader(t, a, "DELETE", url)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.call(t, "GET", "/device/v1/device", "", "", tt.header)
			checkError(t, "GET /device/v1/device", resp, body, 401, oauth.InvalidToken)
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Device realm="backchannel", error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q, want a Device challenge", got)
			}
		})
	}
	// A proof is good once.
	h := proofHeader(t, a, "GET", url)
	if resp, body := e.call(t, "GET", "/device/v1/device", "", "", h); resp.StatusCode != 200 {
		t.Fatalf("GET /device/v1/device = %d %s, want 200", resp.StatusCode, body)
	}
	resp, body := e.call(t, "GET", "/device/v1/device", "", "", h)
	checkError(t, "GET /device/v1/device with a used proof", resp, body, 401, oauth.InvalidToken)
}

func TestDeviceSelf(t *testing.T) {
	e := newDeviceEnv(t, 0)
	a := e.register(t, "alice")
	id := a.Credentials().DeviceID
	url := e.issuer + "/device/v1/device"
	resp, body := e.call(t, "GET", "/device/v1/device", "", "", proofHeader(t, a, "GET", url))
	if resp.StatusCode != 200 {
		t.Fatalf("GET /device/v1/device = %d %s", resp.StatusCode, body)
	}
	var doc deviceDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.DeviceID != id || doc.Subject != "alice" || doc.Name != "test phone" || doc.RevokedAt != nil {
		t.Errorf("GET /device/v1/device = %s, want alice's active test phone %s", body, id)
	}
	resp, body = e.call(t, "DELETE", "/device/v1/device", "", "", proofHeader(t, a, "DELETE", url))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /device/v1/device = %d %s, want 204", resp.StatusCode, body)
	}
	resp, body = e.call(t, "GET", "/device/v1/device", "", "", proofHeader(t, a, "GET", url))
	checkError(t, "GET /device/v1/device after revocation", resp, body, 401, oauth.InvalidToken)
	_, err := a.Pending(t.Context())
	checkAgentError(t, "Pending after revocation", err, 401, oauth.InvalidToken)
}

func TestAdminDevices(t *testing.T) {
	e := newDeviceEnv(t, 0)
	a := e.register(t, "alice")
	b := e.register(t, "alice")
	e.register(t, "bob")

	list := func() []deviceDoc {
		t.Helper()
		resp, body := e.call(t, "GET", "/admin/v1/devices?subject=alice", "", "", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /admin/v1/devices = %d %s", resp.StatusCode, body)
		}
		var out struct{ Devices []deviceDoc }
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		return out.Devices
	}
	ids := func(ds []deviceDoc) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.DeviceID)
		}
		return out
	}
	want := []string{a.Credentials().DeviceID, b.Credentials().DeviceID}
	if diff := cmp.Diff(want, ids(list())); diff != "" {
		t.Errorf("alice's devices (-want +got):\n%s", diff)
	}

	resp, body := e.call(t, "DELETE", "/admin/v1/devices/"+a.Credentials().DeviceID, "", "", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /admin/v1/devices/{id} = %d %s, want 204", resp.StatusCode, body)
	}
	got := list()
	if len(got) != 2 || got[0].RevokedAt == nil || got[1].RevokedAt != nil {
		t.Errorf("alice's devices after revoking the first = %+v, want the first revoked", got)
	}
	_, err := a.Pending(t.Context())
	checkAgentError(t, "Pending of an admin-revoked device", err, 401, oauth.InvalidToken)
	if _, err := b.Pending(t.Context()); err != nil {
		t.Errorf("Pending of the other device: %v", err)
	}

	resp, body = e.call(t, "DELETE", "/admin/v1/devices/nope", "", "", nil)
	checkError(t, "DELETE /admin/v1/devices/nope", resp, body, 404, oauth.NotFound)
	resp, body = e.call(t, "GET", "/admin/v1/devices", "", "", nil)
	checkError(t, "GET /admin/v1/devices without subject", resp, body, 400, oauth.InvalidRequest)
	resp, body = e.call(t, "GET", "/admin/v1/devices?subject=carol", "", "", nil)
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"devices":[]}` {
		t.Errorf("GET /admin/v1/devices?subject=carol = %d %s, want an empty list", resp.StatusCode, body)
	}
}

func TestPendingAndDecide(t *testing.T) {
	e := newDeviceEnv(t, 0)
	a := e.register(t, "alice")
	bobs := e.register(t, "bob")
	ctx := t.Context()

	resp, body := e.call(t, "GET", "/device/v1/requests", "", "", proofHeader(t, a, "GET", e.issuer+"/device/v1/requests"))
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"requests":[]}` {
		t.Errorf("GET /device/v1/requests = %d %s, want an empty list", resp.StatusCode, body)
	}

	e.start(t, "alice", "TV 4711")
	e.start(t, "alice", "TV 4712")
	list, err := a.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("Pending = %+v, want 2 requests", list)
	}
	s := list[0]
	if s.ClientName != "Smart TV" || s.BindingMessage != "TV 4711" || !cmp.Equal(s.Scopes, []string{"openid", "profile"}) {
		t.Errorf("Pending[0] = %+v, want the Smart TV request TV 4711 for openid profile", s)
	}
	if others, err := bobs.Pending(ctx); err != nil || len(others) != 0 {
		t.Errorf("bob's Pending = %v, %v, want none", others, err)
	}

	// The decision of another user's device: the request does not exist for it.
	checkAgentError(t, "bob deciding alice's request", bobs.Decide(ctx, s, true), 404, oauth.NotFound)
	// A summary that differs from what the server holds.
	tampered := s
	tampered.BindingMessage = "TV 0000"
	checkAgentError(t, "Decide over a tampered summary", a.Decide(ctx, tampered, true), 400, oauth.InvalidRequest)

	if err := a.Decide(ctx, s, true); err != nil {
		t.Fatalf("Decide: %v", err)
	}
	r, err := e.st.Request(ctx, s.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != store.Approved || r.DeviceID != a.Credentials().DeviceID || r.Decision == "" || !cmp.Equal(r.AMR, []string{"hwk"}) {
		t.Errorf("request after approval = state %s, device %q, amr %v, decision %q; want approved by %s with amr [hwk] and the JWS kept",
			r.State, r.DeviceID, r.AMR, r.Decision, a.Credentials().DeviceID)
	}
	checkAgentError(t, "Decide twice", a.Decide(ctx, s, false), 409, oauth.InvalidRequest)

	// The second request, denied with a JSON body.
	s2 := list[1]
	decisionURL := e.issuer + "/device/v1/requests/" + s2.RequestID + "/decision"
	deny := signAs(t, a.Credentials(), device.TypeDecision, map[string]any{"request_id": s2.RequestID, "decision": "deny", "summary": s2.Digest()})
	bodyJSON, _ := json.Marshal(map[string]string{"decision": deny})
	post := func(path, ct, body string) (*http.Response, []byte) {
		t.Helper()
		return e.call(t, "POST", path, ct, body, proofHeader(t, a, "POST", e.issuer+path))
	}
	path2 := "/device/v1/requests/" + s2.RequestID + "/decision"
	resp, body = post("/device/v1/requests/"+s.RequestID+"/decision", "application/json", string(bodyJSON))
	checkError(t, "a decision posted under another request's URL", resp, body, 400, oauth.InvalidRequest)
	resp, body = post(path2, "text/plain", deny)
	checkError(t, "a decision as text/plain", resp, body, 400, oauth.InvalidRequest)
	resp, body = post(path2, "application/json", `{"decision":""}`)
	checkError(t, "an empty JSON decision", resp, body, 400, oauth.InvalidRequest)
	resp, body = post(path2, "application/jose", strings.Repeat("a", maxDecisionBody+1))
	checkError(t, "an oversized decision", resp, body, 413, oauth.InvalidRequest)
	// A decision's jti is recorded in the transaction that records the
	// decision: the post under the wrong URL, refused before that, did
	// not use it up.
	resp, body = post(path2, "application/json", string(bodyJSON))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST %s = %d %s, want 204", decisionURL, resp.StatusCode, body)
	}
	if r, _ := e.st.Request(ctx, s2.RequestID); r.State != store.Denied {
		t.Errorf("request after denial = %s, want denied", r.State)
	}
	resp, body = post(path2, "application/json", string(bodyJSON))
	checkError(t, "the same decision again", resp, body, 409, oauth.InvalidRequest)
	// The recorded jti, in a decision of another request, is a replay:
	// refused, and that request stays pending.
	e.start(t, "alice", "TV 4713")
	list, err = a.Pending(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("Pending = %v, %v, want the third request", list, err)
	}
	s3 := list[0]
	var claims struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(jwsPayload(t, deny), &claims); err != nil || claims.JTI == "" {
		t.Fatalf("the denial's jti: %q, %v", claims.JTI, err)
	}
	path3 := "/device/v1/requests/" + s3.RequestID + "/decision"
	replayed := signAs(t, a.Credentials(), device.TypeDecision, map[string]any{"request_id": s3.RequestID, "decision": "deny", "summary": s3.Digest(), "jti": claims.JTI})
	resp, body = post(path3, "application/jose", replayed)
	checkError(t, "a decision with a used jti", resp, body, 400, oauth.InvalidRequest)
	if r, _ := e.st.Request(ctx, s3.RequestID); r.State != store.Pending {
		t.Errorf("request after a replayed jti = %s, want pending", r.State)
	}
	resp, body = post(path3, "application/jose", signAs(t, a.Credentials(), device.TypeDecision, map[string]any{"request_id": s3.RequestID, "decision": "deny", "summary": s3.Digest()}))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST %s = %d %s, want 204", path3, resp.StatusCode, body)
	}
	if list, err := a.Pending(ctx); err != nil || len(list) != 0 {
		t.Errorf("Pending after every decision = %v, %v, want none", list, err)
	}
}

// sseEvent is one event, or a comment (name ":"), read from a stream.
type sseEvent struct{ name, data string }

// openStream opens a raw event stream of a's device and returns its
// events and a function that closes it.
func openStream(t *testing.T, e *deviceEnv, a *agent.Agent) (<-chan sseEvent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	url := e.issuer + "/device/v1/requests"
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header = proofHeader(t, a, "GET", url)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("stream: HTTP %d", resp.StatusCode)
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("stream %s = %q, want %q", k, got, want)
		}
	}
	events := make(chan sseEvent, 100)
	go func() {
		defer close(events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.name = ":"
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return events, cancel
}

// next returns the next event that is not a comment.
func next(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if ev.name != ":" {
				return ev
			}
		case <-timeout:
			t.Fatal("no event within 10 s")
		}
	}
}

func TestStreamEvents(t *testing.T) {
	e := newDeviceEnv(t, 0)
	a := e.register(t, "alice")
	e.start(t, "alice", "first")
	events, closeStream := openStream(t, e, a)

	var first ciba.Summary
	if ev := next(t, events); ev.name != "request" || json.Unmarshal([]byte(ev.data), &first) != nil || first.BindingMessage != "first" {
		t.Fatalf("first event = %+v, want the pending request", ev)
	}
	// A request created while the stream is open arrives live.
	e.start(t, "alice", "second")
	var second ciba.Summary
	if ev := next(t, events); ev.name != "request" || json.Unmarshal([]byte(ev.data), &second) != nil || second.BindingMessage != "second" {
		t.Fatalf("event after a new request = %+v, want the new request", ev)
	}
	// Bob's requests do not reach alice's stream; after the decision,
	// the first request is gone.
	e.register(t, "bob")
	e.start(t, "bob", "bob's")
	if err := a.Decide(t.Context(), first, true); err != nil {
		t.Fatal(err)
	}
	ev := next(t, events)
	want := sseEvent{"gone", `{"request_id":"` + first.RequestID + `"}`}
	if ev != want {
		t.Errorf("event after the decision = %+v, want %+v", ev, want)
	}

	if got := e.hub.Subscribers(); got != 1 {
		t.Errorf("Subscribers() with one stream open = %d, want 1", got)
	}
	closeStream()
	waitFor(t, "the stream to unsubscribe when the device leaves", func() bool { return e.hub.Subscribers() == 0 })
}

func TestStreamHeartbeatAndShutdown(t *testing.T) {
	e := newDeviceEnv(t, 20*time.Millisecond)
	a := e.register(t, "alice")
	events, closeStream := openStream(t, e, a)
	defer closeStream()
	timeout := time.After(10 * time.Second)
	for beats := 0; beats < 2; {
		select {
		case ev := <-events:
			if ev.name != ":" {
				t.Fatalf("event on an idle stream = %+v, want heartbeats only", ev)
			}
			beats++
		case <-timeout:
			t.Fatal("no heartbeat within 10 s")
		}
	}
	// Closing the server ends the stream and its subscription.
	e.srv.CloseClientConnections()
	waitFor(t, "the stream to end with its connection", func() bool { return e.hub.Subscribers() == 0 })
}

func TestStreamMaxAge(t *testing.T) {
	e := newDeviceEnv(t, 0)
	a := e.register(t, "alice")
	// Serve one stream with a short life through the handler directly.
	auth := &device.Authenticator{Store: e.st, BaseURL: e.issuer}
	h := requireDevice(auth, slog.New(slog.DiscardHandler), requestStream{svc: e.svc, hub: e.hub, log: slog.New(slog.DiscardHandler), heartbeat: time.Hour, maxAge: 50 * time.Millisecond})
	req := httptest.NewRequest("GET", "/device/v1/requests", nil)
	req.Header = proofHeader(t, a, "GET", e.issuer+"/device/v1/requests")
	req.Header.Set("Accept", "text/event-stream")
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { h.ServeHTTP(rec, req); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived its maximum age")
	}
	if rec.Code != 200 || e.hub.Subscribers() != 0 {
		t.Errorf("stream = %d with %d subscribers left, want 200 and none", rec.Code, e.hub.Subscribers())
	}
}

func TestAgentStream(t *testing.T) {
	e := newDeviceEnv(t, 0)
	a := e.register(t, "alice")
	e.start(t, "alice", "one")
	got := make(chan ciba.Summary)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- a.Stream(ctx, func(s ciba.Summary) error {
			select {
			case got <- s:
			case <-ctx.Done():
			}
			return nil
		})
	}()
	receive := func() ciba.Summary {
		t.Helper()
		select {
		case s := <-got:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("Stream delivered nothing within 10 s")
			return ciba.Summary{}
		}
	}
	if s := receive(); s.BindingMessage != "one" {
		t.Errorf("Stream delivered %+v, want request one", s)
	}
	// After a lost connection the agent reconnects, and does not deliver
	// request one again.
	e.srv.CloseClientConnections()
	e.start(t, "alice", "two")
	s := receive()
	if s.BindingMessage != "two" {
		t.Errorf("Stream delivered %+v after reconnecting, want request two only", s)
	}
	if err := a.Decide(t.Context(), s, false); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Stream = %v, want context.Canceled", err)
	}

	// A revoked device's stream gives up rather than retrying forever.
	resp, body := e.call(t, "DELETE", "/admin/v1/devices/"+a.Credentials().DeviceID, "", "", nil)
	if resp.StatusCode != 204 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	err := a.Stream(t.Context(), func(ciba.Summary) error { return nil })
	checkAgentError(t, "Stream of a revoked device", err, 401, oauth.InvalidToken)
}

func TestAgentStreamCallbackError(t *testing.T) {
	e := newDeviceEnv(t, 0)
	a := e.register(t, "alice")
	e.start(t, "alice", "one")
	stop := errors.New("stop")
	if err := a.Stream(t.Context(), func(ciba.Summary) error { return stop }); err != stop {
		t.Errorf("Stream = %v, want the callback's error", err)
	}
}

func TestAcceptsEventStream(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                  false,
		"application/json":  false,
		"text/event-stream": true,
		"application/json, text/event-stream;q=0.5": true,
		"text/event-stream;q=0":                     false,
		"text/*":                                    false,
	} {
		if got := acceptsEventStream(accept); got != want {
			t.Errorf("acceptsEventStream(%q) = %v, want %v", accept, got, want)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestAgentStreamIdle(t *testing.T) {
	e := newDeviceEnv(t, time.Hour) // a server whose heartbeats never come
	a := e.register(t, "alice")
	a.IdleTimeout = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	retried := make(chan error, 10)
	a.OnRetry = func(err error, _ time.Duration) {
		select {
		case retried <- err:
		default:
		}
		cancel()
	}
	err := a.Stream(ctx, func(ciba.Summary) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Stream = %v, want context.Canceled", err)
	}
	select {
	case err := <-retried:
		if !strings.Contains(err.Error(), "nothing received") {
			t.Errorf("OnRetry error = %v, want the idle timeout", err)
		}
	default:
		t.Error("a silent stream was not given up")
	}
	waitFor(t, "the silent stream to end on the server", func() bool { return e.hub.Subscribers() == 0 })
}

// scanQR reads the QR code of a PNG data URL.
func scanQR(t *testing.T, dataURL string) string {
	t.Helper()
	b64, ok := strings.CutPrefix(dataURL, "data:image/png;base64,")
	if !ok {
		t.Fatalf("%.40q… is not a PNG data URL", dataURL)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decode QR: %v", err)
	}
	return res.GetText()
}
